"""Running deliveries: the handler call, its exactly-once bookkeeping, retries and dead letters.

`run_delivery` is what a worker does with a delivery id it received from the broker:
claim it, run the handler and mark the delivery succeeded, all in one transaction. If two
workers get the same delivery (broker redelivery, a sweeper kick racing the first run), the
claim's row lock, or for a handler that commits part-way its lease and the final conditional
update, lets only one commit. Failures back off exponentially; after `max_attempts` the
delivery is `dead` and listed for operators instead of retried forever.

`run_batch` does the same for several deliveries of jobs registered `batched` at once: one
claim, the handlers in turn, one completion, one commit; if anything fails, nothing of the
batch is kept and each delivery runs alone with `run_delivery`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from marketplace.platform import direct
from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database, insert_ignore
from marketplace.platform.ids import new_id
from marketplace.platform.messaging import Message, Registry, UnknownHandler
from marketplace.platform.models import Delivery, OutboxMessage, ScheduledJob
from marketplace.platform.observability.metrics import record_job_delivery
from marketplace.platform.outbox import retry_delay
from marketplace.platform.uow import UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)

DELIVERY_LEASE = timedelta(minutes=5)

Outcome = Literal["succeeded", "skipped", "held", "failed", "dead"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    delivery_id: str
    outcome: Outcome


async def run_delivery(
    uow_factory: UnitOfWorkFactory,
    registry: Registry,
    delivery_id: str,
    *,
    max_attempts: int = 8,
    hold: Collection[str] = (),
    held_since: datetime | None = None,
) -> DeliveryResult:
    """Run one delivery; one of `hold`'s handlers whose message is newer than `held_since`
    is handed back unrun (a burst began after it was kicked) for the sweeper to kick later."""
    token = new_id("lck")
    now = utcnow()
    failure: Exception | None = None
    # On PostgreSQL claim, handler and completion share one transaction: a delivery costs
    # one commit, and a worker that dies mid-run leaves the delivery pending as it was (the
    # claim rolls back with the handler's work). A second worker given the same delivery
    # waits on the row the claim locked, then finds it done. A handler that commits part-way
    # (before calling a gateway) commits the claim with it, and the lease keeps others off
    # until it ends. SQLite has a single writer: a claim held open through the handler would
    # hold every other writer (API requests too) off while the handler waits on I/O, so
    # there the lease is committed at once and the handler runs in a transaction of its own.
    async with uow_factory() as uow:
        claimed = await _claim(uow, delivery_id, token=token, now=now)
        if claimed is None:
            # Done already, dead, or running elsewhere: a duplicate delivery is a no-op.
            return DeliveryResult(delivery_id, "skipped")
        if uow.dialect != "postgresql":
            await uow.session.commit()
        handler_name, attempts, message = claimed
        if handler_name in hold and (held_since is None or message.occurred_at >= held_since):
            # Kicked before the burst began and queued since: waits like the ones relayed
            # during it. The claim's attempt is given back; the sweeper kicks it again.
            await direct.execute(
                uow.session,
                _HANDED_BACK,
                {"delivery_id": delivery_id, "token": token, "given_back": attempts - 1},
            )
            await uow.commit()
            return DeliveryResult(delivery_id, "held")
        uow.request_id = message.request_id
        try:
            handler = registry.handler(handler_name)
            await handler(uow, message)
            finished = (
                await direct.execute(
                    uow.session,
                    _SUCCEEDED,
                    {"delivery_id": delivery_id, "token": token, "finished_at": utcnow()},
                )
            ).rowcount
            if finished != 1:
                # Our lease expired and another worker took over: its run is the one that counts.
                return DeliveryResult(delivery_id, "skipped")
            await uow.commit()
        except Exception as error:
            failure = error
    if failure is None:
        record_job_delivery(handler_name, "succeeded")
        return DeliveryResult(delivery_id, "succeeded")
    return await _record_failure(
        uow_factory.db,
        delivery_id,
        handler_name=handler_name,
        attempts=attempts,
        token=token,
        error=failure,
        dead=attempts >= max_attempts or isinstance(failure, UnknownHandler),
    )


# The statements a delivery runs, built once: building an UPDATE's expression tree and its
# cache key costs more CPU than executing it, and a small handler's delivery is mostly this
# bookkeeping. Core statements on the tables (not the mapped classes) skip the ORM's bulk
# update machinery, which has no objects to synchronise here.
_delivery = cast(Table, Delivery.__table__)
_outbox = cast(Table, OutboxMessage.__table__)
_MESSAGE_COLUMNS = (
    _outbox.c.id,
    _outbox.c.kind,
    _outbox.c.name,
    _outbox.c.payload,
    _outbox.c.occurred_at,
    _outbox.c.request_id,
)
_CLAIM = (
    update(_delivery)
    .where(
        _delivery.c.id == bindparam("delivery_id"),
        _delivery.c.status == "pending",
        or_(_delivery.c.locked_until.is_(None), _delivery.c.locked_until < bindparam("now")),
    )
    .values(
        lock_token=bindparam("token"),
        locked_until=bindparam("lease_until"),
        attempts=_delivery.c.attempts + 1,
    )
)
# PostgreSQL: the lease and the message in one statement (UPDATE … FROM … RETURNING).
_CLAIM_WITH_MESSAGE = _CLAIM.where(_delivery.c.message_id == _outbox.c.id).returning(
    _delivery.c.handler, _delivery.c.attempts, *_MESSAGE_COLUMNS
)
# SQLite: its RETURNING cannot name the joined table, so the message is a second read.
_CLAIM_ALONE = _CLAIM.returning(_delivery.c.handler, _delivery.c.attempts, _delivery.c.message_id)
_MESSAGE = select(*_MESSAGE_COLUMNS).where(_outbox.c.id == bindparam("message_id"))
_SUCCEEDED = (
    update(_delivery)
    .where(
        _delivery.c.id == bindparam("delivery_id"),
        _delivery.c.status == "pending",
        _delivery.c.lock_token == bindparam("token"),
    )
    .values(status="succeeded", finished_at=bindparam("finished_at"), locked_until=None)
)

_HANDED_BACK = (
    update(_delivery)
    .where(_delivery.c.id == bindparam("delivery_id"), _delivery.c.lock_token == bindparam("token"))
    .values(attempts=bindparam("given_back"), locked_until=None, kicked_at=None)
)


# A batch: the deliveries of the given ids whose handler runs in batches, pending and free,
# leased together. The rows are locked in id order and skipped if another worker holds them,
# so two workers given overlapping batches neither deadlock nor wait on each other.
def _claimable(ids: ColumnElement[bool]) -> ColumnElement[bool]:
    return _delivery.c.id.in_(
        select(_delivery.c.id)
        .where(
            ids,
            _delivery.c.handler.in_(bindparam("handlers", expanding=True)),
            _delivery.c.status == "pending",
            or_(_delivery.c.locked_until.is_(None), _delivery.c.locked_until < bindparam("now")),
        )
        .order_by(_delivery.c.id)
        .with_for_update(skip_locked=True)
    )


_CLAIM_BATCH = (
    update(_delivery)
    .where(
        _claimable(_delivery.c.id.in_(bindparam("delivery_ids", expanding=True))),
        _delivery.c.message_id == _outbox.c.id,
    )
    .values(
        lock_token=bindparam("token"),
        locked_until=bindparam("lease_until"),
        attempts=_delivery.c.attempts + 1,
    )
    .returning(_delivery.c.id, _delivery.c.handler, _delivery.c.attempts, *_MESSAGE_COLUMNS)
)
_BATCH_SUCCEEDED = (
    update(_delivery)
    .where(
        _delivery.c.id.in_(bindparam("delivery_ids", expanding=True)),
        _delivery.c.status == "pending",
        _delivery.c.lock_token == bindparam("token"),
    )
    .values(status="succeeded", finished_at=bindparam("finished_at"), locked_until=None)
)


def batchable(
    db: Database, registry: Registry, count: int, *, hold: Collection[str] = ()
) -> frozenset[str]:
    """The jobs whose deliveries `run_batch` would run together among `count` kicked at once:
    none for a single delivery, on SQLite, or when every batched job is held."""
    if count < 2 or db.dialect != "postgresql":
        return frozenset()
    return registry.batched - frozenset(hold)


async def run_batch(
    uow_factory: UnitOfWorkFactory,
    registry: Registry,
    delivery_ids: Sequence[str],
    *,
    hold: Collection[str] = (),
) -> list[DeliveryResult]:
    """Run the deliveries among `delivery_ids` whose handler is registered `batched` (and not
    held) in one transaction: one claim, the handlers one after the other, one completion,
    one commit, where one at a time costs a transaction and its bookkeeping each. Returns
    what it ran; the caller runs the rest (other handlers, and rows another worker holds or
    finished) with `run_delivery`.

    If a handler fails, the whole batch rolls back, its claim too, and nothing of it is
    returned: each then runs on its own, where a failure is counted and retried for the
    failing delivery only. PostgreSQL only: SQLite's single writer would hold every other
    writer off for the whole batch.
    """
    handlers = batchable(uow_factory.db, registry, len(delivery_ids), hold=hold)
    if not handlers:
        return []
    token = new_id("lck")
    now = utcnow()
    async with uow_factory() as uow:
        rows = (
            await direct.execute(
                uow.session,
                _CLAIM_BATCH,
                {
                    "delivery_ids": list(delivery_ids),
                    "handlers": list(handlers),
                    "now": now,
                    "token": token,
                    "lease_until": now + DELIVERY_LEASE,
                },
            )
        ).all()
        if not rows:
            return []
        position = {delivery_id: i for i, delivery_id in enumerate(delivery_ids)}
        claimed = sorted(rows, key=lambda row: position[str(row[0])])
        # Its handlers' work commits with the batch, or not at all.
        uow.commits_refused = "a batched handler committed part-way"
        try:
            for row in claimed:
                message = _message_of(row[3:], attempts=int(row[2]))
                uow.request_id = message.request_id
                await registry.handler(str(row[1]))(uow, message)
        except Exception as error:
            logger.info(
                "batch of %d deliveries rolled back, running them one by one",
                len(claimed),
                extra={"handler": str(row[1]), "delivery_id": str(row[0])},
                exc_info=error,
            )
            return []
        uow.commits_refused = None
        ran = [str(row[0]) for row in claimed]
        finished = (
            await direct.execute(
                uow.session,
                _BATCH_SUCCEEDED,
                {"delivery_ids": ran, "token": token, "finished_at": utcnow()},
            )
        ).rowcount
        if finished != len(ran):
            return []  # cannot happen while the lease holds; one by one sorts it out
        await uow.commit()
    for row in claimed:
        record_job_delivery(str(row[1]), "succeeded")
    return [DeliveryResult(delivery_id, "succeeded") for delivery_id in ran]


async def _claim(
    uow: UnitOfWork, delivery_id: str, *, token: str, now: datetime
) -> tuple[str, int, Message] | None:
    """Lease the delivery and read its message: one statement on PostgreSQL, two on SQLite."""
    params = {
        "delivery_id": delivery_id,
        "now": now,
        "token": token,
        "lease_until": now + DELIVERY_LEASE,
    }
    if uow.dialect == "postgresql":
        row = (await direct.execute(uow.session, _CLAIM_WITH_MESSAGE, params)).first()
        if row is None:
            return None
        handler_name, attempts, outbox = str(row[0]), int(row[1]), row[2:]
    else:
        row = (await uow.session.execute(_CLAIM_ALONE, params)).first()
        if row is None:
            return None
        handler_name, attempts = str(row[0]), int(row[1])
        outbox = (await uow.session.execute(_MESSAGE, {"message_id": row[2]})).one()
    return handler_name, attempts, _message_of(outbox, attempts=attempts)


def _message_of(outbox: Sequence[Any], *, attempts: int) -> Message:
    """The message of a delivery from its outbox columns (`_MESSAGE_COLUMNS`)."""
    message_id, kind, name, payload, occurred_at, request_id = outbox
    return Message(
        id=str(message_id),
        kind="job" if kind == "job" else "event",
        name=name,
        payload=payload,
        occurred_at=occurred_at,
        attempt=attempts,
        request_id=request_id,
    )


async def _record_failure(
    db: Database,
    delivery_id: str,
    *,
    handler_name: str,
    attempts: int,
    token: str,
    error: Exception,
    dead: bool,
) -> DeliveryResult:
    logger.warning(
        "delivery failed",
        extra={
            "delivery_id": delivery_id,
            "handler": handler_name,
            "attempt": attempts,
            "dead": dead,
        },
        exc_info=error,
    )
    now = utcnow()
    async with db.session() as session:
        # The claim rolled back with the handler unless the handler committed part-way: the
        # attempt is counted here either way. A delivery another worker holds is left alone.
        await session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == "pending",
                or_(
                    Delivery.lock_token == token,
                    Delivery.locked_until.is_(None),
                    Delivery.locked_until < now,
                ),
            )
            .values(
                status="dead" if dead else "pending",
                attempts=attempts,
                lock_token=token,
                locked_until=None,
                last_error=f"{type(error).__name__}: {error}"[:4000],
                next_attempt_at=now + retry_delay(attempts),
                finished_at=now if dead else None,
            )
        )
        await session.commit()
    record_job_delivery(handler_name, "dead" if dead else "failed")
    return DeliveryResult(delivery_id, "dead" if dead else "failed")


async def schedule_due_jobs(uow_factory: UnitOfWorkFactory, registry: Registry) -> int:
    """Enqueue every periodic job that is due; safe with many schedulers running at once."""
    if not registry.periodic:
        return 0
    db = uow_factory.db
    now = utcnow()
    enqueued = 0
    async with db.session() as session:
        await session.execute(
            insert_ignore(
                ScheduledJob.__table__,  # type: ignore[arg-type]
                db.dialect,
                [{"name": p.job, "next_run_at": now} for p in registry.periodic],
            )
        )
        await session.commit()
    for periodic in registry.periodic:
        async with uow_factory() as uow:
            current = await uow.session.scalar(
                select(ScheduledJob.next_run_at).where(ScheduledJob.name == periodic.job)
            )
            if current is None or current > now:
                continue
            # Skip missed runs rather than replaying a backlog after downtime.
            next_run = max(current + periodic.every, now + periodic.every - timedelta(seconds=1))
            won = (
                await uow.session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.name == periodic.job, ScheduledJob.next_run_at == current)
                    .values(next_run_at=next_run, last_run_at=now)
                )
            ).rowcount  # type: ignore[attr-defined]
            if won != 1:
                continue
            uow.enqueue(periodic.job, periodic.payload)
            await uow.commit()
            enqueued += 1
    return enqueued
