"""Reservation use cases: checkout reserves units (all lines or none), then commits them
when paid or releases them when abandoned; the sweep expires the forgotten ones.

A reservation closes exactly once: commit, release and the sweep each move it out of
"active" with a conditional UPDATE, and only the one that did moves units. The stock rows of
all its lines change together (every line or none; on PostgreSQL in one statement) and are
locked in variant id order, so transactions over the same variants queue instead of
deadlocking. None of these functions commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, cast

from marketplace.inventory import repository as repo
from marketplace.inventory.domain import (
    MAX_ON_HAND,
    InvalidReservationTransition,
    ReservationAction,
    ReservationStatus,
    available,
    reservation_transition,
)
from marketplace.inventory.errors import OutOfStock, ReservationClosed, ReservationNotFound
from marketplace.inventory.models import Reservation as ReservationRecord
from marketplace.inventory.models import ReservationLine as ReservationLineRecord
from marketplace.inventory.service.stock import (
    ID_MAX,
    check_text,
    log_adjustment,
    publish_change,
)
from marketplace.platform.clock import utcnow
from marketplace.platform.db import AnyRow, transient
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork

DEFAULT_RESERVATION_TTL: Final = timedelta(minutes=15)
# Expired reservations released per transaction: bounded so a backlog after downtime never
# becomes one huge transaction holding many stock rows.
EXPIRY_BATCH: Final = 200
SALE_ACTOR: Final = "system"
_REFERENCE_MAX: Final = 100


@dataclass(frozen=True, slots=True)
class ReservationLine:
    variant_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    reference: str
    status: ReservationStatus
    expires_at: datetime
    created_at: datetime
    lines: tuple[ReservationLine, ...]


def _reservation(
    record: ReservationRecord,
    lines: Sequence[ReservationLine | ReservationLineRecord | AnyRow],
    *,
    status: str | None = None,
) -> Reservation:
    return Reservation(
        id=record.id,
        reference=record.reference,
        status=cast(ReservationStatus, status or record.status),
        expires_at=record.expires_at,
        created_at=record.created_at,
        lines=tuple(ReservationLine(line.variant_id, line.quantity) for line in lines),
    )


def _merge(lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    if not lines:
        raise ValueError("a reservation needs at least one line")
    wanted: dict[str, int] = {}
    for variant_id, quantity in lines:
        check_text("variant_id", variant_id, ID_MAX)
        if quantity <= 0 or quantity > MAX_ON_HAND:
            raise ValueError(f"quantity must be 1 to {MAX_ON_HAND}, got {quantity}")
        wanted[variant_id] = wanted.get(variant_id, 0) + quantity
    return wanted


async def reserve(
    uow: UnitOfWork,
    *,
    reference: str,
    lines: Sequence[tuple[str, int]],
    ttl: timedelta = DEFAULT_RESERVATION_TTL,
) -> Reservation:
    """Hold units of every line (variant id, quantity) for `reference` (a checkout) until
    `ttl` from now: all lines or none.

    Lines of the same variant are added up. If any line is short, nothing stays reserved and
    `OutOfStock` (409 out_of_stock) names every short variant; a variant without stock is
    short, and nothing is held even for a caller that catches OutOfStock and goes on with its
    unit of work. The units are held by conditional UPDATEs that lock the rows in variant id
    order (see the module).
    """
    wanted, record, line_records = _new_reservation(reference, lines, ttl)
    await _hold(uow, wanted)
    # Written now, so a commit or release later in the same unit of work finds it.
    await repo.insert_reservation(uow.session, record, line_records)
    return _reservation(record, line_records)


async def hold_at_commit(
    uow: UnitOfWork,
    *,
    reference: str,
    lines: Sequence[tuple[str, int]],
    ttl: timedelta = DEFAULT_RESERVATION_TTL,
) -> Reservation:
    """`reserve`, for a caller that creates the reservation with its own new rows and then
    commits (checkout): the units are held by the transaction's last statement before the
    commit writes its new rows, the reservation's among them.

    The stock rows are the only rows that concurrent checkouts share, and a row stays locked
    until the commit: locked last, it is held for that statement and the commit instead of
    for the whole transaction, and checkouts of a popular item queue for less. A short line
    raises `OutOfStock` from the commit, and nothing of the transaction is committed. Until
    then the reservation is not in the database: the same unit of work cannot commit or
    release it before committing.
    """
    wanted, record, line_records = _new_reservation(reference, lines, ttl)

    async def hold(work: UnitOfWork) -> None:
        await _hold(work, wanted)

    uow.before_commit(f"inventory.hold:{record.id}", hold)
    uow.add_new(record, *line_records)
    return _reservation(record, line_records)


def _new_reservation(
    reference: str, lines: Sequence[tuple[str, int]], ttl: timedelta
) -> tuple[dict[str, int], ReservationRecord, list[ReservationLineRecord]]:
    check_text("reference", reference, _REFERENCE_MAX)
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    wanted = _merge(lines)
    now = utcnow()
    record = transient(
        ReservationRecord,
        id=new_id("rsv"),
        reference=reference,
        status="active",
        expires_at=now + ttl,
        created_at=now,
        closed_at=None,
    )
    line_records = [
        transient(ReservationLineRecord, reservation_id=record.id, variant_id=v, quantity=q)
        for v, q in sorted(wanted.items())
    ]
    return wanted, record, line_records


async def _hold(uow: UnitOfWork, wanted: Mapping[str, int]) -> None:
    held, short = await repo.hold_units(uow.session, wanted, now=utcnow())
    if short:
        raise OutOfStock(short)
    for row, quantity in held:
        await publish_change(
            uow, row, available_before=available(row.on_hand, row.reserved - quantity)
        )


def _next_status(record: ReservationRecord, action: ReservationAction) -> str | None:
    try:
        return reservation_transition(record.status, action)
    except InvalidReservationTransition as error:
        raise ReservationClosed(str(error), extra={"current_status": error.current}) from None


async def _close(
    uow: UnitOfWork, reservation_id: str, action: ReservationAction
) -> tuple[ReservationRecord, str | None]:
    """Move the reservation on by `action`: (record, new status), or (record, None) when it
    had already happened. Of racing closers exactly one gets a new status."""
    session = uow.session
    # The usual case first: an active reservation closed by one conditional UPDATE that
    # answers with the row. Only when it was not active is it read, to decide on what the
    # earlier closer left (a retry of the same ending is a no-op, the other is refused).
    target = reservation_transition("active", action)
    assert target is not None
    closed = await repo.close_reservation_returning(
        session, reservation_id, status=target, now=utcnow()
    )
    if closed is not None:
        return closed, target
    record = await repo.reservation(session, reservation_id)
    if record is None:
        raise ReservationNotFound()
    again = _next_status(record, action)
    if again is not None:
        raise RuntimeError(f"reservation {reservation_id} is active but could not close")
    return record, None


async def commit(uow: UnitOfWork, reservation_id: str) -> Reservation:
    """The checkout was paid: the held units are sold (they leave on_hand and reserved, each
    line logged as a "sale"). Committing again is a no-op; committing a released or expired
    reservation is refused (409 reservation_closed), as its units may be sold to others.

    A reservation past its expiry that the sweep has not released yet still commits: its
    units are still held, so nothing is oversold.
    """
    record, target = await _close(uow, reservation_id, "commit")
    if target is None:
        return _reservation(record, await repo.lines_of(uow.session, [reservation_id]))
    sold = await _sell(uow, reservation_id)
    return _reservation(record, sold, status=target)


async def sell_at_commit(uow: UnitOfWork, reservation_id: str) -> None:
    """`commit`, for a caller that commits soon after (the checkout's settlement): the
    reservation is closed now (`ReservationClosed` and `ReservationNotFound` as `commit`),
    its units are sold by the transaction's last statement before the commit writes its new
    rows, so the shared stock rows stay locked for that statement and the commit only (see
    `hold_at_commit`)."""
    _, target = await _close(uow, reservation_id, "commit")
    if target is None:
        return

    async def sell(work: UnitOfWork) -> None:
        await _sell(work, reservation_id)

    uow.before_commit(f"inventory.sell:{reservation_id}", sell)


async def _sell(uow: UnitOfWork, reservation_id: str) -> list[ReservationLine]:
    now = utcnow()
    # The lines are read by the statement that sells them.
    sold = await repo.sell_reserved(uow.session, reservation_id, now=now)
    if sold is None:
        raise RuntimeError(f"reservation {reservation_id} holds units its stock does not")
    for row, quantity in sold:  # ordered by variant id
        log_adjustment(
            uow,
            row,
            delta=-quantity,
            reason="sale",
            actor_id=SALE_ACTOR,
            now=now,
            reservation_id=reservation_id,
        )
    return [ReservationLine(row.variant_id, quantity) for row, quantity in sold]


async def _give_back(uow: UnitOfWork, totals: Mapping[str, int]) -> None:
    given = await repo.give_back_units(uow.session, totals, now=utcnow())
    if given is None:
        raise RuntimeError(f"of {sorted(totals)}, some have fewer units reserved than released")
    for row, quantity in given:
        await publish_change(
            uow, row, available_before=available(row.on_hand, row.reserved + quantity)
        )


async def release(uow: UnitOfWork, reservation_id: str) -> Reservation:
    """The checkout was abandoned or failed: the held units are available again. Releasing
    again (or after expiry) is a no-op; releasing a committed reservation is refused (409
    reservation_closed): sold units come back through a return, not a release."""
    record, target = await _close(uow, reservation_id, "release")
    lines = await repo.lines_of(uow.session, [reservation_id])
    if target is not None:
        await _give_back(uow, {line.variant_id: line.quantity for line in lines})
    return _reservation(record, lines, status=target)


async def release_expired(
    uow: UnitOfWork, *, now: datetime | None = None, limit: int = EXPIRY_BATCH
) -> int:
    """Expire up to `limit` active reservations past their expiry and give their units back;
    returns how many. Each is claimed by a conditional status update, so a commit racing
    the sweep either wins (the sweep skips it) or finds it expired (and is refused)."""
    expired = await repo.expire_due_reservations(uow.session, now=now or utcnow(), limit=limit)
    totals: dict[str, int] = {}
    for line in await repo.lines_of(uow.session, expired):
        totals[line.variant_id] = totals.get(line.variant_id, 0) + line.quantity
    await _give_back(uow, totals)
    return len(expired)
