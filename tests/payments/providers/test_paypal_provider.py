"""The PayPal adapter at the HTTP boundary: the official SDK's requests (OAuth token, Orders
v2, refunds) are intercepted with `responses`, the REST calls it makes over httpx (Payouts,
webhook verification) with respx; every answer is shaped like PayPal's API reference.
Asserts what we send (paths, JSON, PayPal-Request-Id, Basic then Bearer auth) and what we
make of each answer, including PayPal's own verdict on a webhook."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
import requests
import responses
import respx

from marketplace.payments.providers import (
    ChargeRequest,
    ChargeResult,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    TransferRequest,
    TransferResult,
    VerifiesWebhooksRemotely,
)
from marketplace.payments.providers.paypal import PayPalProvider
from marketplace.platform.clock import utcnow

API = "https://api-m.sandbox.paypal.com"
CLIENT_ID = "AYSq3RDGsmBLJE-otTkBtM-jBRd1TCQwFf9RGfwddNXWz0uFU9ztymylOhRS"
CLIENT_SECRET = "EGnHDxD_qRPdaLdZz8iCr8N7_MzF-YHPTkjs6NKYQvQSBngp4PTTVWkPZRbL"
WEBHOOK_ID = "4JH86294D6297924G"
ORDER = "5O190127TN364715T"
CAPTURE = "3C679366HH908993F"
TOKEN = "A21AAFEpH4PsADK7qSS7pSRsgzfENtu-Q1ysgEDVDESseMHBYXVJYE8ovjj68elIDy8nF26AwPhfXTIeWAZHSLIsQ"
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


@pytest.fixture
def paypal_provider() -> PayPalProvider:
    return PayPalProvider(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        webhook_id=WEBHOOK_ID,
        environment="sandbox",
        webhook_tolerance=timedelta(minutes=5),
    )


@pytest.fixture
def sdk() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{API}/v1/oauth2/token",
            json={
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": TOKEN,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": 32_400,
                "nonce": "2026-05-01T12:00:00ZaYZlGvEkV4yVSz8g6bAKFoGSEzuy3CQcz3ljhibkOHg",
            },
        )
        yield rsps


def calls_to(rsps: responses.RequestsMock, path: str) -> list[Any]:
    return [c for c in rsps.calls if c.request.url.split("?")[0] == f"{API}{path}"]


def capture_object(
    status: str = "COMPLETED", value: str = "100.00", fee: str = "3.20"
) -> dict[str, Any]:
    return {
        "id": CAPTURE,
        "status": status,
        "amount": {"currency_code": "USD", "value": value},
        "final_capture": True,
        "seller_protection": {"status": "ELIGIBLE", "dispute_categories": ["ITEM_NOT_RECEIVED"]},
        "seller_receivable_breakdown": {
            "gross_amount": {"currency_code": "USD", "value": value},
            "paypal_fee": {"currency_code": "USD", "value": fee},
            "net_amount": {"currency_code": "USD", "value": "96.80"},
        },
        "custom_id": "pay_1",
        "invoice_id": "ord_1",
        "create_time": "2026-05-01T12:00:00Z",
        "update_time": "2026-05-01T12:00:00Z",
        "links": [
            {"href": f"{API}/v2/payments/captures/{CAPTURE}", "rel": "self", "method": "GET"},
            {"href": f"{API}/v2/checkout/orders/{ORDER}", "rel": "up", "method": "GET"},
        ],
    }


def order_object(status: str = "APPROVED", value: str = "100.00", currency: str = "USD",
                 captures: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    unit: dict[str, Any] = {
        "reference_id": "d9f80740-38f0-11e8-b467-0ed5f89f718b",
        "amount": {"currency_code": currency, "value": value},
    }
    if captures is not None:
        unit["payments"] = {"captures": captures}
    return {
        "id": ORDER,
        "intent": "CAPTURE",
        "status": status,
        "payment_source": {
            "paypal": {
                "email_address": "customer@example.com",
                "account_id": "QYR5Z8XDVJNXQ",
                "name": {"given_name": "John", "surname": "Doe"},
            }
        },
        "purchase_units": [unit],
        "create_time": "2026-05-01T11:58:00Z",
        "links": [{"href": f"{API}/v2/checkout/orders/{ORDER}", "rel": "self", "method": "GET"}],
    }


def unprocessable(issue: str) -> dict[str, Any]:
    return {
        "name": "UNPROCESSABLE_ENTITY",
        "details": [{"issue": issue, "description": "The instrument presented was declined."}],
        "message": "The requested action could not be performed, semantically incorrect, or "
        "failed business validation.",
        "debug_id": "c9a75b43fc807",
        "links": [
            {
                "href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue}",
                "rel": "information_link",
                "method": "GET",
            }
        ],
    }


def charge_request(**overrides: Any) -> ChargeRequest:
    values: dict[str, Any] = {
        "idempotency_key": "mk_payment_0123456789abcdef",
        "amount": 10_000,
        "currency": "USD",
        "payment_method": ORDER,
        "metadata": {"payment_id": "pay_1", "order_id": "ord_1"},
    }
    return ChargeRequest(**(values | overrides))


async def test_an_approved_order_is_checked_tagged_and_captured(
    sdk: responses.RequestsMock, paypal_provider: PayPalProvider
) -> None:
    sdk.get(f"{API}/v2/checkout/orders/{ORDER}", json=order_object())
    sdk.patch(f"{API}/v2/checkout/orders/{ORDER}", status=204)
    sdk.post(
        f"{API}/v2/checkout/orders/{ORDER}/capture",
        status=201,
        json=order_object("COMPLETED", captures=[capture_object()]),
    )

    result = await paypal_provider.charge(charge_request())

    assert result == ChargeResult(
        provider_payment_id=CAPTURE, status="succeeded", amount_captured=10_000, fee_amount=320
    )
    assert calls_to(sdk, "/v1/oauth2/token")[0].request.headers["Authorization"] == BASIC
    patch = calls_to(sdk, f"/v2/checkout/orders/{ORDER}")[1].request
    assert json.loads(patch.body) == [
        {
            "op": "add",
            "path": "/purchase_units/@reference_id=='d9f80740-38f0-11e8-b467-0ed5f89f718b'"
            "/custom_id",
            "value": "pay_1",
        }
    ]
    capture = calls_to(sdk, f"/v2/checkout/orders/{ORDER}/capture")[0].request
    assert capture.headers["PayPal-Request-Id"] == "mk_payment_0123456789abcdef"
    assert capture.headers["Authorization"] == f"Bearer {TOKEN}"
    assert capture.headers["Prefer"] == "return=representation"


async def test_a_declined_instrument_and_a_wrong_amount_are_failed_charges(
    sdk: responses.RequestsMock, paypal_provider: PayPalProvider
) -> None:
    sdk.get(f"{API}/v2/checkout/orders/{ORDER}", json=order_object())
    sdk.patch(f"{API}/v2/checkout/orders/{ORDER}", status=204)
    sdk.post(
        f"{API}/v2/checkout/orders/{ORDER}/capture",
        status=422,
        json=unprocessable("INSTRUMENT_DECLINED"),
    )

    declined = await paypal_provider.charge(charge_request())
    mismatched = await paypal_provider.charge(charge_request(amount=9_999))

    assert (declined.status, declined.failure_code) == ("failed", "instrument_declined")
    assert (mismatched.status, mismatched.failure_code) == ("failed", "amount_mismatch")
    assert len(calls_to(sdk, f"/v2/checkout/orders/{ORDER}/capture")) == 1


async def test_an_order_captured_for_another_payment_cannot_pay_again(
    sdk: responses.RequestsMock, paypal_provider: PayPalProvider
) -> None:
    theirs = capture_object() | {"custom_id": "pay_0"}
    sdk.get(f"{API}/v2/checkout/orders/{ORDER}", json=order_object("COMPLETED", captures=[theirs]))

    reused = await paypal_provider.charge(charge_request())

    assert (reused.status, reused.failure_code) == ("failed", "order_already_used")
    assert calls_to(sdk, f"/v2/checkout/orders/{ORDER}/capture") == []


async def test_a_vaulted_wallet_is_charged_in_one_order(
    sdk: responses.RequestsMock, paypal_provider: PayPalProvider
) -> None:
    created = sdk.post(
        f"{API}/v2/checkout/orders",
        status=201,
        json=order_object("COMPLETED", captures=[capture_object()]),
    )

    result = await paypal_provider.charge(charge_request(payment_method="vault_8kk8451t"))

    assert (result.status, result.provider_payment_id, result.fee_amount) == (
        "succeeded",
        CAPTURE,
        320,
    )
    sent = created.calls[0].request
    assert sent.headers["PayPal-Request-Id"] == "mk_payment_0123456789abcdef"
    assert json.loads(sent.body) == {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "reference_id": "default",
                "custom_id": "pay_1",
                "invoice_id": "ord_1",
                "amount": {"currency_code": "USD", "value": "100.00"},
            }
        ],
        "payment_source": {"paypal": {"vault_id": "8kk8451t"}},
    }


async def test_pending_captures_timeouts_and_5xx_are_unavailable_bad_keys_are_errors(
    sdk: responses.RequestsMock, paypal_provider: PayPalProvider
) -> None:
    url = f"{API}/v2/checkout/orders"
    sdk.post(url, status=201, json=order_object("COMPLETED", captures=[capture_object("PENDING")]))
    sdk.post(url, body=requests.exceptions.ConnectTimeout("connect timed out"))
    internal = {"name": "INTERNAL_SERVER_ERROR", "message": "An internal server error occurred.",
                "debug_id": "90957fca61718", "links": []}  # fmt: skip
    sdk.post(url, status=503, json=internal)
    sdk.post(url, status=401, json={"error": "invalid_token", "error_description": "expired"})
    vaulted = charge_request(payment_method="vault_8kk8451t")

    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await paypal_provider.charge(vaulted)
    with pytest.raises(ProviderError, match="refused"):
        await paypal_provider.charge(vaulted)
    keys = {c.request.headers["PayPal-Request-Id"] for c in calls_to(sdk, "/v2/checkout/orders")}
    assert keys == {"mk_payment_0123456789abcdef"}


async def test_a_refund_is_made_on_the_capture(
    sdk: responses.RequestsMock, paypal_provider: PayPalProvider
) -> None:
    refund = {
        "id": "1JU08902781691411",
        "amount": {"value": "25.00", "currency_code": "USD"},
        "status": "COMPLETED",
        "custom_id": "ref_1",
        "seller_payable_breakdown": {
            "gross_amount": {"value": "25.00", "currency_code": "USD"},
            "paypal_fee": {"value": "0.00", "currency_code": "USD"},
            "net_amount": {"value": "25.00", "currency_code": "USD"},
            "total_refunded_amount": {"value": "25.00", "currency_code": "USD"},
        },
        "create_time": "2026-05-02T09:00:00Z",
        "update_time": "2026-05-02T09:00:00Z",
        "links": [
            {
                "href": f"{API}/v2/payments/refunds/1JU08902781691411",
                "rel": "self",
                "method": "GET",
            },
            {"href": f"{API}/v2/payments/captures/{CAPTURE}", "rel": "up", "method": "GET"},
        ],
    }
    url = f"{API}/v2/payments/captures/{CAPTURE}/refund"
    sdk.post(url, status=201, json=refund)
    sdk.post(url, status=422, json=unprocessable("REFUND_AMOUNT_EXCEEDED"))
    request = RefundRequest(
        idempotency_key="mk_refund_abcdef0123456789",
        provider_payment_id=CAPTURE,
        amount=2_500,
        currency="USD",
        metadata={"refund_id": "ref_1", "payment_id": "pay_1"},
    )

    succeeded = await paypal_provider.refund(request)
    exceeded = await paypal_provider.refund(request)

    assert succeeded == RefundResult("1JU08902781691411", "succeeded")
    assert (exceeded.status, exceeded.failure_code) == ("failed", "refund_amount_exceeded")
    sent = calls_to(sdk, f"/v2/payments/captures/{CAPTURE}/refund")[0].request
    assert sent.headers["PayPal-Request-Id"] == "mk_refund_abcdef0123456789"
    assert json.loads(sent.body) == {
        "amount": {"value": "25.00", "currency_code": "USD"},
        "custom_id": "ref_1",
    }


@respx.mock
async def test_a_payout_goes_through_the_payouts_api_with_the_sdks_token(
    respx_mock: respx.MockRouter, sdk: responses.RequestsMock, paypal_provider: PayPalProvider
) -> None:
    route = respx_mock.post(f"{API}/v1/payments/payouts").respond(
        201,
        json={
            "batch_header": {
                "sender_batch_header": {
                    "sender_batch_id": "mk_payout_0011223344",
                    "email_subject": "You have a payout",
                },
                "payout_batch_id": "5UXD2E8A7EBQJ",
                "batch_status": "PENDING",
            },
            "links": [
                {
                    "href": f"{API}/v1/payments/payouts/5UXD2E8A7EBQJ",
                    "rel": "self",
                    "method": "GET",
                    "encType": "application/json",
                }
            ],
        },
    )

    result = await paypal_provider.transfer(
        TransferRequest(
            "mk_payout_0011223344", "vnd_1", 1_500, "JPY", {"paypal_email": "vendor@example.com"}
        )
    )

    assert result == TransferResult("5UXD2E8A7EBQJ", "pending")
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["PayPal-Request-Id"] == "mk_payout_0011223344"
    assert json.loads(sent.content) == {
        "sender_batch_header": {
            "sender_batch_id": "mk_payout_0011223344",
            "email_subject": "You have a payout",
        },
        "items": [
            {
                "recipient_type": "EMAIL",
                "receiver": "vendor@example.com",
                "amount": {"value": "1500", "currency": "JPY"},
                "sender_item_id": "vnd_1",
            }
        ],
    }


def webhook_event(event_type: str, resource: dict[str, Any], event_id: str = "WH-1") -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "event_version": "1.0",
            "create_time": "2026-05-01T12:00:07.940Z",
            "resource_type": "capture",
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": "Payment completed for $ 100.0 USD",
            "resource": resource,
            "links": [],
        }
    )


def transmission(sent_at: str | None = None) -> dict[str, str]:
    return {
        "paypal-auth-algo": "SHA256withRSA",
        "paypal-cert-url": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42",
        "paypal-transmission-id": "dfb3be50-fd74-11e4-8bf3-77339302725b",
        "paypal-transmission-sig": "thy4/U002quzxFavHPwbfJGcc46E8rc5jzgyeafWm5mICTBdY/8rl7WJpn8J",
        "paypal-transmission-time": sent_at or utcnow().isoformat(),
    }


@respx.mock
async def test_webhooks_are_verified_by_paypal_and_its_failure_is_refused(
    respx_mock: respx.MockRouter, sdk: responses.RequestsMock, paypal_provider: PayPalProvider
) -> None:
    route = respx_mock.post(f"{API}/v1/notifications/verify-webhook-signature")
    route.side_effect = [
        httpx.Response(200, json={"verification_status": "SUCCESS"}),
        httpx.Response(200, json={"verification_status": "FAILURE"}),
        httpx.Response(503, json={"name": "SERVICE_UNAVAILABLE"}),
    ]
    # Key order and spacing as PayPal sent them: the event must go back byte for byte.
    body = b'{"resource": {"id": "3C679366HH908993F"}, "id": "WH-1", "event_type": "X"}'
    headers = transmission()

    await paypal_provider.verify_webhook_remotely(body, headers, utcnow())
    with pytest.raises(InvalidSignature, match="not SUCCESS"):
        await paypal_provider.verify_webhook_remotely(body, headers, utcnow())
    with pytest.raises(ProviderUnavailable):
        await paypal_provider.verify_webhook_remotely(body, headers, utcnow())

    sent = route.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.content == (
        b'{"auth_algo":"SHA256withRSA",'
        b'"cert_url":"https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42",'
        b'"transmission_id":"dfb3be50-fd74-11e4-8bf3-77339302725b",'
        b'"transmission_sig":"thy4/U002quzxFavHPwbfJGcc46E8rc5jzgyeafWm5mICTBdY/8rl7WJpn8J",'
        b'"transmission_time":"' + headers["paypal-transmission-time"].encode() + b'",'
        b'"webhook_id":"4JH86294D6297924G",'
        b'"webhook_event":' + body + b"}"
    )
    assert json.loads(sent.content)["webhook_event"] == json.loads(body)
    assert isinstance(paypal_provider, VerifiesWebhooksRemotely)


async def test_webhooks_missing_headers_or_stale_are_refused_without_asking(
    paypal_provider: PayPalProvider,
) -> None:
    body = webhook_event("PAYMENT.CAPTURE.COMPLETED", capture_object())
    stale = (utcnow() - timedelta(minutes=6)).isoformat()
    partial = {k: v for k, v in transmission().items() if k != "paypal-transmission-sig"}

    with respx.mock(assert_all_called=False) as router:
        verify = router.post(f"{API}/v1/notifications/verify-webhook-signature")
        for headers in ({}, partial, transmission(stale), transmission("yesterday")):
            with pytest.raises(InvalidSignature):
                await paypal_provider.verify_webhook_remotely(body, headers, utcnow())
        with pytest.raises(InvalidSignature):
            paypal_provider.verify_webhook(body, transmission(), utcnow())
    assert verify.call_count == 0


def test_webhook_events_are_normalised(paypal_provider: PayPalProvider) -> None:
    refund = {
        "id": "1JU08902781691411",
        "amount": {"value": "25.00", "currency_code": "USD"},
        "status": "COMPLETED",
        "custom_id": "ref_1",
        "links": [
            {"href": f"{API}/v2/payments/refunds/1JU08902781691411", "rel": "self"},
            {"href": f"{API}/v2/payments/captures/{CAPTURE}", "rel": "up"},
        ],
    }
    denied = capture_object("DECLINED") | {
        "status_details": {"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"}
    }
    item = {"payout_item_id": "8AELMXH8UB2P8", "payout_batch_id": "5UXD2E8A7EBQJ",
            "transaction_id": "0C413693MN970190K",
            "transaction_status": "SUCCESS"}  # fmt: skip
    failed_item = item | {
        "transaction_status": "FAILED",
        "errors": {"name": "RECEIVER_UNREGISTERED", "message": "Receiver is unregistered"},
    }

    parsed = [
        paypal_provider.parse_webhook(webhook_event(t, r, f"WH-{i}"))
        for i, (t, r) in enumerate(
            [
                ("PAYMENT.CAPTURE.COMPLETED", capture_object()),
                ("PAYMENT.CAPTURE.DECLINED", denied),
                ("PAYMENT.CAPTURE.REFUNDED", refund),
                ("PAYMENT.PAYOUTS-ITEM.SUCCEEDED", item),
                ("PAYMENT.PAYOUTS-ITEM.FAILED", failed_item),
                ("CHECKOUT.ORDER.APPROVED", order_object()),
            ]
        )
    ]

    assert parsed == [
        ProviderEvent(
            "WH-0", "PAYMENT.CAPTURE.COMPLETED", "payment_succeeded",
            payment_id="pay_1", provider_payment_id=CAPTURE,
            amount_captured=10_000, fee_amount=320,
        ),
        ProviderEvent(
            "WH-1", "PAYMENT.CAPTURE.DECLINED", "payment_failed",
            payment_id="pay_1", provider_payment_id=CAPTURE,
            failure_code="declined_by_risk_fraud_filters",
            failure_message="PayPal declined the payment.",
        ),
        ProviderEvent(
            "WH-2", "PAYMENT.CAPTURE.REFUNDED", "refund_succeeded",
            provider_payment_id=CAPTURE, refund_id="ref_1",
            provider_refund_id="1JU08902781691411",
        ),
        ProviderEvent(
            "WH-3", "PAYMENT.PAYOUTS-ITEM.SUCCEEDED", "payout_paid",
            provider_transfer_id="5UXD2E8A7EBQJ",
            provider_settlement_id="0C413693MN970190K",
        ),
        ProviderEvent(
            "WH-4", "PAYMENT.PAYOUTS-ITEM.FAILED", "payout_failed",
            failure_code="receiver_unregistered", failure_message="Receiver is unregistered",
            provider_transfer_id="5UXD2E8A7EBQJ",
        ),
        ProviderEvent("WH-5", "CHECKOUT.ORDER.APPROVED", "other"),
    ]  # fmt: skip
