"""Payments under concurrency, on the real engine with real commits (on PostgreSQL, truly in
parallel): racing refunds never exceed the captured share, racing confirmations and webhook
deliveries capture once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from factories.payments import confirm, ledger, paid, share, start
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.models import PaymentShare, Refund, SandboxIntent


async def _refund(container: Container, order_id: str, key: str) -> bool:
    async with container.uow_factory() as uow:
        try:
            await payments.request_refund(
                uow,
                order_id=order_id,
                vendor_order_id="vo_race",
                amount=1_000,
                reason="race",
                idempotency_key=key,
                actor_id="usr_race",
            )
        except payments.RefundExceedsRemaining:
            return False
        await uow.commit()
    return True


async def test_twenty_refunds_of_a_tenth_each_exactly_ten_are_accepted(
    live_container: Container,
) -> None:
    await paid(
        live_container, [share("vnd_race", vendor_order_id="vo_race", gross=10_000)], order_id="o_r"
    )

    outcomes = await asyncio.gather(
        *(_refund(live_container, "o_r", f"key-{i}") for i in range(20))
    )

    assert (outcomes.count(True), outcomes.count(False)) == (10, 10)
    async with live_container.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Refund)) == 10
        reserved = await session.scalar(
            select(PaymentShare.refund_reserved_amount).where(
                PaymentShare.vendor_order_id == "vo_race"
            )
        )
        assert reserved == 10_000


async def test_racing_confirmations_and_webhooks_capture_once(live_container: Container) -> None:
    started = await start(
        live_container, [share("vnd_race", gross=2_500, commission=(250,))], order_id="o_c"
    )

    views = await asyncio.gather(*(confirm(live_container, started.id) for _ in range(5)))
    await live_container.jobs.drain()

    assert {v.status for v in views} == {"succeeded"}
    async with live_container.db.session() as session:
        assert [kind for kind, _ in await ledger(session)] == ["capture", "fee"]
        assert await session.scalar(select(func.count()).select_from(SandboxIntent)) == 1
