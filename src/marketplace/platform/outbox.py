"""The outbox relay: turns committed outbox messages into job deliveries.

A message is claimed for a short lease, fanned out into one `platform_delivery` row per
subscribed handler (insert-or-ignore on (message, handler), so a second relay or a retry
after a crash adds nothing), and marked published in the same transaction. Only then are the
deliveries handed to the transport. A process that dies anywhere in between leaves either an
unpublished message (relayed again when its lease expires) or a pending delivery (kicked again
by the sweeper): nothing is lost, and nothing is handled twice.

During a burst the job runtime passes the deferrable handlers as `hold`: their deliveries
are written but not kicked (`kicked_at` empty), and the sweeper kicks them once the burst is
over or they have waited long enough (`platform.burst`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database, insert_ignore_rows
from marketplace.platform.ids import new_id
from marketplace.platform.messaging import Registry
from marketplace.platform.models import Delivery, OutboxMessage

logger = logging.getLogger(__name__)

Kick = Callable[[Sequence[str]], Awaitable[None]]

CLAIM_LEASE = timedelta(seconds=30)
KICK_GRACE = timedelta(seconds=30)


async def relay_once(
    db: Database,
    registry: Registry,
    kick: Kick,
    *,
    batch_size: int = 200,
    hold: Collection[str] = (),
) -> int:
    """Relay one batch of unpublished messages; returns how many were published.

    Deliveries of the handlers in `hold` are written but left for the sweeper to kick.
    """
    now = utcnow()
    async with db.session() as session:
        candidates = (
            await session.scalars(
                select(OutboxMessage.seq)
                .where(
                    OutboxMessage.published_at.is_(None),
                    or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                )
                .order_by(OutboxMessage.seq)
                .limit(batch_size)
            )
        ).all()
        if not candidates:
            return 0
        # The conditional UPDATE is the claim: of two relays racing, each row goes to one.
        claim_until = now + CLAIM_LEASE
        claimed = (
            await session.scalars(
                update(OutboxMessage)
                .where(
                    OutboxMessage.seq.in_(candidates),
                    OutboxMessage.published_at.is_(None),
                    or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                )
                .values(claimed_until=claim_until)
                .returning(OutboxMessage.seq)
            )
        ).all()
        await session.commit()

    if not claimed:
        return 0
    async with db.session() as session:
        # Rows, not entities: a pass of a sale reads hundreds of messages, and the ORM's
        # identity map and change tracking cost more than the read.
        messages = (
            await session.execute(
                select(
                    OutboxMessage.id, OutboxMessage.kind, OutboxMessage.name, OutboxMessage.payload
                )
                .where(OutboxMessage.seq.in_(claimed))
                .order_by(OutboxMessage.seq)
            )
        ).all()
        rows = []
        for message in messages:
            for handler in registry.handlers_for(message.kind, message.name, message.payload):
                rows.append(
                    {
                        "id": new_id("dlv"),
                        "message_id": message.id,
                        "handler": handler,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "kicked_at": None if handler in hold else now,
                        "created_at": now,
                    }
                )
            if not registry.handlers_for(message.kind, message.name) and message.kind == "job":
                logger.error(
                    "no handler registered for job %s (message %s)", message.name, message.id
                )
        delivery_ids: list[str] = []
        if rows:
            # The rows this pass wrote (a duplicate relay's are ignored, and kicked by it).
            written = await session.execute(
                insert_ignore_rows(Delivery.__table__, db.dialect).returning(  # type: ignore[arg-type]
                    Delivery.id, Delivery.handler
                ),
                rows,
            )
            delivery_ids = [d for d, handler in written.all() if handler not in hold]
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.seq.in_(claimed))
            .values(published_at=utcnow(), claimed_until=None)
        )
        await session.commit()
    if delivery_ids:
        await kick(list(delivery_ids))
    return len(claimed)


async def sweep_deliveries(
    db: Database,
    kick: Kick,
    *,
    batch_size: int = 500,
    hold: Collection[str] = (),
    held_since: datetime | None = None,
) -> int:
    """Kick pending deliveries that are due and not running (lost kicks, retries after backoff,
    deliveries held during a burst).

    Deliveries of the handlers in `hold` are left alone unless they were created before
    `held_since`: held work waits for the end of a burst, but not for ever.
    """
    now = utcnow()
    held = (
        [or_(Delivery.handler.not_in(sorted(hold)), Delivery.created_at < (held_since or now))]
        if hold
        else []
    )
    async with db.session() as session:
        due = (
            await session.scalars(
                update(Delivery)
                .where(
                    Delivery.id.in_(
                        select(Delivery.id)
                        .where(
                            Delivery.status == "pending",
                            Delivery.next_attempt_at <= now,
                            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
                            or_(
                                Delivery.kicked_at.is_(None), Delivery.kicked_at < now - KICK_GRACE
                            ),
                            *held,
                        )
                        .order_by(Delivery.next_attempt_at)
                        .limit(batch_size)
                        # A delivery whose claim is still open is running: not waited for.
                        .with_for_update(skip_locked=True)
                        .scalar_subquery()
                    )
                )
                .values(kicked_at=now)
                .returning(Delivery.id)
            )
        ).all()
        await session.commit()
    if due:
        await kick(list(due))
    return len(due)


async def high_water_mark(db: Database) -> int | None:
    """The outbox's highest sequence number: how many messages were ever written, give or take
    the numbers rolled-back transactions used (the burst gauge's reading)."""
    async with db.session() as session:
        return await session.scalar(select(func.max(OutboxMessage.seq)))


def retry_delay(
    attempt: int, *, base_seconds: float = 2.0, cap_seconds: float = 3600.0
) -> timedelta:
    """Exponential backoff: 2 s, 4 s, 8 s ... capped at an hour."""
    return timedelta(seconds=min(cap_seconds, base_seconds * (2 ** max(0, attempt - 1))))
