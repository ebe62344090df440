"""Running deliveries: the handler call, its exactly-once bookkeeping, retries and dead letters.

`run_delivery` is what a worker does with a delivery id it received from the broker:
claim it for a lease, run the handler inside a fresh unit of work, and mark the delivery
succeeded in that same transaction. If two workers get the same delivery (broker redelivery,
a sweeper kick racing the first run), the claim or the final conditional update lets only one
commit. Failures back off exponentially; after `max_attempts` the delivery is `dead` and
listed for operators instead of retried forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import or_, select, update

from marketplace.platform.clock import utcnow
from marketplace.platform.db import insert_ignore
from marketplace.platform.ids import new_id
from marketplace.platform.messaging import Message, Registry, UnknownHandler
from marketplace.platform.models import Delivery, OutboxMessage, ScheduledJob
from marketplace.platform.outbox import retry_delay
from marketplace.platform.uow import UnitOfWorkFactory

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
    db = uow_factory.db
    token = new_id("lck")
    now = utcnow()
    # Claim and read in one short transaction: the claim answers with what the run needs.
    async with db.session() as session:
        claimed = (
            await session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.status == "pending",
                    or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
                )
                .values(
                    lock_token=token,
                    locked_until=now + DELIVERY_LEASE,
                    attempts=Delivery.attempts + 1,
                )
                .returning(Delivery.handler, Delivery.attempts, Delivery.message_id),
                execution_options={"synchronize_session": False},
            )
        ).first()
        if claimed is None:
            # Done already, dead, or running elsewhere: a duplicate delivery is a no-op.
            return DeliveryResult(delivery_id, "skipped")
        handler_name, attempts, message_id = str(claimed[0]), int(claimed[1]), str(claimed[2])
        outbox = (
            await session.execute(
                select(
                    OutboxMessage.kind,
                    OutboxMessage.name,
                    OutboxMessage.payload,
                    OutboxMessage.occurred_at,
                    OutboxMessage.request_id,
                ).where(OutboxMessage.id == message_id)
            )
        ).one()
        await session.commit()
    message = Message(
        id=message_id,
        kind="job" if outbox.kind == "job" else "event",
        name=outbox.name,
        payload=outbox.payload,
        occurred_at=outbox.occurred_at,
        attempt=attempts,
        request_id=outbox.request_id,
    )

    try:
        handler = registry.handler(handler_name)
        async with uow_factory(request_id=message.request_id) as uow:
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
        dead = attempts >= max_attempts or isinstance(error, UnknownHandler)
        logger.warning(
            "delivery failed",
            extra={
                "delivery_id": delivery_id,
                "handler": handler_name,
                "attempt": attempts,
                "dead": dead,
            },
            exc_info=True,
        )
        async with db.session() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.lock_token == token)
                .values(
                    status="dead" if dead else "pending",
                    locked_until=None,
                    last_error=f"{type(error).__name__}: {error}"[:4000],
                    next_attempt_at=utcnow() + retry_delay(attempts),
                    finished_at=utcnow() if dead else None,
                )
            )
            await session.commit()
        return DeliveryResult(delivery_id, "dead" if dead else "failed")
    return DeliveryResult(delivery_id, "succeeded")


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
