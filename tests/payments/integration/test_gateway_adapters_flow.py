"""Checkout's payment protocol and the refund job on the real gateway adapters, built by the
composition root from settings, with the gateways' HTTP intercepted: what a success, a
decline and a timeout leave in our payment and ledger, and that a retry sends the key
persisted before the first call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import responses
import respx
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import ledger, share
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.errors import ProviderRejectedError, ProviderUnavailableError
from marketplace.payments.models import Payment, Refund

STRIPE = "https://api.stripe.com/v1"
RAZORPAY = "https://api.razorpay.com/v1"


@dataclass(frozen=True)
class Started:
    id: str
    order_id: str
    provider_idempotency_key: str


async def _start(container: Container, provider: str, method: str, currency: str) -> Started:
    async with container.uow_factory() as uow:
        view = await payments.start_payment(
            uow,
            order_id=f"ord_{provider}_{method[-4:]}",
            customer_id="usr_customer",
            currency=currency,
            amount=2_000,
            provider=provider,
            payment_method=method,
            shares=[share("vnd_flow", gross=2_000, commission=(200,), vendor_order_id="vo_flow")],
            idempotency_key="checkout-flow",
        )
        await uow.commit()
    async with container.uow_factory() as uow:
        payment = await uow.session.get(Payment, view.id)
        assert payment is not None
        return Started(payment.id, payment.order_id, payment.provider_idempotency_key)


async def _confirm(container: Container, payment_id: str) -> payments.PaymentView:
    async with container.uow_factory() as uow:
        view = await payments.confirm_payment(
            uow, container.payment_gateways, payment_id=payment_id
        )
        await uow.commit()
    return view


def _intent(status: str, payment_id: str) -> dict[str, Any]:
    return {
        "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "object": "payment_intent",
        "amount": 2_000,
        "amount_received": 2_000 if status == "succeeded" else 0,
        "currency": "usd",
        "status": status,
        "metadata": {"payment_id": payment_id},
        "latest_charge": {
            "id": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
            "object": "charge",
            "balance_transaction": {
                "id": "txn_3MtwBwLkdIwHu7ix0Jg2fQ3x",
                "object": "balance_transaction",
                "amount": 2_000,
                "currency": "usd",
                "fee": 88,
                "net": 1_912,
                "type": "charge",
            },
        },
    }


@respx.mock
async def test_a_stripe_timeout_leaves_the_payment_pending_and_the_retry_sends_the_same_key(
    respx_mock: respx.MockRouter, gateways_container: Container, session: AsyncSession
) -> None:
    payment = await _start(gateways_container, "stripe", "pm_1MtwBwLkdIwHu7ixVisa", "USD")
    route = respx_mock.post(f"{STRIPE}/payment_intents")
    route.side_effect = httpx.ConnectTimeout("timed out")

    with pytest.raises(ProviderUnavailableError):
        await _confirm(gateways_container, payment.id)
    pending = await payments_view(session, payment.id)
    route.side_effect = None
    route.return_value = httpx.Response(200, json=_intent("succeeded", payment.id))
    settled = await _confirm(gateways_container, payment.id)

    assert pending == ("pending", 0, 0)
    assert (settled.status, settled.captured_amount) == ("succeeded", 2_000)
    assert await payments_view(session, payment.id) == ("succeeded", 2_000, 88)
    # The SDK retried the timeout itself (twice), then our retry: one key for all of them.
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert keys == [payment.provider_idempotency_key] * 4
    assert [kind for kind, _ in await ledger(session)] == ["capture", "fee"]


@respx.mock
async def test_a_stripe_decline_fails_the_payment_and_posts_nothing(
    respx_mock: respx.MockRouter, gateways_container: Container, session: AsyncSession
) -> None:
    payment = await _start(gateways_container, "stripe", "pm_card_chargeDeclined", "USD")
    respx_mock.post(f"{STRIPE}/payment_intents").respond(
        402,
        json={
            "error": {
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
                "payment_intent": _intent("requires_payment_method", payment.id),
                "type": "card_error",
            }
        },
    )

    view = await _confirm(gateways_container, payment.id)

    assert (view.status, view.failure_code, view.failure_message) == (
        "failed",
        "generic_decline",
        "Your card was declined.",
    )
    assert await ledger(session) == []


@respx.mock
async def test_refused_credentials_are_a_502_and_the_payment_stays_pending(
    respx_mock: respx.MockRouter, gateways_container: Container, session: AsyncSession
) -> None:
    payment = await _start(gateways_container, "stripe", "pm_1MtwBwLkdIwHu7ixVisa", "USD")
    respx_mock.post(f"{STRIPE}/payment_intents").respond(
        401,
        json={
            "error": {
                "message": "Invalid API Key provided: sk_test_****7ix",
                "type": "invalid_request_error",
            }
        },
    )

    with pytest.raises(ProviderRejectedError) as refused:
        await _confirm(gateways_container, payment.id)

    assert (refused.value.status, refused.value.code) == (502, "payment_provider_error")
    assert "sk_test" not in str(refused.value)
    assert await payments_view(session, payment.id) == ("pending", 0, 0)
    assert await ledger(session) == []


async def test_a_razorpay_refund_job_sends_the_persisted_key_and_settles_the_refund(
    gateways_container: Container, session: AsyncSession
) -> None:
    payment = await _start(gateways_container, "razorpay", "pay_29QQoUBi66xm2f", "INR")
    entity = {
        "id": "pay_29QQoUBi66xm2f",
        "entity": "payment",
        "amount": 2_000,
        "currency": "INR",
        "status": "captured",
        "notes": [],
        "fee": 48,
        "tax": 8,
    }
    refund = {
        "id": "rfnd_FP8QHiV938haTz",
        "entity": "refund",
        "amount": 500,
        "currency": "INR",
        "payment_id": "pay_29QQoUBi66xm2f",
        "notes": {},
        "status": "processed",
        "speed_processed": "normal",
        "speed_requested": "normal",
    }
    url = f"{RAZORPAY}/payments/pay_29QQoUBi66xm2f"
    tagged = entity | {"notes": {"payment_id": payment.id, "order_id": payment.order_id}}
    with responses.RequestsMock() as rsps:
        rsps.get(url, json=entity | {"status": "authorized", "fee": None, "tax": None})
        rsps.patch(url, json=tagged | {"status": "authorized"})
        rsps.post(f"{url}/capture", json=tagged)
        await _confirm(gateways_container, payment.id)
        refund_call = rsps.post(f"{RAZORPAY}/payments/pay_29QQoUBi66xm2f/refund", json=refund)
        async with gateways_container.uow_factory() as uow:
            requested = await payments.request_refund(
                uow,
                order_id=payment.order_id,
                vendor_order_id="vo_flow",
                amount=500,
                reason="damaged",
                idempotency_key="refund-flow",
                actor_id="usr_vendor",
            )
            await uow.commit()
        await gateways_container.jobs.drain()

    stored = await session.get(Refund, requested.id)
    assert stored is not None
    await session.refresh(stored)
    assert (stored.status, stored.provider_refund_id) == ("succeeded", "rfnd_FP8QHiV938haTz")
    sent = refund_call.calls[0].request
    assert sent.headers["X-Refund-Idempotency"] == stored.provider_idempotency_key
    assert json.loads(sent.body) == {
        "amount": 500,
        "notes": {"refund_id": requested.id, "payment_id": payment.id},
    }
    assert [kind for kind, _ in await ledger(session)] == ["capture", "fee", "refund"]


async def payments_view(session: AsyncSession, payment_id: str) -> tuple[str, int, int]:
    payment = await session.get(Payment, payment_id)
    assert payment is not None
    await session.refresh(payment)
    return (payment.status, payment.captured_amount, payment.fee_amount)
