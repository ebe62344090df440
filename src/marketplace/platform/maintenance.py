"""Housekeeping jobs of the shared kernel: expiring idempotency keys and pruning the outbox.

Published messages and finished deliveries are kept for a retention period (for operators
tracing what happened) and then deleted in bounded batches, so the tables stay small.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.models import Delivery, IdempotencyKey, OutboxMessage
from marketplace.platform.uow import UnitOfWork

PURGE_IDEMPOTENCY_KEYS = "platform.purge_idempotency_keys"
PRUNE_OUTBOX = "platform.prune_outbox"
RETENTION = timedelta(days=7)
BATCH = 5000


async def purge_idempotency_keys(uow: UnitOfWork, message: Message) -> None:
    await uow.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))


async def prune_outbox(uow: UnitOfWork, message: Message) -> None:
    cutoff = utcnow() - RETENTION
    old_deliveries = (
        select(Delivery.id)
        .where(Delivery.status == "succeeded", Delivery.finished_at < cutoff)
        .limit(BATCH)
    )
    await uow.session.execute(delete(Delivery).where(Delivery.id.in_(old_deliveries)))
    # A message goes once none of its deliveries is still pending or dead (kept for operators).
    unfinished = select(Delivery.message_id).where(Delivery.status != "succeeded")
    old_messages = (
        select(OutboxMessage.seq)
        .where(
            OutboxMessage.published_at < cutoff,
            OutboxMessage.id.not_in(unfinished),
        )
        .limit(BATCH)
    )
    await uow.session.execute(delete(OutboxMessage).where(OutboxMessage.seq.in_(old_messages)))


def register(registry: Registry) -> None:
    registry.job(PURGE_IDEMPOTENCY_KEYS)(purge_idempotency_keys)
    registry.job(PRUNE_OUTBOX)(prune_outbox)
    registry.every(timedelta(hours=1), PURGE_IDEMPOTENCY_KEYS)
    registry.every(timedelta(hours=6), PRUNE_OUTBOX)
