"""Stripe, PayPal and Razorpay webhooks through `POST /v1/webhooks/payments/{provider}`: a bad
signature (or PayPal's FAILURE verdict) is a 400 that stores and enqueues nothing; a genuine
delivery is stored once and settles our pending payment through the same code as confirm."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import responses
import respx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import RAZORPAY_WHSEC, STRIPE_WHSEC, share
from marketplace.app import create_app
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.models import Chargeback, Payment, WebhookEvent
from marketplace.platform.clock import utcnow
from marketplace.platform.models import OutboxMessage

PAYPAL_API = "https://api-m.sandbox.paypal.com"


@pytest.fixture
async def client(gateways_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=gateways_container, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def _pending(container: Container, provider: str, payment_method: str, currency: str) -> str:
    async with container.uow_factory() as uow:
        view = await payments.start_payment(
            uow,
            order_id=f"ord_{provider}",
            customer_id="usr_customer",
            currency=currency,
            amount=2_000,
            provider=provider,
            payment_method=payment_method,
            shares=[share("vnd_x", gross=2_000)],
            idempotency_key=f"checkout-{provider}",
        )
        await uow.commit()
    return view.id


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _settled(session: AsyncSession, payment_id: str) -> tuple[Any, ...]:
    payment = await session.get(Payment, payment_id)
    assert payment is not None
    await session.refresh(payment)
    return (
        payment.status,
        payment.captured_amount,
        payment.fee_amount,
        payment.provider_payment_id,
    )


async def _refused_and_nothing_stored(
    client: httpx.AsyncClient,
    session: AsyncSession,
    provider: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    outbox_before = await _count(session, OutboxMessage)
    response = await client.post(f"/v1/webhooks/payments/{provider}", content=body, headers=headers)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")
    assert await _count(session, WebhookEvent) == 0
    assert await _count(session, OutboxMessage) == outbox_before


def _stripe_signature(body: bytes, secret: str = STRIPE_WHSEC) -> str:
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


async def test_stripe_webhooks_through_the_route(
    client: httpx.AsyncClient, gateways_container: Container, session: AsyncSession
) -> None:
    payment_id = await _pending(gateways_container, "stripe", "pm_1MtwBwLkdIwHu7ix", "USD")
    intent = {
        "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "object": "payment_intent",
        "amount": 2_000,
        "amount_received": 2_000,
        "currency": "usd",
        "metadata": {"payment_id": payment_id},
        "status": "succeeded",
    }
    body = orjson.dumps(
        {
            "id": "evt_3MtwBwLkdIwHu7ix",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": intent},
        }
    )

    await _refused_and_nothing_stored(
        client, session, "stripe", body, {"Stripe-Signature": _stripe_signature(body, "whsec_x")}
    )
    accepted = await client.post(
        "/v1/webhooks/payments/stripe",
        content=body,
        headers={"Stripe-Signature": _stripe_signature(body)},
    )
    await gateways_container.jobs.drain()

    assert (accepted.status_code, accepted.json()) == (200, {"received": True, "duplicate": False})
    assert await _settled(session, payment_id) == (
        "succeeded",
        2_000,
        0,
        "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    )


async def test_razorpay_webhooks_through_the_route(
    client: httpx.AsyncClient, gateways_container: Container, session: AsyncSession
) -> None:
    payment_id = await _pending(gateways_container, "razorpay", "pay_29QQoUBi66xm2f", "INR")
    body = orjson.dumps(
        {
            "entity": "event",
            "account_id": "acc_BFQ7uQEaa7j2z7",
            "event": "payment.captured",
            "contains": ["payment"],
            "payload": {
                "payment": {
                    "entity": {
                        "id": "pay_29QQoUBi66xm2f",
                        "entity": "payment",
                        "amount": 2_000,
                        "currency": "INR",
                        "status": "captured",
                        "notes": {"payment_id": payment_id},
                        "fee": 48,
                        "tax": 8,
                    }
                }
            },
            "created_at": 1567674606,
        }
    )
    good = hmac.new(RAZORPAY_WHSEC.encode(), body, hashlib.sha256).hexdigest()

    await _refused_and_nothing_stored(
        client, session, "razorpay", body, {"X-Razorpay-Signature": good[::-1]}
    )
    accepted = await client.post(
        "/v1/webhooks/payments/razorpay", content=body, headers={"X-Razorpay-Signature": good}
    )
    again = await client.post(
        "/v1/webhooks/payments/razorpay", content=body, headers={"X-Razorpay-Signature": good}
    )
    await gateways_container.jobs.drain()

    assert [accepted.json()["duplicate"], again.json()["duplicate"]] == [False, True]
    assert await _settled(session, payment_id) == ("succeeded", 2_000, 48, "pay_29QQoUBi66xm2f")


@pytest.fixture
def paypal_token() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{PAYPAL_API}/v1/oauth2/token",
            json={"access_token": "A21AAFEpH4Ps", "token_type": "Bearer", "expires_in": 32_400},
        )
        yield rsps


async def test_paypal_webhooks_through_the_route(
    client: httpx.AsyncClient,
    gateways_container: Container,
    session: AsyncSession,
    paypal_token: responses.RequestsMock,
) -> None:
    payment_id = await _pending(gateways_container, "paypal", "5O190127TN364715T", "USD")
    body = orjson.dumps(
        {
            "id": "WH-58D329510W468432D-8HN650336L201105X",
            "event_version": "1.0",
            "resource_type": "capture",
            "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {
                "id": "3C679366HH908993F",
                "status": "COMPLETED",
                "amount": {"currency_code": "USD", "value": "20.00"},
                "seller_receivable_breakdown": {
                    "gross_amount": {"currency_code": "USD", "value": "20.00"},
                    "paypal_fee": {"currency_code": "USD", "value": "0.88"},
                    "net_amount": {"currency_code": "USD", "value": "19.12"},
                },
                "custom_id": payment_id,
            },
        }
    )
    headers = {
        "PayPal-Auth-Algo": "SHA256withRSA",
        "PayPal-Cert-Url": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42",
        "PayPal-Transmission-Id": "dfb3be50-fd74-11e4-8bf3-77339302725b",
        "PayPal-Transmission-Sig": "thy4/U002quzxFavHPwbfJGcc46E8rc5jzgyeafWm5mICTBdY",
        "PayPal-Transmission-Time": utcnow().isoformat(),
    }

    with respx.mock(assert_all_called=True) as router:
        verify = router.post(f"{PAYPAL_API}/v1/notifications/verify-webhook-signature")
        verify.side_effect = [
            httpx.Response(200, json={"verification_status": "FAILURE"}),
            httpx.Response(503, json={"name": "SERVICE_UNAVAILABLE"}),
            httpx.Response(200, json={"verification_status": "SUCCESS"}),
        ]
        await _refused_and_nothing_stored(client, session, "paypal", body, headers)
        unverified = await client.post(
            "/v1/webhooks/payments/paypal", content=body, headers=headers
        )
        stored_meanwhile = await _count(session, WebhookEvent)
        accepted = await client.post("/v1/webhooks/payments/paypal", content=body, headers=headers)
    await gateways_container.jobs.drain()

    # PayPal could not be asked: 503, so PayPal delivers the event again later.
    assert (unverified.status_code, unverified.json()["code"]) == (
        503,
        "payment_provider_unavailable",
    )
    assert stored_meanwhile == 0
    assert accepted.status_code == 200
    assert verify.call_count == 3
    assert await _settled(session, payment_id) == ("succeeded", 2_000, 88, "3C679366HH908993F")


async def test_a_payout_event_naming_no_payout_of_ours_is_stored_and_ignored(
    client: httpx.AsyncClient, gateways_container: Container, session: AsyncSession
) -> None:
    payout = {"id": "po_1OaFDbEcg9tTZuTgNYmX0PKB", "object": "payout", "amount": 4_500}
    body = orjson.dumps(
        {"id": "evt_payout_1", "object": "event", "type": "payout.paid", "data": {"object": payout}}
    )

    response = await client.post(
        "/v1/webhooks/payments/stripe",
        content=body,
        headers={"Stripe-Signature": _stripe_signature(body)},
    )
    await gateways_container.jobs.drain()

    assert response.status_code == 200
    stored = (await session.execute(select(WebhookEvent.type, WebhookEvent.status))).all()
    assert [tuple(row) for row in stored] == [("payout.paid", "ignored")]


async def test_a_stripe_dispute_through_the_route_opens_then_loses_a_chargeback(
    client: httpx.AsyncClient, gateways_container: Container, session: AsyncSession
) -> None:
    payment_id = await _pending(gateways_container, "stripe", "pm_1MtwBwLkdIwHu7ix", "USD")
    intent = {
        "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "object": "payment_intent",
        "amount": 2_000,
        "amount_received": 2_000,
        "currency": "usd",
        "metadata": {"payment_id": payment_id},
        "status": "succeeded",
    }
    withdrawal = {
        "id": "txn_1MtJUT2eZvKYlo2C",
        "object": "balance_transaction",
        "amount": -1_200,
        "currency": "usd",
        "fee": 1_500,
        "net": -2_700,
        "reporting_category": "dispute",
        "source": "du_1MtJUT2eZvKYlo2CNaw2HvEv",
        "type": "adjustment",
    }
    dispute = {
        "id": "du_1MtJUT2eZvKYlo2CNaw2HvEv",
        "object": "dispute",
        "amount": 1_200,
        "balance_transactions": [withdrawal],
        "charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
        "currency": "usd",
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "reason": "product_not_received",
        "status": "needs_response",
    }
    deliveries = [
        ("evt_pi", "payment_intent.succeeded", intent),
        ("evt_du_created", "charge.dispute.created", dispute),
        ("evt_du_closed", "charge.dispute.closed", dispute | {"status": "lost"}),
    ]
    states = []
    for event_id, type_, obj in deliveries:
        body = orjson.dumps(
            {"id": event_id, "object": "event", "type": type_, "data": {"object": obj}}
        )
        response = await client.post(
            "/v1/webhooks/payments/stripe",
            content=body,
            headers={"Stripe-Signature": _stripe_signature(body)},
        )
        assert response.status_code == 200
        await gateways_container.jobs.drain()
        rows = await session.execute(
            select(
                Chargeback.payment_id,
                Chargeback.provider_dispute_id,
                Chargeback.status,
                Chargeback.amount,
                Chargeback.fee_amount,
                Chargeback.reason,
            ).execution_options(populate_existing=True)
        )
        states.append([tuple(row) for row in rows.all()])

    opened = (payment_id, "du_1MtJUT2eZvKYlo2CNaw2HvEv", "open", 1_200, 1_500)
    assert states == [
        [],
        [(*opened, "product_not_received")],
        [(*opened[:2], "lost", *opened[3:], "product_not_received")],
    ]
    stored = (await session.execute(select(WebhookEvent.type, WebhookEvent.status))).all()
    assert sorted(tuple(row) for row in stored) == [
        ("charge.dispute.closed", "processed"),
        ("charge.dispute.created", "processed"),
        ("payment_intent.succeeded", "processed"),
    ]
