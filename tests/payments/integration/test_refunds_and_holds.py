"""Refunds and holds on a real database: proportional reversal of the split, the refundable
remainder guarded, idempotency, out-of-order webhooks, and earnings released after the hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import balances, events, ledger, paid, refund, share, start
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.models import (
    Payment,
    PaymentShare,
    Refund,
    SandboxEvent,
    WebhookEvent,
)
from marketplace.payments.providers import RefundRequest
from marketplace.payments.providers.sandbox import SIGNATURE_HEADER, SandboxProvider
from marketplace.payments.service import ledger as ledger_service
from marketplace.payments.service import webhooks
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed

CLEARING = "gateway_clearing:sandbox"
REVENUE = "platform_commission_revenue"
DISCOUNTS = "platform_discount_expense"
TAX = "tax_payable"


def vendor_a() -> payments.VendorShare:
    return share(
        "vnd_a",
        vendor_order_id="vo_a",
        gross=10_000,
        tax=800,
        commission=(500, 300),
        commission_tax=160,
        platform_discount=1_000,
    )


async def _refund_transactions(session: AsyncSession) -> list[list[tuple[str, int]]]:
    return [postings for kind, postings in await ledger(session) if kind == "refund"]


async def test_partial_refunds_reverse_the_split_proportionally_and_exactly_in_total(
    container: Container, session: AsyncSession
) -> None:
    view = await paid(container, [vendor_a()], order_id="ord_r")

    for amount in (5_000, 3_333, 1_667):
        pending = await refund(container, order_id="ord_r", vendor_order_id="vo_a", amount=amount)
        assert pending.status == "pending"
        await container.jobs.drain()  # payments.execute_refund, then the charge.refunded webhook

    assert await _refund_transactions(session) == [
        # tax 400, commission 400, tax on commission 80, platform discount 500 (each half)
        [(CLEARING, -5_000), ("vendor_pending:vnd_a", 4_620), (REVENUE, 400), (TAX, 480),
         (DISCOUNTS, -500)],
        # cumulative 8333: earnings floor(9240*.8333)=7699 -> 3079, tax 666 -> 266, tax on
        # commission 133 -> 53, discount 833 -> 333; commission takes the rounding: 268
        [(CLEARING, -3_333), ("vendor_pending:vnd_a", 3_079), (REVENUE, 268), (TAX, 319),
         (DISCOUNTS, -333)],
        [(CLEARING, -1_667), ("vendor_pending:vnd_a", 1_541), (REVENUE, 132), (TAX, 161),
         (DISCOUNTS, -167)],
    ]  # fmt: skip
    # Everything reversed: only the provider's fee is left.
    assert await balances(session) == {
        ("gateway_fee_expense:sandbox", "USD"): 320,
        (CLEARING, "USD"): -320,
    }
    statuses = (await session.scalars(select(Refund.status).order_by(Refund.id))).all()
    assert statuses == ["succeeded", "succeeded", "succeeded"]
    after = await session.get(Payment, view.id)
    assert after is not None
    assert after.refunded_amount == 10_000
    refunded = await events(session, "payments.refund_succeeded.v1")
    assert [(e["vendor_order_id"], e["amount"]) for e in refunded] == [
        ("vo_a", 5_000),
        ("vo_a", 3_333),
        ("vo_a", 1_667),
    ]


async def test_refund_beyond_the_remainder_is_refused_and_stores_nothing(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, [vendor_a(), share("vnd_b", vendor_order_id="vo_b", gross=4_000)],
               order_id="ord_x")  # fmt: skip
    await refund(container, order_id="ord_x", vendor_order_id="vo_a", amount=6_000)

    with pytest.raises(payments.RefundExceedsRemaining) as raised:
        # The payment has 14000 captured, but this vendor order only 4000 left.
        await refund(container, order_id="ord_x", vendor_order_id="vo_a", amount=4_001)

    assert raised.value.instance_status == 422
    assert raised.value.errors is not None
    assert [(e.loc, e.code) for e in raised.value.errors] == [
        (["body", "amount"], "refund_exceeds_remaining")
    ]
    assert await session.scalar(select(func.count()).select_from(Refund)) == 1
    reserved = await session.scalar(
        select(PaymentShare.refund_reserved_amount).where(PaymentShare.vendor_order_id == "vo_a")
    )
    assert reserved == 6_000
    # Exactly the remainder still fits.
    last = await refund(container, order_id="ord_x", vendor_order_id="vo_a", amount=4_000)
    assert last.amount == 4_000


async def test_a_refund_the_provider_refuses_fails_and_gives_its_amount_back(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, [vendor_a()], order_id="ord_f", payment_method="pm_card_refund_fail")
    requested = await refund(container, order_id="ord_f", vendor_order_id="vo_a", amount=10_000)

    await container.jobs.drain()

    async with container.uow_factory() as uow:
        failed = await payments.get_refund(uow, requested.id)
    assert (failed.status, failed.failure_code) == ("failed", "expired_or_canceled_card")
    assert await _refund_transactions(session) == []
    assert await events(session, "payments.refund_failed.v1") == [
        {
            "refund_id": requested.id,
            "order_id": "ord_f",
            "vendor_order_id": "vo_a",
            "amount": 10_000,
            "currency": "USD",
            "failure_code": "expired_or_canceled_card",
            "failure_message": "Refund refused by the sandbox.",
        }
    ]
    reserved = await session.scalar(
        select(PaymentShare.refund_reserved_amount).where(PaymentShare.vendor_order_id == "vo_a")
    )
    assert reserved == 0  # the whole share can be refunded again (another way)


async def test_the_providers_refund_failed_webhook_settles_the_refund_before_the_job(
    container: Container, session: AsyncSession
) -> None:
    """The job called the provider and died before recording; the provider's
    charge.refund.updated (failed) arrives first, and the retried job changes nothing."""
    await paid(container, [vendor_a()], order_id="ord_w", payment_method="pm_card_refund_fail")
    requested = await refund(container, order_id="ord_w", vendor_order_id="vo_a", amount=2_500)
    row = await session.get(Refund, requested.id)
    assert row is not None
    sandbox = container.payment_gateways["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    intent_id = await _intent_id(session)
    await sandbox.refund(
        RefundRequest(
            row.provider_idempotency_key,
            intent_id,
            2_500,
            "USD",
            {"refund_id": requested.id, "payment_id": requested.payment_id},
        )
    )
    sent = await session.scalar(
        select(SandboxEvent.id).where(SandboxEvent.type == "charge.refund.updated")
    )
    assert sent is not None
    async with container.uow_factory() as uow:
        delivery = await sandbox.signed_delivery(uow, sent)
        assert delivery is not None
        body, headers = delivery
        await webhooks.receive_webhook(
            uow, container.payment_gateways, provider="sandbox", body=body, headers=headers
        )
        await uow.commit()
    stored = await session.scalar(
        select(WebhookEvent.id).where(WebhookEvent.type == "charge.refund.updated")
    )
    assert stored is not None
    async with container.uow_factory() as uow:
        await webhooks.process_webhook_event(uow, container.payment_gateways, event_id=stored)
        await uow.commit()
    async with container.uow_factory() as uow:
        after_webhook = await payments.get_refund(uow, requested.id)

    await container.jobs.drain()  # the refund job, retried: same key, outcome decided

    assert (after_webhook.status, after_webhook.failure_code) == (
        "failed",
        "expired_or_canceled_card",
    )
    assert len(await events(session, "payments.refund_failed.v1")) == 1
    assert await _refund_transactions(session) == []
    reserved = await session.scalar(
        select(PaymentShare.refund_reserved_amount).where(PaymentShare.vendor_order_id == "vo_a")
    )
    assert reserved == 0


async def test_refund_of_an_unpaid_payment_is_refused(
    container: Container, session: AsyncSession
) -> None:
    await start(container, [vendor_a()], order_id="ord_u")

    with pytest.raises(payments.PaymentNotRefundable):
        await refund(container, order_id="ord_u", vendor_order_id="vo_a", amount=100)

    assert await session.scalar(select(func.count()).select_from(Refund)) == 0


async def test_refund_request_is_idempotent_per_key(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, [vendor_a()], order_id="ord_i")

    first = await refund(container, order_id="ord_i", vendor_order_id="vo_a", amount=700, key="r1")
    again = await refund(container, order_id="ord_i", vendor_order_id="vo_a", amount=700, key="r1")
    await container.jobs.drain()

    assert again.id == first.id
    assert await session.scalar(select(func.count()).select_from(Refund)) == 1
    assert len(await _refund_transactions(session)) == 1
    with pytest.raises(ValidationFailed) as raised:
        await refund(container, order_id="ord_i", vendor_order_id="vo_a", amount=800, key="r1")
    assert raised.value.instance_code == "idempotency_key_reused"
    assert await session.scalar(select(func.count()).select_from(Refund)) == 1


async def test_a_refund_webhook_before_the_payment_was_recorded_still_converges(
    container: Container, session: AsyncSession
) -> None:
    """The response of the charge was lost (payment pending here) and the provider's refund
    event is processed before its payment_intent.succeeded: the refund event settles the
    payment, and the late success event changes nothing."""
    started = await start(container, [vendor_a()], payment_method="pm_card_visa_timeout")
    with pytest.raises(payments.ProviderUnavailableError):
        await _confirm(container, started.id)
    sandbox = container.payment_gateways["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    intent_id = await _intent_id(session)
    body = orjson.dumps(
        {
            "id": "evt_refund_first",
            "object": "event",
            "type": "charge.refunded",
            "data": {
                "object": {
                    "object": "charge",
                    "payment_intent": intent_id,
                    "amount_captured": 10_000,
                    "fee": 320,
                    "metadata": {"payment_id": started.id},
                    "refunds": {"data": [{"id": "re_unknown", "amount": 10, "metadata": {}}]},
                }
            },
        }
    )
    headers = {SIGNATURE_HEADER: sandbox.sign(body, int(utcnow().timestamp()))}
    async with container.uow_factory() as uow:
        await webhooks.receive_webhook(
            uow, container.payment_gateways, provider="sandbox", body=body, headers=headers
        )
        await uow.commit()
    refund_event = await session.scalar(
        select(WebhookEvent.id).where(WebhookEvent.provider_event_id == "evt_refund_first")
    )
    assert refund_event is not None
    async with container.uow_factory() as uow:
        await webhooks.process_webhook_event(uow, container.payment_gateways, event_id=refund_event)
        await uow.commit()
    settled = await session.get(Payment, started.id)
    assert settled is not None
    await session.refresh(settled)
    assert settled.status == "succeeded"

    await container.jobs.drain()  # now the sandbox's own payment_intent.succeeded

    assert [kind for kind, _ in await ledger(session)] == ["capture", "fee"]
    assert len(await events(session, "payments.payment_succeeded.v1")) == 1
    statuses = (await session.scalars(select(WebhookEvent.status))).all()
    assert sorted(statuses) == ["processed", "processed"]


async def _confirm(container: Container, payment_id: str) -> payments.PaymentView:
    async with container.uow_factory() as uow:
        view = await payments.confirm_payment(
            uow, container.payment_gateways, payment_id=payment_id
        )
        await uow.commit()
    return view


async def _intent_id(session: AsyncSession) -> str:
    from marketplace.payments.models import SandboxIntent

    found = await session.scalar(select(SandboxIntent.id))
    assert found is not None
    return found


async def _balance(container: Container, vendor_id: str) -> tuple[list[int], list[int]]:
    async with container.uow_factory() as uow:
        result = await ledger_service.vendor_balance(uow, vendor_id)
    return [m.amount for m in result.pending], [m.amount for m in result.available]


async def test_hold_releases_pending_earnings_after_the_period(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, [vendor_a()], order_id="ord_h")
    delivered = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    async with container.uow_factory() as uow:
        await payments.vendor_order_delivered(uow, vendor_order_id="vo_a", delivered_at=delivered)
        # A repeated delivery keeps the first time.
        await payments.vendor_order_delivered(
            uow, vendor_order_id="vo_a", delivered_at=delivered + timedelta(days=3)
        )
        await uow.commit()

    async with container.uow_factory() as uow:
        early = await ledger_service.release_due_holds(
            uow, now=delivered + timedelta(days=7) - timedelta(seconds=1)
        )
        await uow.commit()
    assert (early, await _balance(container, "vnd_a")) == (0, ([9_240], []))

    async with container.uow_factory() as uow:
        released = await ledger_service.release_due_holds(uow, now=delivered + timedelta(days=7))
        again = await ledger_service.release_due_holds(uow, now=delivered + timedelta(days=8))
        await uow.commit()

    assert (released, again) == (1, 0)
    assert await _balance(container, "vnd_a") == ([0], [9_240])
    assert (await ledger(session))[-1] == (
        "release",
        [("vendor_pending:vnd_a", 9_240), ("vendor_available:vnd_a", -9_240)],
    )

    # After the hold, a refund comes out of available.
    await refund(container, order_id="ord_h", vendor_order_id="vo_a", amount=5_000)
    await container.jobs.drain()
    assert await _balance(container, "vnd_a") == ([0], [9_240 - 4_620])


async def test_a_hold_over_a_fully_refunded_vendor_order_posts_nothing(
    container: Container, session: AsyncSession
) -> None:
    await paid(container, [vendor_a()], order_id="ord_z")
    await refund(container, order_id="ord_z", vendor_order_id="vo_a", amount=10_000)
    await container.jobs.drain()
    delivered = datetime(2026, 3, 1, tzinfo=UTC)
    async with container.uow_factory() as uow:
        await payments.vendor_order_delivered(uow, vendor_order_id="vo_a", delivered_at=delivered)
        released = await ledger_service.release_due_holds(uow, now=delivered + timedelta(days=7))
        await uow.commit()

    assert released == 1
    assert [kind for kind, _ in await ledger(session)] == ["capture", "fee", "refund"]
    assert await _balance(container, "vnd_a") == ([0], [])


async def test_release_job_is_scheduled_every_minute(container: Container) -> None:
    schedules = [(p.job, p.every) for p in container.registry.periodic]
    assert ("payments.release_holds", timedelta(minutes=1)) in schedules


async def test_delivery_of_an_unknown_vendor_order_is_refused(container: Container) -> None:
    async with container.uow_factory() as uow:
        with pytest.raises(payments.VendorOrderNotFound):
            await payments.vendor_order_delivered(
                uow, vendor_order_id="vo_nope", delivered_at=utcnow()
            )
