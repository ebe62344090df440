"""The same event handled by several workers at once (a redelivery racing the first run),
on the real engine with real commits: one delivery per recipient and channel, one feed
entry, one send (made by the run that wrote the delivery, right after its commit)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from factories.identity import create_user
from marketplace.bootstrap import Container
from marketplace.notifications import handlers
from marketplace.notifications.models import Delivery, Notification
from marketplace.notifications.service.dispatch import SEND_JOB
from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message
from marketplace.platform.models import OutboxMessage


async def test_five_concurrent_runs_of_one_event_write_one_delivery(
    live_container: Container,
) -> None:
    customer = await create_user(live_container, email="race@example.com")
    message = Message(
        id="msg_race_1",
        kind="event",
        name="orders.vendor_order_canceled.v1",
        payload={
            "vendor_order_id": "vo_1",
            "order_id": "ord_1",
            "vendor_id": "ven_1",
            "customer_id": customer.id,
            "canceled_by": "vendor",
            "reason": "out of stock",
        },
        occurred_at=utcnow(),
        attempt=1,
    )

    async def run() -> None:
        async with live_container.uow_factory() as uow:
            await handlers.on_event(uow, message)
            await uow.commit()

    await asyncio.gather(*(run() for _ in range(5)))

    async with live_container.db.session() as session:
        deliveries = (
            await session.execute(
                select(
                    Delivery.channel, Delivery.address, Delivery.status, Delivery.attempts
                ).where(Delivery.event_id == message.id)
            )
        ).all()
        feed = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.event_id == message.id)
        )
        jobs = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.name == SEND_JOB)
        )
    assert [tuple(d) for d in deliveries] == [("email", "race@example.com", "sent", 1)]
    assert feed == 1
    assert jobs == 0  # no job per delivery: the composing run sent it
