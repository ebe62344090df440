"""Chargebacks on a real database: a provider's dispute charged to the payment's vendors
(pending inside the hold, available after, negative if need be), posted once whatever the
deliveries, given back when won, kept off when lost, and never more than was captured."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import balances, events, ledger, paid, refund, share
from factories.payouts import earn, payable_vendor, payouts_of
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.errors import PayoutNothingAvailable
from marketplace.payments.models import (
    Chargeback,
    ChargebackAllocation,
    LedgerTransaction,
    Payment,
    PaymentShare,
    SandboxEvent,
    WebhookEvent,
)
from marketplace.payments.providers import ProviderEvent, RefundRequest
from marketplace.payments.providers.sandbox import CHARGEBACK_METHOD, SandboxProvider
from marketplace.payments.service import chargebacks, payouts, webhooks
from marketplace.payments.service import ledger as ledger_service
from marketplace.platform.clock import utcnow

CLEARING = "gateway_clearing:sandbox"
REVENUE = "platform_commission_revenue"
DISPUTE_FEE = "gateway_dispute_fee_expense:sandbox"


def _sandbox(container: Container) -> SandboxProvider:
    sandbox = container.payment_gateways["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    return sandbox


def _two_vendors() -> list[payments.VendorShare]:
    return [
        share("vnd_a", vendor_order_id="vo_a", gross=6_000, commission=(600,)),
        share("vnd_b", vendor_order_id="vo_b", gross=4_000, commission=(400,)),
    ]


async def _balance(container: Container, vendor_id: str) -> tuple[list[int], list[int]]:
    async with container.uow_factory() as uow:
        result = await ledger_service.vendor_balance(uow, vendor_id)
    return [m.amount for m in result.pending], [m.amount for m in result.available]


async def _chargeback_transactions(session: AsyncSession) -> list[list[tuple[str, int]]]:
    keys = (
        await session.scalars(
            select(LedgerTransaction.id)
            .where(LedgerTransaction.key.like("chargeback%"))
            .order_by(LedgerTransaction.id)
        )
    ).all()
    return [
        postings
        for (kind, postings), tid in zip(
            await ledger(session),
            (await session.scalars(select(LedgerTransaction.id).order_by(LedgerTransaction.id))),
            strict=True,
        )
        if tid in keys and kind == "adjustment"
    ]


async def _deliver_and_release(container: Container, *vendor_orders: str) -> None:
    delivered = utcnow() - timedelta(days=8)
    async with container.uow_factory() as uow:
        for vo in vendor_orders:
            await payments.vendor_order_delivered(uow, vendor_order_id=vo, delivered_at=delivered)
        await ledger_service.release_due_holds(uow, now=utcnow())
        await uow.commit()


async def test_an_opened_dispute_charges_the_vendors_in_proportion_from_pending(
    container: Container, session: AsyncSession
) -> None:
    view = await paid(
        container, _two_vendors(), order_id="ord_cb", payment_method=CHARGEBACK_METHOD
    )

    await container.jobs.drain()  # the sandbox's webhooks: payment succeeded, dispute created

    [row] = (await session.scalars(select(Chargeback))).all()
    assert (row.status, row.amount, row.fee_amount, row.unallocated_amount, row.reason) == (
        "open",
        10_000,
        1_500,
        0,
        "fraudulent",
    )
    allocations = (
        await session.scalars(
            select(ChargebackAllocation).order_by(ChargebackAllocation.vendor_order_id)
        )
    ).all()
    assert [
        (a.vendor_order_id, a.amount, a.range_start, a.from_available) for a in allocations
    ] == [
        ("vo_a", 6_000, 0, False),
        ("vo_b", 4_000, 0, False),
    ]
    assert await _chargeback_transactions(session) == [
        [
            (CLEARING, -6_000), ("vendor_pending:vnd_a", 5_400), (REVENUE, 600),
            (CLEARING, -4_000), ("vendor_pending:vnd_b", 3_600), (REVENUE, 400),
            (DISPUTE_FEE, 1_500), (CLEARING, -1_500),
        ]
    ]  # fmt: skip
    assert await _balance(container, "vnd_a") == ([0], [])
    assert await _balance(container, "vnd_b") == ([0], [])
    # Refunds and chargebacks together never exceed the capture: nothing is left to refund.
    with pytest.raises(payments.RefundExceedsRemaining):
        await refund(container, order_id="ord_cb", vendor_order_id="vo_a", amount=1)
    opened = await events(session, "payments.chargeback_opened.v1")
    assert opened == [
        {
            "chargeback_id": row.id,
            "payment_id": view.id,
            "order_id": "ord_cb",
            "amount": 10_000,
            "currency": "USD",
            "reason": "fraudulent",
            "vendor_ids": ["vnd_a", "vnd_b"],
        }
    ]


async def test_a_dispute_after_the_hold_can_drive_the_available_balance_negative(
    container: Container, session: AsyncSession
) -> None:
    """With commission not reversed the vendor bears the whole sale; its available balance
    shows the debt as a negative amount."""
    container.payment_gateways.chargeback_reverses_commission = False
    await paid(container, _two_vendors()[:1], order_id="ord_neg", payment_method=CHARGEBACK_METHOD)
    await _deliver_and_release(container, "vo_a")
    assert await _balance(container, "vnd_a") == ([0], [5_400])

    await container.jobs.drain()

    assert await _balance(container, "vnd_a") == ([0], [-600])
    assert await _chargeback_transactions(session) == [
        [(CLEARING, -6_000), ("vendor_available:vnd_a", 5_400),
         ("vendor_available:vnd_a", 600), (DISPUTE_FEE, 1_500), (CLEARING, -1_500)]
    ]  # fmt: skip
    allocation = await session.scalar(select(ChargebackAllocation))
    assert allocation is not None
    assert allocation.from_available is True


async def test_a_duplicate_dispute_webhook_posts_one_transaction(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, _two_vendors(), order_id="ord_dup", payment_method=CHARGEBACK_METHOD)
    await container.jobs.drain()
    sandbox = _sandbox(container)
    created = await session.scalar(
        select(SandboxEvent.id).where(SandboxEvent.type == "charge.dispute.created")
    )
    assert created is not None
    before = await balances(session)

    # The provider redelivers the same event, then sends the dispute again under a new event
    # id (as after a retry on its side): neither applies it twice.
    async with container.uow_factory() as uow:
        delivery = await sandbox.signed_delivery(uow, created)
        assert delivery is not None
        body, headers = delivery
        again = await webhooks.receive_webhook(
            uow, container.payment_gateways, provider="sandbox", body=body, headers=headers
        )
        payload = orjson.loads(body)
        payload["id"] = "evt_redelivered"
        resent = orjson.dumps(payload)
        headers = {"sandbox-signature": sandbox.sign(resent, int(utcnow().timestamp()))}
        other = await webhooks.receive_webhook(
            uow, container.payment_gateways, provider="sandbox", body=resent, headers=headers
        )
        await uow.commit()
    await container.jobs.drain()

    assert (again.duplicate, other.duplicate) == (True, False)
    assert await session.scalar(select(func.count()).select_from(Chargeback)) == 1
    assert len(await _chargeback_transactions(session)) == 1
    assert await balances(session) == before
    ignored = await session.scalar(
        select(WebhookEvent.status).where(WebhookEvent.provider_event_id == "evt_redelivered")
    )
    assert ignored == "ignored"
    assert len(await events(session, "payments.chargeback_opened.v1")) == 1


async def test_a_won_dispute_restores_every_balance(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, _two_vendors(), order_id="ord_won", payment_method=CHARGEBACK_METHOD)
    before_dispute = await balances(session)
    await container.jobs.drain()
    dispute = await _sandbox(container).dispute_of(await _intent(session))
    assert dispute is not None
    # The hold of vo_a ends while the dispute is open: its part comes back to available.
    await _deliver_and_release(container, "vo_a")

    await _sandbox(container).close_dispute(dispute, "won")
    await container.jobs.drain()
    await _sandbox(container).close_dispute(dispute, "lost")  # decided already: nothing
    await container.jobs.drain()

    row = await session.scalar(select(Chargeback))
    assert row is not None
    assert row.status == "won"
    after = await balances(session)
    moved = {
        ("vendor_pending:vnd_a", "USD"): -5_400,
        ("vendor_available:vnd_a", "USD"): 0,
    }
    expected = {k: v for k, v in before_dispute.items() if k not in moved}
    expected[("vendor_available:vnd_a", "USD")] = -5_400
    assert after == expected
    assert await _balance(container, "vnd_a") == ([0], [5_400])
    assert await _balance(container, "vnd_b") == ([3_600], [])
    reserved = dict(
        (
            await session.execute(
                select(PaymentShare.vendor_order_id, PaymentShare.refund_reserved_amount)
            )
        ).all()
    )
    assert reserved == {"vo_a": 0, "vo_b": 0}
    closed = await events(session, "payments.chargeback_closed.v1")
    assert [(e["outcome"], e["amount"], e["vendor_ids"]) for e in closed] == [
        ("won", 10_000, ["vnd_a", "vnd_b"])
    ]


async def test_a_lost_dispute_leaves_the_amount_charged(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, _two_vendors(), order_id="ord_lost", payment_method=CHARGEBACK_METHOD)
    await container.jobs.drain()
    opened = await balances(session)
    dispute = await _sandbox(container).dispute_of(await _intent(session))
    assert dispute is not None

    await _sandbox(container).close_dispute(dispute, "lost")
    await container.jobs.drain()

    assert await balances(session) == opened
    assert len(await _chargeback_transactions(session)) == 1
    async with container.uow_factory() as uow:
        view = await chargebacks.get_chargeback(
            uow, (await session.scalars(select(Chargeback.id))).one()
        )
    assert (view.status, view.closed_at is not None) == ("lost", True)
    closed = await events(session, "payments.chargeback_closed.v1")
    assert [e["outcome"] for e in closed] == ["lost"]


async def test_a_dispute_on_a_partially_refunded_payment_takes_only_what_is_left(
    container: Container, session: AsyncSession
) -> None:
    """The sandbox disputes what the customer still paid (captured - refunded); we charge the
    vendor orders only what is still theirs. A dispute of more than that (the provider
    disputing refunded money) is the platform's loss, never the vendors', and refunds plus
    chargebacks stay within the capture."""
    await paid(container, _two_vendors(), order_id="ord_part", payment_method="pm_card_visa")
    await refund(container, order_id="ord_part", vendor_order_id="vo_a", amount=3_000)
    await container.jobs.drain()
    payment = await _payment(session)
    event = _dispute_event(payment, amount=8_000)

    async with container.uow_factory() as uow:
        opened = await chargebacks.open_chargeback(uow, payment, event, reverse_commission=True)
        await uow.commit()

    assert opened is not None
    allocations = (
        await session.scalars(
            select(ChargebackAllocation).order_by(ChargebackAllocation.vendor_order_id)
        )
    ).all()
    # vo_a has 3000 left, vo_b 4000: both taken whole, 1000 nobody's share.
    assert [(a.vendor_order_id, a.amount, a.range_start) for a in allocations] == [
        ("vo_a", 3_000, 3_000),
        ("vo_b", 4_000, 0),
    ]
    assert opened.unallocated_amount == 1_000
    reserved = dict(
        (
            await session.execute(
                select(PaymentShare.vendor_order_id, PaymentShare.refund_reserved_amount)
            )
        ).all()
    )
    assert reserved == {"vo_a": 6_000, "vo_b": 4_000}
    txn = (await _chargeback_transactions(session))[0]
    assert ("platform_dispute_loss", 1_000) in txn
    assert sum(v for a, v in txn if a == CLEARING) == -8_000
    # vo_a's earnings: 5400 - 2700 refunded - 2700 charged back: exactly zero.
    assert await _balance(container, "vnd_a") == ([0], [])


async def test_a_closing_event_before_the_opening_one_opens_then_closes(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, _two_vendors(), order_id="ord_ooo", payment_method="pm_card_visa")
    await container.jobs.drain()
    payment = await _payment(session)
    closed = _dispute_event(payment, amount=10_000, outcome="won")

    async with container.uow_factory() as uow:
        applied = await chargebacks.close_chargeback(uow, payment, closed, reverse_commission=True)
        await uow.commit()

    assert applied is True
    row = await session.scalar(select(Chargeback))
    assert row is not None
    assert row.status == "won"
    assert len(await _chargeback_transactions(session)) == 2
    # Opened and reversed: the vendors are where they were.
    assert await _balance(container, "vnd_a") == ([5_400], [])


async def _intent(session: AsyncSession) -> str:
    payment = await _payment(session)
    assert payment.provider_payment_id is not None
    return payment.provider_payment_id


async def _payment(session: AsyncSession) -> Payment:
    found = await session.scalar(select(Payment).execution_options(populate_existing=True))
    assert found is not None
    return found


def _dispute_event(
    payment: Payment, *, amount: int, outcome: Literal["won", "lost"] | None = None
) -> ProviderEvent:
    return ProviderEvent(
        "evt_test",
        "charge.dispute.closed" if outcome else "charge.dispute.created",
        "dispute_closed" if outcome else "dispute_opened",
        provider_payment_id=payment.provider_payment_id,
        provider_dispute_id="dp_test",
        dispute_amount=amount,
        dispute_fee=0,
        dispute_currency="USD",
        dispute_reason="product_not_received",
        dispute_outcome=outcome,
    )


async def test_the_sandbox_refuses_to_refund_disputed_money(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, _two_vendors(), order_id="ord_sbx", payment_method=CHARGEBACK_METHOD)
    intent = await _intent(session)

    result = await _sandbox(container).refund(
        RefundRequest("sbx-refund-1", intent, 1, "USD", {"payment_id": "pay_x"})
    )

    assert (result.status, result.failure_code) == ("failed", "amount_too_large")
    dispute = await _sandbox(container).dispute_of(intent)
    assert dispute is not None
    await _sandbox(container).close_dispute(dispute, "won")  # reinstated: refundable again
    again = await _sandbox(container).refund(
        RefundRequest("sbx-refund-2", intent, 10_000, "USD", {"payment_id": "pay_x"})
    )
    assert again.status == "succeeded"


async def _pay_out(container: Container, vendor_id: str, key: str) -> None:
    async with container.uow_factory() as uow:
        await payouts.request_payout(
            uow,
            container.payment_gateways,
            vendor_id=vendor_id,
            amount=None,
            idempotency_key=key,
            actor_id="usr_test",
            actor_role="vendor:owner",
        )
        await uow.commit()
    await container.jobs.drain()  # the payout job, then the sandbox's payout.paid webhook
    await container.jobs.drain()


async def _dispute(container: Container, payment: Payment, outcome: str | None) -> None:
    event = ProviderEvent(
        f"evt_after_payout_{outcome}",
        "charge.dispute.closed" if outcome else "charge.dispute.created",
        "dispute_closed" if outcome else "dispute_opened",
        provider_payment_id=payment.provider_payment_id,
        provider_dispute_id="dp_after_payout",
        dispute_amount=3_000,
        dispute_fee=1_500,
        dispute_currency="EUR",
        dispute_reason="fraudulent",
        dispute_outcome="won" if outcome == "won" else None,
    )
    async with container.uow_factory() as uow:
        if outcome is None:
            assert await chargebacks.open_chargeback(uow, payment, event, reverse_commission=True)
        else:
            assert await chargebacks.close_chargeback(uow, payment, event, reverse_commission=True)
        await uow.commit()


async def test_a_dispute_after_a_payout_is_a_debt_no_payout_takes_until_covered(
    container: Container, session: AsyncSession
) -> None:
    """The vendor was paid its earnings, then the sale is disputed: its available balance is
    the debt, nothing is paid out meanwhile, and once the dispute is won new earnings are
    payable again. Clearing holds captured - fees - dispute fees - paid out throughout."""
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 3_000)
    await _pay_out(container, vendor.id, "before-dispute")
    payment = await _payment(session)

    await _dispute(container, payment, None)
    after_dispute = await _balance(container, vendor.id)
    with pytest.raises(PayoutNothingAvailable):
        await _pay_out(container, vendor.id, "while-disputed")
    await _dispute(container, payment, "won")
    await earn(container, vendor.id, 1_000)
    await _pay_out(container, vendor.id, "after-won")

    assert after_dispute == ([0], [-3_000])
    assert await payouts_of(session, vendor.id) == [(3_000, "EUR", "paid"), (1_000, "EUR", "paid")]
    assert await _balance(container, vendor.id) == ([0], [0])
    fees = int(await session.scalar(select(func.sum(Payment.fee_amount))) or 0)
    assert fees > 0
    sums = await balances(session)
    # Captured 4 000, every fee, the dispute fee given back when won, 4 000 paid out.
    assert sums[(CLEARING, "EUR")] == 4_000 - fees - 4_000
    assert sums.get((DISPUTE_FEE, "EUR"), 0) == 0
