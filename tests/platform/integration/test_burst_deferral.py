"""Deferrable deliveries during a burst: written, held, released after it or after the maximum."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.bootstrap import Container
from marketplace.platform.burst import BurstGauge, BurstPolicy
from marketplace.platform.clock import utcnow
from marketplace.platform.jobs import run_delivery
from marketplace.platform.messaging import Message
from marketplace.platform.models import Delivery
from marketplace.platform.outbox import high_water_mark, relay_once, sweep_deliveries
from marketplace.platform.uow import UnitOfWork
from marketplace.platform.worker import JobRuntime
from support import NoteWritten

RECEIPT = "tests.render_receipt"  # deferrable: a document nobody waits on by the second
CAPTURE = "tests.capture_payment"  # never held


class Collect:
    def __init__(self) -> None:
        self.kicked: list[str] = []

    async def __call__(self, delivery_ids: Sequence[str]) -> None:
        self.kicked.extend(delivery_ids)


def subscribe(container: Container, ran: list[str]) -> None:
    @container.registry.subscribe(NoteWritten, name=RECEIPT, deferrable=True)
    async def render(uow: UnitOfWork, message: Message) -> None:
        ran.append(RECEIPT)

    @container.registry.subscribe(NoteWritten, name=CAPTURE)
    async def capture(uow: UnitOfWork, message: Message) -> None:
        ran.append(CAPTURE)


async def publish_notes(container: Container, count: int = 1) -> None:
    async with container.uow_factory() as uow:
        for n in range(count):
            uow.publish(NoteWritten(text=f"note {n}"))
        await uow.commit()


async def handlers_of(session: AsyncSession, delivery_ids: Sequence[str]) -> list[str]:
    rows = await session.scalars(select(Delivery.handler).where(Delivery.id.in_(delivery_ids)))
    return sorted(rows.all())


async def test_held_deliveries_are_written_but_only_the_others_are_kicked(
    container: Container, session: AsyncSession
) -> None:
    subscribe(container, [])
    await publish_notes(container)
    transport = Collect()

    relayed = await relay_once(container.db, container.registry, transport, hold={RECEIPT})

    assert relayed == 1
    assert await handlers_of(session, transport.kicked) == [CAPTURE]
    held = (await session.execute(select(Delivery).where(Delivery.handler == RECEIPT))).scalar_one()
    assert (held.status, held.kicked_at) == ("pending", None)


async def test_the_sweeper_holds_them_during_the_burst_and_kicks_them_after(
    container: Container, session: AsyncSession
) -> None:
    subscribe(container, [])
    await publish_notes(container)
    await relay_once(container.db, container.registry, Collect(), hold={RECEIPT})
    long_ago = utcnow() - timedelta(hours=1)

    during = Collect()
    await sweep_deliveries(container.db, during, hold={RECEIPT}, held_since=long_ago)
    assert during.kicked == []

    after = Collect()
    await sweep_deliveries(container.db, after)
    assert await handlers_of(session, after.kicked) == [RECEIPT]
    # Kicked once: the next sweep leaves it to the broker for the kick's grace period.
    again = Collect()
    await sweep_deliveries(container.db, again)
    assert again.kicked == []


async def test_a_delivery_held_longer_than_the_maximum_runs_even_during_a_burst(
    container: Container, session: AsyncSession
) -> None:
    subscribe(container, [])
    await publish_notes(container)
    await relay_once(container.db, container.registry, Collect(), hold={RECEIPT})
    await session.execute(
        update(Delivery)
        .where(Delivery.handler == RECEIPT)
        .values(created_at=utcnow() - timedelta(minutes=16))
    )
    await session.commit()

    transport = Collect()
    await sweep_deliveries(
        container.db, transport, hold={RECEIPT}, held_since=utcnow() - timedelta(minutes=15)
    )
    assert await handlers_of(session, transport.kicked) == [RECEIPT]


async def test_a_runtime_in_a_burst_holds_deferrable_work_and_runs_it_once_the_burst_is_over(
    container: Container, session: AsyncSession
) -> None:
    ran: list[str] = []
    subscribe(container, ran)
    runtime = JobRuntime(
        container.uow_factory,
        container.registry,
        inline=True,
        burst=BurstPolicy(threshold=20, window=5, cooldown=10, sample_every=1),
    )
    await runtime.startup()
    try:
        loop_now = asyncio.get_running_loop().time()
        start = await high_water_mark(container.db) or 0
        runtime.burst.observe(loop_now - 2, start)
        await publish_notes(container, count=50)  # 50 messages in 2 s: 25 a second
        runtime.burst.observe(loop_now, await high_water_mark(container.db))
        assert runtime.burst.rate >= 20
        assert RECEIPT in runtime.held_handlers()

        while await runtime._relay_step():
            pass
        await runtime.broker.wait_all()  # type: ignore[attr-defined]
        assert ran.count(CAPTURE) == 50
        assert RECEIPT not in ran
        await runtime._sweep_step()
        await runtime.broker.wait_all()  # type: ignore[attr-defined]
        assert RECEIPT not in ran

        # Later (the gauge's readings shifted back in time rather than the test waiting): the
        # last reading at the burst rate is more than the cooldown ago, and the sweeper's
        # next step hands the held deliveries over.
        later = BurstGauge(runtime.burst.policy)
        later.observe(loop_now - 13, start)
        later.observe(loop_now - 11, await high_water_mark(container.db))
        assert later.rate >= 20
        runtime.burst = later
        assert runtime.held_handlers() == frozenset()
        await runtime._sweep_step()
        await runtime.broker.wait_all()  # type: ignore[attr-defined]
        assert ran.count(RECEIPT) == 50
        statuses = (await session.scalars(select(Delivery.status))).all()
        assert set(statuses) == {"succeeded"}
    finally:
        await runtime.stop()


async def test_draining_runs_deferrable_work_even_in_a_burst(container: Container) -> None:
    ran: list[str] = []
    subscribe(container, ran)
    container.jobs.burst = BurstGauge(BurstPolicy(threshold=1))
    loop_now = asyncio.get_running_loop().time()
    container.jobs.burst.observe(loop_now - 1, 0)
    container.jobs.burst.observe(loop_now, 10_000)
    assert RECEIPT in container.jobs.held_handlers()

    await publish_notes(container)
    await container.jobs.drain()

    assert sorted(ran) == [CAPTURE, RECEIPT]


async def test_draining_runs_the_work_a_burst_held_earlier(container: Container) -> None:
    ran: list[str] = []
    subscribe(container, ran)
    container.jobs.burst = BurstGauge(BurstPolicy(threshold=1))
    loop_now = asyncio.get_running_loop().time()
    container.jobs.burst.observe(loop_now - 1, 0)
    container.jobs.burst.observe(loop_now, 10_000)
    await publish_notes(container)
    # Relayed during the burst: the receipt's delivery is written and held, not kicked.
    assert await container.jobs._relay_pass() > 0
    await container.jobs.broker.wait_all()  # type: ignore[attr-defined]
    assert ran == [CAPTURE]

    await container.jobs.drain()

    assert sorted(ran) == [CAPTURE, RECEIPT]


def test_checkout_follow_ups_wait_in_a_burst_and_money_never_does(container: Container) -> None:
    deferrable = container.registry.deferrable
    assert {
        "orders.issue_documents",
        "notifications.on_orders.order_placed",
        "notifications.on_orders.vendor_order_placed",
        "notifications.on_orders.receipt_issued",
        "notifications.on_orders.vendor_statement_issued",
    } <= deferrable
    for never in (
        "orders.follow_payment_succeeded",
        "orders.follow_refund",
        "payments.execute_refund",
        "payments.execute_payout",
        "payments.process_webhook_event",
        "inventory.release_expired_reservations",
    ):
        assert container.registry.handler(never) is not None
        assert never not in deferrable


async def test_a_delivery_kicked_before_the_burst_is_handed_back_unrun_and_runs_after(
    container: Container, session: AsyncSession
) -> None:
    ran: list[str] = []
    subscribe(container, ran)
    await publish_notes(container)
    queued = Collect()  # both kicked before the burst began: in the broker's queue
    await relay_once(container.db, container.registry, queued)
    by_handler = {
        handler: delivery_id
        for delivery_id, handler in (
            await session.execute(select(Delivery.id, Delivery.handler))
        ).all()
    }
    uow_factory, registry = container.uow_factory, container.registry
    held_since = utcnow() - timedelta(minutes=15)

    receipt = await run_delivery(
        uow_factory, registry, by_handler[RECEIPT], hold={RECEIPT}, held_since=held_since
    )
    capture = await run_delivery(
        uow_factory, registry, by_handler[CAPTURE], hold={RECEIPT}, held_since=held_since
    )

    assert (receipt.outcome, capture.outcome) == ("held", "succeeded")
    assert ran == [CAPTURE]
    handed_back = await session.get(Delivery, by_handler[RECEIPT], populate_existing=True)
    assert handed_back is not None
    assert (handed_back.status, handed_back.attempts) == ("pending", 0)
    assert (handed_back.kicked_at, handed_back.locked_until) == (None, None)

    # Older than the maximum deferral: it runs, burst or not.
    late = await run_delivery(
        uow_factory, registry, by_handler[RECEIPT], hold={RECEIPT}, held_since=utcnow()
    )
    assert late.outcome == "succeeded"
    assert ran == [CAPTURE, RECEIPT]
