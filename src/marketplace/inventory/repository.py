"""Every query of the inventory context.

Counts change only through conditional UPDATEs whose WHERE clause is the rule
(`on_hand - reserved >= :q`); each returns the row as it is after the change, or None when
the rule refused it. The caller holds that row's lock (PostgreSQL) or the database's write
lock (SQLite) until it commits, so the returned values stay true for the rest of its
transaction. The vendor's tenancy filter lives in the queries that take a `vendor_id`.

The lines of a checkout (held, sold, given back) change every one or none. On PostgreSQL one
statement does it: it locks their rows in variant order, checks the rule of every line on
the rows as locked, and changes them all or nothing (`_every_line_or_none`). On SQLite, one
conditional UPDATE per line in variant order, and the lines already held are given back when
one is short.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update

from marketplace.inventory.domain import MAX_ON_HAND, is_low
from marketplace.inventory.models import Adjustment, Reservation, ReservationLine, Stock
from marketplace.platform import direct
from marketplace.platform.db import AnyRow, insert_ignore, one_of
from marketplace.platform.direct import insert_objects


@dataclass(frozen=True, slots=True)
class StockRow:
    """A stock row as one statement left it."""

    variant_id: str
    vendor_id: str
    product_id: str
    sku: str
    on_hand: int
    reserved: int
    low_stock_threshold: int
    low_stock_alerted: bool
    updated_at: datetime


_COLUMNS = (
    Stock.variant_id,
    Stock.vendor_id,
    Stock.product_id,
    Stock.sku,
    Stock.on_hand,
    Stock.reserved,
    Stock.low_stock_threshold,
    Stock.low_stock_alerted,
    Stock.updated_at,
)


# Retired rows (deleted variants, skus handed to another variant) are neither sold nor listed.
_LIVE = Stock.retired_at.is_(None)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _row(row: Any) -> StockRow | None:
    return StockRow(**row._mapping) if row is not None else None


def stock_row(stock: Stock) -> StockRow:
    return StockRow(
        variant_id=stock.variant_id,
        vendor_id=stock.vendor_id,
        product_id=stock.product_id,
        sku=stock.sku,
        on_hand=stock.on_hand,
        reserved=stock.reserved,
        low_stock_threshold=stock.low_stock_threshold,
        low_stock_alerted=stock.low_stock_alerted,
        updated_at=stock.updated_at,
    )


async def _update_returning(session: AsyncSession, stmt: Any) -> StockRow | None:
    # Core-style bulk UPDATE: the identity map is not consulted, so nothing stale is written.
    result = await session.execute(
        stmt.returning(*_COLUMNS), execution_options={"synchronize_session": False}
    )
    return _row(result.first())


# --- stock ----------------------------------------------------------------------------------


async def insert_stock(
    session: AsyncSession,
    dialect: str,
    *,
    variant_id: str,
    vendor_id: str,
    product_id: str,
    sku: str,
    on_hand: int,
    low_stock_threshold: int,
    now: datetime,
) -> bool:
    """Create the row unless the variant (or the vendor's sku) already has one; True if
    created. Of two concurrent creators, one inserts and the other sees the row."""
    stmt = insert_ignore(
        Stock.__table__,  # type: ignore[arg-type]
        dialect,
        [
            {
                "variant_id": variant_id,
                "vendor_id": vendor_id,
                "product_id": product_id,
                "sku": sku,
                "on_hand": on_hand,
                "reserved": 0,
                "low_stock_threshold": low_stock_threshold,
                # Creating stock is not a crossing: the vendor just entered these numbers.
                "low_stock_alerted": is_low(on_hand, low_stock_threshold),
                "updated_at": now,
                "retired_at": None,
            }
        ],
    )
    result = await session.execute(stmt)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def stock_for_update(session: AsyncSession, variant_id: str) -> StockRow | None:
    """The row, locked until commit (PostgreSQL; SQLite's writer lock serialises anyway)."""
    result = await session.execute(
        select(*_COLUMNS).where(Stock.variant_id == variant_id).with_for_update()
    )
    return _row(result.first())


async def stocks_for_update(
    session: AsyncSession, variant_ids: Collection[str]
) -> dict[str, StockRow]:
    """The rows of these variants (retired ones too), locked until commit in variant order,
    so two callers locking overlapping sets cannot deadlock."""
    if not variant_ids:
        return {}
    result = await session.execute(
        select(*_COLUMNS)
        .where(one_of(Stock.variant_id, variant_ids, _dialect(session)))
        .order_by(Stock.variant_id)
        .with_for_update()
    )
    return {row.variant_id: StockRow(**row._mapping) for row in result.all()}


async def live_sku_holders(
    session: AsyncSession, *, vendor_id: str, skus: Collection[str]
) -> dict[str, str]:
    """Which variant holds each of the vendor's `skus` now: sku -> variant id."""
    if not skus:
        return {}
    result = await session.execute(
        select(Stock.sku, Stock.variant_id).where(
            Stock.vendor_id == vendor_id, one_of(Stock.sku, skus, _dialect(session)), _LIVE
        )
    )
    return {row.sku: row.variant_id for row in result.all()}


async def insert_stocks(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Create these rows in one statement; a unique violation means another caller took a
    variant or sku first (the caller decides what that means)."""
    await session.execute(insert(Stock), list(rows))


async def set_stocks(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write absolute values into rows the caller has locked (`stocks_for_update`) and checked
    against what they hold; one executemany by primary key."""
    await session.execute(
        update(Stock), list(rows), execution_options={"synchronize_session": False}
    )


async def add_adjustments(session: AsyncSession, adjustments: Sequence[dict[str, Any]]) -> None:
    if adjustments:
        await session.execute(insert(Adjustment), list(adjustments))


async def stock_by_sku(session: AsyncSession, *, vendor_id: str, sku: str) -> StockRow | None:
    result = await session.execute(
        select(*_COLUMNS).where(Stock.vendor_id == vendor_id, Stock.sku == sku, _LIVE)
    )
    return _row(result.first())


async def stock_of(session: AsyncSession, variant_ids: Collection[str]) -> list[StockRow]:
    if not variant_ids:
        return []
    result = await session.execute(
        select(*_COLUMNS).where(one_of(Stock.variant_id, variant_ids, _dialect(session)), _LIVE)
    )
    return [StockRow(**row._mapping) for row in result.all()]


def vendor_stock(vendor_id: str, *, low_stock: bool) -> Select[Stock]:
    stmt = select(Stock).where(Stock.vendor_id == vendor_id, _LIVE)
    if low_stock:
        stmt = stmt.where(Stock.on_hand - Stock.reserved <= Stock.low_stock_threshold)
    return stmt


async def replace_stock(
    session: AsyncSession,
    *,
    variant_id: str,
    product_id: str,
    sku: str,
    on_hand: int,
    low_stock_threshold: int,
    now: datetime,
) -> StockRow | None:
    """Set absolute values (a retired row comes back to life); None if `on_hand` would drop
    below the units reserved."""
    return await _update_returning(
        session,
        update(Stock)
        .where(Stock.variant_id == variant_id, Stock.reserved <= on_hand)
        .values(
            on_hand=on_hand,
            low_stock_threshold=low_stock_threshold,
            sku=sku,
            product_id=product_id,
            updated_at=now,
            retired_at=None,
        ),
    )


async def add_on_hand(
    session: AsyncSession, *, vendor_id: str, sku: str, delta: int, now: datetime
) -> StockRow | None:
    """`on_hand += delta`; None if the sku is not the vendor's, or the result would be below
    the units reserved (or negative) or above the ceiling."""
    return await _update_returning(
        session,
        update(Stock)
        .where(
            Stock.vendor_id == vendor_id,
            Stock.sku == sku,
            _LIVE,
            Stock.on_hand + delta >= Stock.reserved,
            Stock.on_hand + delta <= MAX_ON_HAND,
        )
        .values(on_hand=Stock.on_hand + delta, updated_at=now),
    )


# The statements every checkout runs, built once with bound parameters: building an UPDATE …
# RETURNING costs about 0.1 ms of CPU, as much as executing it. Core statements on the table:
# no ORM machinery, which has no objects to synchronise here anyway. (A bound parameter may
# not take a column's name in an UPDATE: hence `the_variant`, `units`, `at`.)
_stock = cast(Table, Stock.__table__)
_line = cast(Table, ReservationLine.__table__)
_STOCK_COLUMNS = tuple(_stock.c[column.key] for column in _COLUMNS)
# A row as a statement left it, with the units of its line.
Held = list[tuple[StockRow, int]]


def _can_hold(stock: FromClause, units: ColumnElement[int]) -> ColumnElement[bool]:
    """The rule of holding `units` more of a stock row: it is live and has them available."""
    return and_(stock.c.retired_at.is_(None), stock.c.on_hand - stock.c.reserved >= units)


def _holds(stock: FromClause, units: ColumnElement[int]) -> ColumnElement[bool]:
    """The rule of giving back or selling `units` held units: the row holds that many."""
    return stock.c.reserved >= units


# Line by line: one conditional UPDATE per variant (SQLite, where the database's write lock
# serialises writers anyway).
_RESERVE = (
    update(_stock)
    .where(_stock.c.variant_id == bindparam("the_variant"), _can_hold(_stock, bindparam("units")))
    .values(reserved=_stock.c.reserved + bindparam("units"), updated_at=bindparam("at"))
    .returning(*_STOCK_COLUMNS)
)
_UNRESERVE_WHERE = (
    _stock.c.variant_id == bindparam("the_variant"),
    _holds(_stock, bindparam("units")),
)
_UNRESERVE = (
    update(_stock)
    .where(*_UNRESERVE_WHERE)
    .values(reserved=_stock.c.reserved - bindparam("units"), updated_at=bindparam("at"))
    .returning(*_STOCK_COLUMNS)
)
_SELL = (
    update(_stock)
    .where(*_UNRESERVE_WHERE)
    .values(
        reserved=_stock.c.reserved - bindparam("units"),
        on_hand=_stock.c.on_hand - bindparam("units"),
        updated_at=bindparam("at"),
    )
    .returning(*_STOCK_COLUMNS)
)


# All lines in one statement (PostgreSQL). The lines (variant_id, units) come from two arrays
# (`variants`, `units`) or from a reservation's rows (`the_reservation`).
_VARIANTS = bindparam("variants", type_=postgresql.ARRAY(String))
_UNITS = bindparam("units", type_=postgresql.ARRAY(Integer))
_RESERVATION = bindparam("the_reservation", type_=String)


def _given_lines(name: str) -> FromClause:
    return (
        func.unnest(_VARIANTS, _UNITS)
        .table_valued(column("variant_id", String), column("units", Integer))
        .render_derived(name=name)
    )


def _reserved_lines(name: str) -> FromClause:
    return (
        select(_line.c.variant_id, _line.c.quantity.label("units"))
        .where(_line.c.reservation_id == _RESERVATION)
        .subquery(name)
    )


def _every_line_or_none(
    lines: Callable[[str], FromClause],
    *,
    locking: ColumnElement[bool],
    rule: Callable[[FromClause, ColumnElement[int]], ColumnElement[bool]],
    counts: Callable[[FromClause, ColumnElement[int]], dict[str, ColumnElement[int]]],
) -> Update:
    """UPDATE the stock row of every line to `counts(locked row, units)` (both `on_hand` and
    `reserved`) if every line passes `rule`, else change nothing; RETURNING each changed row
    and its line's units.

    `locked` (MATERIALIZED: run once) locks the rows `locking` selects in variant order, as
    the line-by-line path does, so statements over overlapping variants queue instead of
    deadlocking: LockRows sits above the ORDER BY, and every row is locked before the first
    change, as the check (one NOT EXISTS over all lines, an InitPlan run before the UPDATE's
    join) reads every line's locked row. A locker that waited reads the row as the other
    transaction committed it (READ COMMITTED), and nobody else changes it until this
    transaction ends: so two checkouts never both take the last unit.

    The rule and the new counts are taken from `locked`, not from the row the UPDATE's scan
    finds. That one is the version of the statement's snapshot, which a transaction that
    committed while this one waited has replaced. PostgreSQL moves the write to the newest
    version (EvalPlanQual), but only after checking the WHERE clause and the CHECK
    constraints against the old one: a rule there would leave out a line that the commit made
    pass, and counts derived from the old version could fail `reserved <= on_hand`."""
    locked = (
        select(_stock.c.variant_id, _stock.c.on_hand, _stock.c.reserved, _stock.c.retired_at)
        .where(locking)
        .order_by(_stock.c.variant_id)
        .with_for_update(of=_stock)
        .cte("locked")
        .prefix_with("MATERIALIZED")
    )
    checked = lines("checked")
    failing = (
        select(checked.c.variant_id)
        .select_from(
            checked.outerjoin(
                locked,
                and_(locked.c.variant_id == checked.c.variant_id, rule(locked, checked.c.units)),
            )
        )
        .where(locked.c.variant_id.is_(None))
    )
    line = lines("line")
    return (
        update(_stock)
        .where(
            _stock.c.variant_id == locked.c.variant_id,
            locked.c.variant_id == line.c.variant_id,
            rule(locked, line.c.units),
            ~failing.exists(),
        )
        .values(**counts(locked, line.c.units), updated_at=bindparam("at"))
        .returning(*_STOCK_COLUMNS, line.c.units)
    )


_GIVEN_VARIANTS = _stock.c.variant_id == any_(_VARIANTS)
_HOLD_ALL = _every_line_or_none(
    _given_lines,
    locking=_GIVEN_VARIANTS,
    rule=_can_hold,
    counts=lambda locked, units: {
        "on_hand": locked.c.on_hand,
        "reserved": locked.c.reserved + units,
    },
)
_GIVE_BACK_ALL = _every_line_or_none(
    _given_lines,
    locking=_GIVEN_VARIANTS,
    rule=_holds,
    counts=lambda locked, units: {
        "on_hand": locked.c.on_hand,
        "reserved": locked.c.reserved - units,
    },
)
_SELL_RESERVED = _every_line_or_none(
    _reserved_lines,
    locking=_stock.c.variant_id.in_(
        select(_line.c.variant_id).where(_line.c.reservation_id == _RESERVATION)
    ),
    rule=_holds,
    counts=lambda locked, units: {
        "on_hand": locked.c.on_hand - units,
        "reserved": locked.c.reserved - units,
    },
)


# Which given lines cannot be held: read after `_HOLD_ALL` held nothing.
_short = _given_lines("line")
_SHORT = (
    select(_short.c.variant_id)
    .select_from(
        _short.outerjoin(
            _stock,
            and_(_stock.c.variant_id == _short.c.variant_id, _can_hold(_stock, _short.c.units)),
        )
    )
    .where(_stock.c.variant_id.is_(None))
    .order_by(_short.c.variant_id)
)


def _held(rows: Sequence[AnyRow]) -> Held:
    held = [(StockRow(*row[:-1]), row[-1]) for row in rows]
    held.sort(key=lambda pair: pair[0].variant_id)  # RETURNING follows no order
    return held


async def hold_units(
    session: AsyncSession, units: Mapping[str, int], *, now: datetime
) -> tuple[Held, list[str]]:
    """Hold `units` (variant id -> units) of every variant, or of none. Answers the rows as
    the change left them with their units, in variant order, and no short variant; or no
    rows and the short variants (no live row, or fewer units available) in variant order,
    with nothing held.

    The check and the change are one statement per row (SQLite) or for all rows
    (PostgreSQL, `_every_line_or_none`): a concurrent holder waits for the rows' locks and
    then checks the committed result.
    """
    if _dialect(session) != "postgresql":
        return await _hold_each(session, units, now=now)
    variants = sorted(units)
    arrays = {"variants": variants, "units": [units[v] for v in variants]}
    while True:
        rows = (await direct.execute(session, _HOLD_ALL, {**arrays, "at": now})).all()
        if rows:
            assert len(rows) == len(units)  # every line or none
            return _held(rows), []
        short = (await direct.execute(session, _SHORT, arrays)).scalars().all()
        if short:
            return [], list(short)
        # Nothing is short any more: the stock changed between the two statements (a
        # variant without a row got one). Hold again, against the stock as it is now.


async def _hold_each(
    session: AsyncSession, units: Mapping[str, int], *, now: datetime
) -> tuple[Held, list[str]]:
    held: Held = []
    short: list[str] = []
    for variant_id in sorted(units):
        quantity = units[variant_id]
        result = await direct.execute(
            session, _RESERVE, {"the_variant": variant_id, "units": quantity, "at": now}
        )
        row = _row(result.first())
        if row is None:
            short.append(variant_id)
        else:
            held.append((row, quantity))
    if not short:
        return held, []
    # All or nothing: the lines already held are given back in the same transaction (so
    # nobody ever saw them held), even if the caller goes on with its unit of work.
    given = await _unreserve_each(
        session, {row.variant_id: quantity for row, quantity in held}, sold=False, now=now
    )
    assert given is not None  # held by this very transaction
    return [], short


async def give_back_units(
    session: AsyncSession, units: Mapping[str, int], *, now: datetime
) -> Held | None:
    """Give held units back (variant id -> units). Answers the rows as the change left them
    with their units, in variant order; None if some variant has fewer units reserved,
    which a consistent database never has (on PostgreSQL nothing changed then; on SQLite
    the caller must roll back)."""
    if not units:
        return []
    if _dialect(session) != "postgresql":
        return await _unreserve_each(session, units, sold=False, now=now)
    variants = sorted(units)
    rows = (
        await direct.execute(
            session,
            _GIVE_BACK_ALL,
            {"variants": variants, "units": [units[v] for v in variants], "at": now},
        )
    ).all()
    return _held(rows) if rows else None


async def sell_reserved(
    session: AsyncSession, reservation_id: str, *, now: datetime
) -> Held | None:
    """Sell what a reservation holds: each line's units leave `reserved` and `on_hand`.
    Answers the rows as the sale left them with their lines' units, in variant order; None
    if some line's units are not held, which a consistent database never has (on PostgreSQL
    nothing changed then; on SQLite the caller must roll back)."""
    if _dialect(session) != "postgresql":
        lines = await lines_of(session, [reservation_id])
        units = {line.variant_id: line.quantity for line in lines}
        return await _unreserve_each(session, units, sold=True, now=now)
    rows = (
        await direct.execute(
            session, _SELL_RESERVED, {"the_reservation": reservation_id, "at": now}
        )
    ).all()
    return _held(rows) if rows else None  # a reservation has at least one line


async def _unreserve_each(
    session: AsyncSession, units: Mapping[str, int], *, sold: bool, now: datetime
) -> Held | None:
    held: Held = []
    for variant_id in sorted(units):
        quantity = units[variant_id]
        result = await direct.execute(
            session,
            _SELL if sold else _UNRESERVE,
            {"the_variant": variant_id, "units": quantity, "at": now},
        )
        row = _row(result.first())
        if row is None:
            return None
        held.append((row, quantity))
    return held


async def retire_sku_holders(
    session: AsyncSession, *, vendor_id: str, sku: str, keeping: str, now: datetime
) -> None:
    """Retire the vendor's live row of `sku` unless it is the variant `keeping`'s."""
    await session.execute(
        update(Stock)
        .where(
            Stock.vendor_id == vendor_id,
            Stock.sku == sku,
            _LIVE,
            Stock.variant_id != keeping,
        )
        .values(retired_at=now, updated_at=now),
        execution_options={"synchronize_session": False},
    )


async def retire(session: AsyncSession, variant_ids: Collection[str], *, now: datetime) -> int:
    """Retire the live rows of these variants; returns how many were live."""
    if not variant_ids:
        return 0
    result = await session.execute(
        update(Stock)
        .where(Stock.variant_id.in_(variant_ids), _LIVE)
        .values(retired_at=now, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def mark_low_stock_alerted(session: AsyncSession, variant_id: str) -> bool:
    """Claim this crossing's alert: True for exactly one caller while the variant stays low."""
    result = await session.execute(
        update(Stock)
        .where(
            Stock.variant_id == variant_id,
            Stock.low_stock_alerted.is_(False),
            Stock.on_hand - Stock.reserved <= Stock.low_stock_threshold,
        )
        .values(low_stock_alerted=True),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def rearm_low_stock(session: AsyncSession, variant_id: str) -> bool:
    """Above the threshold again: the next crossing alerts."""
    result = await session.execute(
        update(Stock)
        .where(
            Stock.variant_id == variant_id,
            Stock.low_stock_alerted.is_(True),
            Stock.on_hand - Stock.reserved > Stock.low_stock_threshold,
        )
        .values(low_stock_alerted=False),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# --- reservations ---------------------------------------------------------------------------


async def insert_reservation(
    session: AsyncSession, reservation: Reservation, lines: Sequence[ReservationLine]
) -> None:
    """Write a new reservation and its lines now (Core INSERTs: the rows change later only
    through conditional UPDATEs, never through these objects)."""
    await insert_objects(session, [reservation, *lines])


async def reservation(session: AsyncSession, reservation_id: str) -> Reservation | None:
    # populate_existing: the status may have been changed by a conditional UPDATE since the
    # session last loaded it.
    return await session.get(Reservation, reservation_id, populate_existing=True)


# Read by every release and expiry sweep: built once, IN list expanding, rows rather than
# entities.
_LINES_OF = (
    select(_line.c.reservation_id, _line.c.variant_id, _line.c.quantity)
    .where(_line.c.reservation_id.in_(bindparam("the_ids", expanding=True)))
    .order_by(_line.c.reservation_id, _line.c.variant_id)
)


async def lines_of(session: AsyncSession, reservation_ids: Collection[str]) -> Sequence[AnyRow]:
    """The lines (reservation_id, variant_id, quantity) of these reservations, ordered by
    reservation and variant."""
    if not reservation_ids:
        return []
    return (await direct.execute(session, _LINES_OF, {"the_ids": list(reservation_ids)})).all()


async def close_reservation(
    session: AsyncSession, reservation_id: str, *, status: str, now: datetime
) -> bool:
    """Move an active reservation to `status`: True for exactly one of any racing closers
    (a commit, a release, the expiry sweep), so only one of them ever moves units."""
    result = await session.execute(
        update(Reservation)
        .where(Reservation.id == reservation_id, Reservation.status == "active")
        .values(status=status, closed_at=now),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def close_reservation_returning(
    session: AsyncSession, reservation_id: str, *, status: str, now: datetime
) -> Reservation | None:
    """`close_reservation`, answering with the closed row (an object outside the session);
    None when it was not active (or does not exist): then the caller reads it to learn why."""
    found = await direct.returning_objects(
        session,
        Reservation,
        _CLOSE_RETURNING,
        {"the_reservation": reservation_id, "to_status": status, "at": now},
    )
    return found[0] if found else None


_reservations = cast(Table, Reservation.__table__)
_CLOSE_RETURNING = direct.returning_all(
    Reservation,
    update(_reservations)
    .where(_reservations.c.id == bindparam("the_reservation"), _reservations.c.status == "active")
    .values(status=bindparam("to_status"), closed_at=bindparam("at")),
)


async def expire_due_reservations(session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
    """Expire up to `limit` active reservations past their expiry; returns the ids this call
    expired. Rows a commit or release is working on are skipped (PostgreSQL), not waited for:
    they are being closed anyway, and the next sweep sees any that are not."""
    due = (
        await session.scalars(
            select(Reservation.id)
            .where(Reservation.status == "active", Reservation.expires_at <= now)
            .order_by(Reservation.expires_at, Reservation.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not due:
        return []
    expired = await session.scalars(
        update(Reservation)
        .where(
            Reservation.id.in_(due),
            Reservation.status == "active",
            Reservation.expires_at <= now,
        )
        .values(status="expired", closed_at=now)
        .returning(Reservation.id),
        execution_options={"synchronize_session": False},
    )
    return sorted(expired.all())
