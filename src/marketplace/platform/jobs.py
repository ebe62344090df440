"""Running deliveries: the handler call, its exactly-once bookkeeping, retries and dead letters.

`run_delivery` is what a worker does with a delivery id it received from the broker:
claim it, run the handler and mark the delivery succeeded, all in one transaction. If two
workers get the same delivery (broker redelivery, a sweeper kick racing the first run), the
claim's row lock, or for a handler that commits part-way its lease and the final conditional
update, lets only one commit. Failures back off exponentially; after `max_attempts` the
delivery is `dead` and listed for operators instead of retried forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select, update

from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database, insert_ignore
from marketplace.platform.ids import new_id
from marketplace.platform.messaging import Message, Registry, UnknownHandler
from marketplace.platform.models import Delivery, OutboxMessage, ScheduledJob
from marketplace.platform.outbox import retry_delay
from marketplace.platform.uow import UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)

DELIVERY_LEASE = timedelta(minutes=5)

Outcome = Literal["succeeded", "skipped", "failed", "dead"]


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
) -> DeliveryResult:
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
        uow.request_id = message.request_id
        try:
            handler = registry.handler(handler_name)
            await handler(uow, message)
            finished = (
                await uow.session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id == delivery_id,
                        Delivery.status == "pending",
                        Delivery.lock_token == token,
                    )
                    .values(status="succeeded", finished_at=utcnow(), locked_until=None)
                )
            ).rowcount  # type: ignore[attr-defined]
            if finished != 1:
                # Our lease expired and another worker took over: its run is the one that counts.
                return DeliveryResult(delivery_id, "skipped")
            await uow.commit()
        except Exception as error:
            failure = error
    if failure is None:
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


async def _claim(
    uow: UnitOfWork, delivery_id: str, *, token: str, now: datetime
) -> tuple[str, int, Message] | None:
    """Lease the delivery and read its message: one statement on PostgreSQL (UPDATE … FROM
    … RETURNING), two on SQLite (its RETURNING cannot name the joined table)."""
    claim = (
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == "pending",
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
        )
        .values(lock_token=token, locked_until=now + DELIVERY_LEASE, attempts=Delivery.attempts + 1)
    )
    message_columns = (
        OutboxMessage.id,
        OutboxMessage.kind,
        OutboxMessage.name,
        OutboxMessage.payload,
        OutboxMessage.occurred_at,
        OutboxMessage.request_id,
    )
    options = {"synchronize_session": False}
    if uow.dialect == "postgresql":
        row = (
            await uow.session.execute(
                claim.where(Delivery.message_id == OutboxMessage.id).returning(
                    Delivery.handler, Delivery.attempts, *message_columns
                ),
                execution_options=options,
            )
        ).first()
        if row is None:
            return None
        handler_name, attempts, outbox = str(row[0]), int(row[1]), row[2:]
    else:
        row = (
            await uow.session.execute(
                claim.returning(Delivery.handler, Delivery.attempts, Delivery.message_id),
                execution_options=options,
            )
        ).first()
        if row is None:
            return None
        handler_name, attempts = str(row[0]), int(row[1])
        outbox = (
            await uow.session.execute(select(*message_columns).where(OutboxMessage.id == row[2]))
        ).one()
    message_id, kind, name, payload, occurred_at, request_id = outbox
    message = Message(
        id=str(message_id),
        kind="job" if kind == "job" else "event",
        name=name,
        payload=payload,
        occurred_at=occurred_at,
        attempt=attempts,
        request_id=request_id,
    )
    return handler_name, attempts, message


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
