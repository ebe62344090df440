"""The Stripe adapter at the HTTP boundary: the official SDK's async requests are intercepted
with respx and answered with bodies shaped like Stripe's API reference. Asserts what we send
(path, form fields, Idempotency-Key, Bearer key) and what we make of each answer; webhooks
are signed with Stripe's real scheme in the test."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest
import respx

from marketplace.payments.providers import (
    ChargeRequest,
    ChargeResult,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderRecord,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    TransferRequest,
    TransferResult,
)
from marketplace.payments.providers.stripe import StripeProvider
from marketplace.platform.clock import utcnow

API = "https://api.stripe.com"
SECRET_KEY = "sk_test_51Mzq2mLkdIwHu7ixAbCdEf"
WEBHOOK_SECRET = "whsec_test_3f9a8d7c6b5e4f3a2b1c"


@pytest.fixture
def stripe_provider() -> StripeProvider:
    return StripeProvider(
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        webhook_tolerance=timedelta(seconds=300),
        max_network_retries=0,
    )


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


def payment_intent(
    *, status: str = "succeeded", amount: int = 2_000, currency: str = "usd", fee: int = 88
) -> dict[str, Any]:
    """A PaymentIntent as `POST /v1/payment_intents?expand[]=latest_charge.balance_transaction`
    returns it."""
    return {
        "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if status == "succeeded" else 0,
        "capture_method": "automatic_async",
        "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
        "confirmation_method": "automatic",
        "created": 1680800504,
        "currency": currency,
        "customer": None,
        "last_payment_error": None,
        "latest_charge": {
            "id": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "balance_transaction": {
                "id": "txn_3MtwBwLkdIwHu7ix0Jg2fQ3x",
                "object": "balance_transaction",
                "amount": amount,
                "currency": currency,
                "fee": fee,
                "fee_details": [
                    {
                        "amount": fee,
                        "application": None,
                        "currency": currency,
                        "description": "Stripe processing fees",
                        "type": "stripe_fee",
                    }
                ],
                "net": amount - fee,
                "reporting_category": "charge",
                "source": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
                "status": "pending",
                "type": "charge",
            },
            "captured": True,
            "currency": currency,
            "paid": True,
            "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
            "status": "succeeded",
        },
        "livemode": False,
        "metadata": {"payment_id": "pay_1", "order_id": "ord_1"},
        "next_action": None,
        "payment_method": "pm_1MtwBwLkdIwHu7ixVisa4242",
        "payment_method_types": ["card"],
        "status": status,
        "transfer_group": "ord_1",
    }


def charge_request(**overrides: Any) -> ChargeRequest:
    values: dict[str, Any] = {
        "idempotency_key": "mk_payment_0123456789abcdef",
        "amount": 2_000,
        "currency": "USD",
        "payment_method": "pm_1MtwBwLkdIwHu7ixVisa4242",
        "metadata": {"payment_id": "pay_1", "order_id": "ord_1"},
    }
    return ChargeRequest(**(values | overrides))


@respx.mock(assert_all_mocked=True)
async def test_a_charge_creates_and_confirms_a_payment_intent_once_per_key(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    route = respx_mock.post(f"{API}/v1/payment_intents").respond(200, json=payment_intent())

    result = await stripe_provider.charge(charge_request())

    assert result == ChargeResult(
        provider_payment_id="pi_3MtwBwLkdIwHu7ix28a3tqPa",
        status="succeeded",
        amount_captured=2_000,
        fee_amount=88,
    )
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "mk_payment_0123456789abcdef"
    assert sent.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert form(sent) == {
        "amount": "2000",
        "currency": "usd",
        "payment_method": "pm_1MtwBwLkdIwHu7ixVisa4242",
        "confirm": "true",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "metadata[payment_id]": "pay_1",
        "metadata[order_id]": "ord_1",
        "expand[0]": "latest_charge.balance_transaction",
        "transfer_group": "ord_1",
    }


@respx.mock
async def test_a_declined_card_is_a_failed_charge_with_the_decline_code(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    declined = payment_intent(status="requires_payment_method")
    error = {
        "error": {
            "charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card has insufficient funds.",
            "payment_intent": declined,
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_xyz",
            "type": "card_error",
        }
    }
    respx_mock.post(f"{API}/v1/payment_intents").respond(402, json=error)

    result = await stripe_provider.charge(charge_request())

    assert result == ChargeResult(
        provider_payment_id="pi_3MtwBwLkdIwHu7ix28a3tqPa",
        status="failed",
        amount_captured=0,
        failure_code="insufficient_funds",
        failure_message="Your card has insufficient funds.",
    )


@respx.mock
async def test_a_payment_needing_3d_secure_fails_as_authentication_required(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    respx_mock.post(f"{API}/v1/payment_intents").respond(
        200, json=payment_intent(status="requires_action")
    )
    result = await stripe_provider.charge(charge_request())
    assert (result.status, result.failure_code) == ("failed", "authentication_required")


@respx.mock
async def test_timeouts_5xx_and_429_are_unavailable_and_bad_keys_are_errors(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    route = respx_mock.post(f"{API}/v1/payment_intents")
    api_error = {"error": {"message": "An unknown error occurred", "type": "api_error"}}
    auth_error = {
        "error": {
            "message": "Invalid API Key provided: sk_test_****ixAb",
            "type": "invalid_request_error",
        }
    }
    route.side_effect = [
        httpx.ReadTimeout("timed out"),
        httpx.Response(500, json=api_error),
        httpx.Response(429, json={"error": {"message": "Too many requests", "type": "x"}}),
        httpx.Response(401, json=auth_error),
    ]

    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await stripe_provider.charge(charge_request())
    with pytest.raises(ProviderError, match="secret key was refused"):
        await stripe_provider.charge(charge_request())
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert (route.call_count, keys) == (4, {"mk_payment_0123456789abcdef"})


@respx.mock
async def test_amounts_follow_stripes_units_per_currency(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    route = respx_mock.post(f"{API}/v1/payment_intents")
    route.side_effect = [
        httpx.Response(200, json=payment_intent(amount=1_500, currency="jpy", fee=54)),
        httpx.Response(200, json=payment_intent(amount=150_000, currency="isk", fee=5_400)),
    ]

    jpy = await stripe_provider.charge(charge_request(amount=1_500, currency="JPY"))
    isk = await stripe_provider.charge(charge_request(amount=1_500, currency="ISK"))
    with pytest.raises(ProviderError, match="multiples of 10"):
        await stripe_provider.charge(charge_request(amount=1_005, currency="KWD"))

    sent = [(form(c.request)["amount"], form(c.request)["currency"]) for c in route.calls]
    assert sent == [("1500", "jpy"), ("150000", "isk")]
    assert (jpy.amount_captured, jpy.fee_amount) == (1_500, 54)
    assert (isk.amount_captured, isk.fee_amount) == (1_500, 54)


def refund_object(status: str = "succeeded", failure_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "re_1Nispe2eZvKYlo2Cd31jOCgZ",
        "object": "refund",
        "amount": 500,
        "balance_transaction": "txn_1Nispe2eZvKYlo2CYezqFhEx",
        "charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
        "created": 1692942318,
        "currency": "usd",
        "failure_reason": failure_reason,
        "metadata": {"refund_id": "ref_1", "payment_id": "pay_1"},
        "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "reason": None,
        "status": status,
    }


def refund_request() -> RefundRequest:
    return RefundRequest(
        idempotency_key="mk_refund_abcdef0123456789",
        provider_payment_id="pi_3MtwBwLkdIwHu7ix28a3tqPa",
        amount=500,
        currency="USD",
        metadata={"refund_id": "ref_1", "payment_id": "pay_1"},
    )


@respx.mock
async def test_a_refund_is_created_on_the_payment_intent_with_our_ids(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    route = respx_mock.post(f"{API}/v1/refunds")
    route.side_effect = [
        httpx.Response(200, json=refund_object()),
        httpx.Response(200, json=refund_object("failed", "expired_or_canceled_card")),
        httpx.Response(200, json=refund_object("pending")),
    ]

    succeeded = await stripe_provider.refund(refund_request())
    failed = await stripe_provider.refund(refund_request())
    with pytest.raises(ProviderUnavailable, match="pending"):
        await stripe_provider.refund(refund_request())

    assert succeeded == RefundResult("re_1Nispe2eZvKYlo2Cd31jOCgZ", "succeeded")
    assert (failed.status, failed.failure_code) == ("failed", "expired_or_canceled_card")
    sent = route.calls[0].request
    assert sent.headers["Idempotency-Key"] == "mk_refund_abcdef0123456789"
    assert form(sent) == {
        "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "amount": "500",
        "metadata[refund_id]": "ref_1",
        "metadata[payment_id]": "pay_1",
    }


@respx.mock
async def test_a_transfer_goes_to_the_connected_account(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    transfer = {
        "id": "tr_1MiN3gLkdIwHu7ixNCZvFdgA",
        "object": "transfer",
        "amount": 4_500,
        "amount_reversed": 0,
        "balance_transaction": "txn_1MiN3gLkdIwHu7ixxapQrznl",
        "created": 1678043844,
        "currency": "usd",
        "destination": "acct_1MTfjCQ9PRzxEwkZ",
        "livemode": False,
        "metadata": {"vendor_id": "vnd_1"},
        "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0},
        "reversed": False,
        "source_transaction": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
        "source_type": "card",
        "transfer_group": "ord_1",
    }
    route = respx_mock.post(f"{API}/v1/transfers").respond(200, json=transfer)

    result = await stripe_provider.transfer(
        TransferRequest(
            idempotency_key="mk_payout_0011223344",
            vendor_id="vnd_1",
            amount=4_500,
            currency="USD",
            destination={
                "stripe_account": "acct_1MTfjCQ9PRzxEwkZ",
                "source_transaction": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
                "transfer_group": "ord_1",
            },
        )
    )

    assert result == TransferResult("tr_1MiN3gLkdIwHu7ixNCZvFdgA", "paid")
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "mk_payout_0011223344"
    assert form(sent) == {
        "amount": "4500",
        "currency": "usd",
        "destination": "acct_1MTfjCQ9PRzxEwkZ",
        "metadata[vendor_id]": "vnd_1",
        "source_transaction": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
        "transfer_group": "ord_1",
    }


async def test_a_transfer_without_a_connected_account_is_refused(
    stripe_provider: StripeProvider,
) -> None:
    with pytest.raises(ProviderError, match="stripe_account"):
        await stripe_provider.transfer(
            TransferRequest("mk_payout_1", "vnd_1", 100, "USD", destination={})
        )


def stripe_signature(body: bytes, timestamp: int, secret: str = WEBHOOK_SECRET) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(type_: str, obj: dict[str, Any], event_id: str = "evt_1NG8Du2eZvKYlo2CUI79vXWy") -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1686089970,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
    )


def test_webhooks_verify_with_stripes_signature_and_tolerance(
    stripe_provider: StripeProvider,
) -> None:
    body = event("payment_intent.succeeded", payment_intent())
    now = int(time.time())

    stripe_provider.verify_webhook(
        body, {"stripe-signature": stripe_signature(body, now)}, utcnow()
    )
    refused = [
        {},
        {"stripe-signature": stripe_signature(body + b" ", now)},
        {"stripe-signature": stripe_signature(body, now, "whsec_other")},
        {"stripe-signature": stripe_signature(body, now - 301)},
        {"stripe-signature": "garbage"},
    ]
    for headers in refused:
        with pytest.raises(InvalidSignature):
            stripe_provider.verify_webhook(body, headers, utcnow())


def test_webhook_events_are_normalised(stripe_provider: StripeProvider) -> None:
    failed_intent = payment_intent(status="requires_payment_method") | {
        "last_payment_error": {
            "code": "card_declined",
            "decline_code": "stolen_card",
            "message": "Your card was declined.",
            "type": "card_error",
        }
    }
    refund = refund_object()
    failed_refund = refund_object("failed", "lost_or_stolen_card")
    charge = payment_intent()["latest_charge"] | {
        "amount_refunded": 500,
        "metadata": {"payment_id": "pay_1"},
        "refunded": False,
    }
    payout = {"id": "po_1OaFDbEcg9tTZuTgNYmX0PKB", "object": "payout", "failure_code": None}
    failed_payout = payout | {"failure_code": "account_closed", "failure_message": "closed"}

    parsed = [
        stripe_provider.parse_webhook(event(t, o, f"evt_{i}"))
        for i, (t, o) in enumerate(
            [
                ("payment_intent.succeeded", payment_intent()),
                ("payment_intent.payment_failed", failed_intent),
                ("charge.refunded", charge),
                ("refund.updated", refund),
                ("charge.refund.updated", failed_refund),
                ("payout.paid", payout),
                ("payout.failed", failed_payout),
                ("customer.created", {"id": "cus_1"}),
            ]
        )
    ]

    pi = "pi_3MtwBwLkdIwHu7ix28a3tqPa"
    assert parsed == [
        ProviderEvent(
            "evt_0", "payment_intent.succeeded", "payment_succeeded",
            payment_id="pay_1", provider_payment_id=pi, amount_captured=2_000,
        ),
        ProviderEvent(
            "evt_1", "payment_intent.payment_failed", "payment_failed",
            payment_id="pay_1", provider_payment_id=pi,
            failure_code="stolen_card", failure_message="Your card was declined.",
        ),
        ProviderEvent(
            "evt_2", "charge.refunded", "refund_succeeded",
            payment_id="pay_1", provider_payment_id=pi, amount_captured=2_000,
        ),
        ProviderEvent(
            "evt_3", "refund.updated", "refund_succeeded",
            payment_id="pay_1", provider_payment_id=pi,
            refund_id="ref_1", provider_refund_id="re_1Nispe2eZvKYlo2Cd31jOCgZ",
        ),
        ProviderEvent(
            "evt_4", "charge.refund.updated", "refund_failed",
            payment_id="pay_1", provider_payment_id=pi,
            failure_code="lost_or_stolen_card",
            failure_message="Stripe could not refund the payment.",
            refund_id="ref_1", provider_refund_id="re_1Nispe2eZvKYlo2Cd31jOCgZ",
        ),
        ProviderEvent(
            "evt_5", "payout.paid", "payout_paid",
            provider_transfer_id="po_1OaFDbEcg9tTZuTgNYmX0PKB",
        ),
        ProviderEvent(
            "evt_6", "payout.failed", "payout_failed",
            failure_code="account_closed", failure_message="closed",
            provider_transfer_id="po_1OaFDbEcg9tTZuTgNYmX0PKB",
        ),
        ProviderEvent("evt_7", "customer.created", "other"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a Stripe event"):
        stripe_provider.parse_webhook(b'{"id": "evt_x"}')


# --- balance transactions (reconciliation) --------------------------------------------------


def balance_transaction(
    txn_id: str,
    type_: str,
    amount: int,
    fee: int,
    source: str | dict[str, Any],
    *,
    category: str | None = None,
    currency: str = "usd",
    created: int = 1764720000,
) -> dict[str, Any]:
    """A BalanceTransaction as `GET /v1/balance_transactions` lists it."""
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * 86_400,
        "created": created,
        "currency": currency,
        "description": None,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": (
            [{"amount": fee, "application": None, "currency": currency,
              "description": "Stripe processing fees", "type": "stripe_fee"}] if fee else []
        ),
        "net": amount - fee,
        "reporting_category": category or type_,
        "source": source,
        "status": "pending",
        "type": type_,
    }  # fmt: skip


def listing(data: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "url": "/v1/balance_transactions", "has_more": has_more, "data": data}


@respx.mock
async def test_balance_transactions_of_a_period_are_listed_page_by_page(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    charge = {
        "id": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
        "object": "charge",
        "amount": 2_000,
        "currency": "usd",
        "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    }
    dispute = {"id": "du_1MtJUT2eZvKYlo2CNaw2HvEv", "object": "dispute", "amount": 2_000}
    first = listing(
        [
            balance_transaction("txn_1", "charge", 2_000, 88, charge),
            balance_transaction(
                "txn_2",
                "refund",
                -500,
                0,
                {"id": "re_1Nispe2eZvKYlo2Cd31jOCgZ", "object": "refund"},
            ),
            balance_transaction("txn_3", "adjustment", -2_000, 1_500, dispute, category="dispute"),
        ],
        has_more=True,
    )
    second = listing(
        [
            balance_transaction(
                "txn_4", "adjustment", 2_000, -1_500, dispute, category="dispute_reversal"
            ),
            balance_transaction(
                "txn_5", "transfer", -4_500, 0, {"id": "tr_1MiN3gLkdIwHu7ixNCZvFdgA"}
            ),
            # Stripe's own movements are not ours to match.
            balance_transaction("txn_6", "stripe_fee", -200, 0, None, category="fee"),
            balance_transaction(
                "txn_7", "payout", -10_000, 0, {"id": "po_1OaFDbEcg9tTZuTgNYmX0PKB"}
            ),
            balance_transaction(
                "txn_8", "payment", 1_500, 0, {"id": "py_1", "object": "charge"}, currency="jpy"
            ),
        ],
        has_more=False,
    )
    route = respx_mock.get(f"{API}/v1/balance_transactions").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    start = datetime(2026, 12, 3, tzinfo=UTC)

    records = await stripe_provider.list_records(start=start, end=start + timedelta(days=1))

    at = datetime.fromtimestamp(1764720000, UTC)
    assert records == [
        ProviderRecord("charge", "pi_3MtwBwLkdIwHu7ix28a3tqPa", 2_000, 88, "USD", at),
        ProviderRecord("refund", "re_1Nispe2eZvKYlo2Cd31jOCgZ", -500, 0, "USD", at),
        ProviderRecord("dispute", "du_1MtJUT2eZvKYlo2CNaw2HvEv", -2_000, 1_500, "USD", at),
        ProviderRecord("dispute_reversal", "du_1MtJUT2eZvKYlo2CNaw2HvEv", 2_000, -1_500, "USD", at),
        ProviderRecord("transfer", "tr_1MiN3gLkdIwHu7ixNCZvFdgA", -4_500, 0, "USD", at),
        # A charge without a PaymentIntent is known by its own id; JPY has no minor units.
        ProviderRecord("charge", "py_1", 1_500, 0, "JPY", at),
    ]
    queries = [dict(parse_qsl(call.request.url.query.decode())) for call in route.calls]
    period = {
        "created[gte]": str(int(start.timestamp())),
        "created[lt]": str(int(start.timestamp()) + 86_400),
        "limit": "100",
        "expand[0]": "data.source",
    }
    assert queries == [period, period | {"starting_after": "txn_3"}]
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {SECRET_KEY}"


@respx.mock
async def test_listing_balance_transactions_with_a_refused_key_is_an_error(
    respx_mock: respx.MockRouter, stripe_provider: StripeProvider
) -> None:
    respx_mock.get(f"{API}/v1/balance_transactions").respond(
        401,
        json={
            "error": {
                "message": "Invalid API Key provided: sk_test_****",
                "type": "invalid_request_error",
            }
        },
    )
    start = datetime(2026, 12, 3, tzinfo=UTC)

    with pytest.raises(ProviderError, match="secret key was refused"):
        await stripe_provider.list_records(start=start, end=start + timedelta(days=1))


# --- disputes -------------------------------------------------------------------------------


def dispute_object(status: str, *, won: bool = False) -> dict[str, Any]:
    """Stripe's Dispute object (`charge.dispute.*` events): the withdrawal with its 15.00
    dispute fee, and on a won dispute the reinstatement giving it back."""
    withdrawal = balance_transaction(
        "txn_1MtJUT2eZvKYlo2C", "adjustment", -2_000, 1_500, "du_1MtJUT2eZvKYlo2CNaw2HvEv",
        category="dispute",
    )  # fmt: skip
    reinstatement = balance_transaction(
        "txn_1MtJUT2eZvKYlo2D", "adjustment", 2_000, -1_500, "du_1MtJUT2eZvKYlo2CNaw2HvEv",
        category="dispute_reversal",
    )  # fmt: skip
    return {
        "id": "du_1MtJUT2eZvKYlo2CNaw2HvEv",
        "object": "dispute",
        "amount": 2_000,
        "balance_transactions": [withdrawal, reinstatement] if won else [withdrawal],
        "charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
        "created": 1680651737,
        "currency": "usd",
        "evidence_details": {
            "due_by": 1682294399,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {"payment_id": "pay_1"},
        "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "reason": "fraudulent",
        "status": status,
    }


def test_dispute_webhooks_are_verified_and_normalised(stripe_provider: StripeProvider) -> None:
    deliveries = [
        ("charge.dispute.created", dispute_object("needs_response")),
        ("charge.dispute.closed", dispute_object("won", won=True)),
        ("charge.dispute.closed", dispute_object("lost")),
        ("charge.dispute.closed", dispute_object("warning_closed") | {"balance_transactions": []}),
    ]
    parsed = []
    for i, (type_, obj) in enumerate(deliveries):
        body = event(type_, obj, f"evt_dp{i}")
        stripe_provider.verify_webhook(
            body, {"stripe-signature": stripe_signature(body, int(time.time()))}, utcnow()
        )
        parsed.append(stripe_provider.parse_webhook(body))

    common: dict[str, Any] = {
        "payment_id": "pay_1",
        "provider_payment_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "provider_dispute_id": "du_1MtJUT2eZvKYlo2CNaw2HvEv",
        "dispute_amount": 2_000,
        "dispute_fee": 1_500,
        "dispute_currency": "USD",
        "dispute_reason": "fraudulent",
    }
    assert parsed == [
        ProviderEvent("evt_dp0", "charge.dispute.created", "dispute_opened", **common),
        ProviderEvent(
            "evt_dp1", "charge.dispute.closed", "dispute_closed", dispute_outcome="won", **common
        ),
        ProviderEvent(
            "evt_dp2", "charge.dispute.closed", "dispute_closed", dispute_outcome="lost", **common
        ),
        # An inquiry closed without a chargeback moved no money.
        ProviderEvent("evt_dp3", "charge.dispute.closed", "other"),
    ]
