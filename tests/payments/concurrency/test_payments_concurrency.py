"""Payments under concurrency, on the real engine with real commits (on PostgreSQL, truly in
parallel): racing refunds never exceed the captured share, racing confirmations and webhook
deliveries capture once, racing deliveries of a dispute open one chargeback, and refunds
racing a dispute never take more than was captured."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from factories.payments import confirm, ledger, paid, share, start
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.models import (
    Chargeback,
    ChargebackAllocation,
    PaymentShare,
    Refund,
    SandboxIntent,
)
from marketplace.payments.providers import ProviderEvent
from marketplace.payments.repository import payment as payments_repo
from marketplace.payments.service import chargebacks


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


async def _open_dispute(container: Container, order_id: str, event_id: str, amount: int) -> bool:
    async with container.uow_factory() as uow:
        payment = await payments_repo.payment_by_order(uow.session, order_id)
        assert payment is not None
        event = ProviderEvent(
            event_id,
            "charge.dispute.created",
            "dispute_opened",
            provider_payment_id=payment.provider_payment_id,
            provider_dispute_id="dp_race",
            dispute_amount=amount,
            dispute_fee=1_500,
        )
        opened = await chargebacks.open_chargeback(uow, payment, event, reverse_commission=True)
        await uow.commit()
    return opened is not None


async def test_racing_deliveries_of_one_dispute_open_one_chargeback(
    live_container: Container,
) -> None:
    await paid(
        live_container,
        [share("vnd_a", vendor_order_id="vo_d1", gross=3_000), share("vnd_b", gross=2_000)],
        order_id="o_d",
    )

    outcomes = await asyncio.gather(
        *(_open_dispute(live_container, "o_d", f"evt_{i}", 5_000) for i in range(5))
    )

    assert outcomes.count(True) == 1
    async with live_container.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Chargeback)) == 1
        assert [kind for kind, _ in await ledger(session)] == ["capture", "fee", "adjustment"]
        reserved = await session.scalar(select(func.sum(PaymentShare.refund_reserved_amount)))
        assert reserved == 5_000


async def test_refunds_racing_a_dispute_never_exceed_the_capture(
    live_container: Container,
) -> None:
    await paid(
        live_container, [share("vnd_race", vendor_order_id="vo_race", gross=10_000)], order_id="o_x"
    )

    outcomes = await asyncio.gather(
        _open_dispute(live_container, "o_x", "evt_x", 10_000),
        *(_refund(live_container, "o_x", f"key-{i}") for i in range(10)),
    )

    refunds_accepted = outcomes[1:].count(True)
    async with live_container.db.session() as session:
        chargeback = await session.scalar(select(Chargeback))
        allocated = await session.scalar(select(func.sum(ChargebackAllocation.amount))) or 0
        reserved = await session.scalar(
            select(PaymentShare.refund_reserved_amount).where(
                PaymentShare.vendor_order_id == "vo_race"
            )
        )
    assert chargeback is not None
    # Whatever the interleaving, refunds and the chargeback's share add up to the capture,
    # and what the chargeback could not take is the platform's, not the vendor's.
    assert refunds_accepted * 1_000 + allocated == 10_000
    assert reserved == 10_000
    assert chargeback.unallocated_amount == 10_000 - allocated
