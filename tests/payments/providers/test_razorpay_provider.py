"""The Razorpay adapter at the HTTP boundary: the official SDK's requests are intercepted with
`responses` and answered with entities shaped like Razorpay's API reference. Asserts what
we send (path, method, JSON body, Basic auth, X-Refund-Idempotency) and what we make of each
answer; webhooks are signed with Razorpay's real scheme (HMAC-SHA256 of the body) in the
test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests
import responses

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
from marketplace.payments.providers.razorpay import RazorpayProvider
from marketplace.platform.clock import utcnow

API = "https://api.razorpay.com/v1"
KEY_ID = "rzp_test_1DP5mmOlF5G5ag"
KEY_SECRET = "thisisasecretkey0123"
WEBHOOK_SECRET = "whsec_razorpay_test_987"
PAY = "pay_29QQoUBi66xm2f"
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()


@pytest.fixture
def razorpay_provider() -> RazorpayProvider:
    return RazorpayProvider(key_id=KEY_ID, key_secret=KEY_SECRET, webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def payment_entity(status: str = "authorized", **overrides: Any) -> dict[str, Any]:
    """A payment as `GET /v1/payments/{id}` answers it."""
    captured = status in {"captured", "refunded"}
    return {
        "id": PAY,
        "entity": "payment",
        "amount": 50_000,
        "currency": "INR",
        "status": status,
        "order_id": "order_DBJOWzybf0sJbb",
        "invoice_id": None,
        "international": False,
        "method": "card",
        "amount_refunded": 0,
        "refund_status": None,
        "captured": captured,
        "description": "Marketplace order",
        "card_id": "card_DBJOX1ubcpoBP3",
        "bank": None,
        "wallet": None,
        "vpa": None,
        "email": "gaurav.kumar@example.com",
        "contact": "+919000090000",
        "notes": [],
        "fee": 1_180 if captured else None,
        "tax": 180 if captured else None,
        "error_code": None,
        "error_description": None,
        "error_source": None,
        "error_step": None,
        "error_reason": None,
        "acquirer_data": {"auth_code": "064381"},
        "created_at": 1567674599,
    } | overrides


def charge_request(**overrides: Any) -> ChargeRequest:
    values: dict[str, Any] = {
        "idempotency_key": "mk_payment_0123456789abcdef",
        "amount": 50_000,
        "currency": "INR",
        "payment_method": PAY,
        "metadata": {"payment_id": "pay_ours_1", "order_id": "ord_1"},
    }
    return ChargeRequest(**(values | overrides))


def error(description: str, code: str = "BAD_REQUEST_ERROR") -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "description": description,
            "source": "business",
            "step": "payment_initiation",
            "reason": "input_validation_failed",
            "metadata": {},
        }
    }


async def test_a_charge_checks_the_payment_notes_our_ids_and_captures_it(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    fetch = mocked.get(f"{API}/payments/{PAY}", json=payment_entity())
    edit = mocked.patch(f"{API}/payments/{PAY}", json=payment_entity())
    capture = mocked.post(f"{API}/payments/{PAY}/capture", json=payment_entity("captured"))

    result = await razorpay_provider.charge(charge_request())

    assert result == ChargeResult(
        provider_payment_id=PAY, status="succeeded", amount_captured=50_000, fee_amount=1_180
    )
    assert (fetch.call_count, edit.call_count, capture.call_count) == (1, 1, 1)
    assert [c.request.method for c in mocked.calls] == ["GET", "PATCH", "POST"]
    assert {c.request.headers["Authorization"] for c in mocked.calls} == {BASIC}
    assert json.loads(mocked.calls[1].request.body) == {
        "notes": {"payment_id": "pay_ours_1", "order_id": "ord_1"}
    }
    assert json.loads(mocked.calls[2].request.body) == {"amount": 50_000, "currency": "INR"}


async def test_a_retry_after_a_lost_answer_finds_the_payment_captured(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    ours = {"payment_id": "pay_ours_1", "order_id": "ord_1"}
    mocked.get(f"{API}/payments/{PAY}", json=payment_entity("captured", notes=ours))

    result = await razorpay_provider.charge(charge_request())

    assert (result.status, result.amount_captured, result.fee_amount) == (
        "succeeded",
        50_000,
        1_180,
    )
    assert [c.request.method for c in mocked.calls] == ["GET"]


async def test_a_payment_captured_for_another_order_cannot_pay_again(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    theirs = {"payment_id": "pay_ours_0", "order_id": "ord_0"}
    mocked.get(f"{API}/payments/{PAY}", json=payment_entity("captured", notes=theirs))
    mocked.get(f"{API}/payments/pay_untagged", json=payment_entity("captured", id="pay_untagged"))

    reused = await razorpay_provider.charge(charge_request())
    untagged = await razorpay_provider.charge(charge_request(payment_method="pay_untagged"))

    assert (reused.status, reused.failure_code) == ("failed", "payment_already_used")
    assert (untagged.status, untagged.failure_code) == ("failed", "payment_already_used")
    assert [c.request.method for c in mocked.calls] == ["GET", "GET"]


async def test_failed_mismatched_and_unknown_payments_are_failed_charges_never_captured(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    failed = payment_entity(
        "failed",
        error_code="BAD_REQUEST_ERROR",
        error_description="Payment failed because the card was declined.",
        error_reason="card_declined",
    )
    mocked.get(f"{API}/payments/{PAY}", json=failed)
    mocked.get(f"{API}/payments/pay_other", json=payment_entity(amount=40_000, id="pay_other"))
    mocked.get(
        f"{API}/payments/pay_missing", status=400, json=error("The id provided does not exist")
    )

    declined = await razorpay_provider.charge(charge_request())
    mismatched = await razorpay_provider.charge(charge_request(payment_method="pay_other"))
    missing = await razorpay_provider.charge(charge_request(payment_method="pay_missing"))

    assert declined == ChargeResult(
        PAY, "failed", 0, failure_code="card_declined",
        failure_message="Payment failed because the card was declined.",
    )  # fmt: skip
    assert (mismatched.status, mismatched.failure_code) == ("failed", "amount_mismatch")
    assert (missing.status, missing.failure_code) == ("failed", "payment_not_found")
    assert {c.request.method for c in mocked.calls} == {"GET"}


async def test_timeouts_and_server_errors_are_unavailable_and_bad_keys_are_errors(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    url = f"{API}/payments/{PAY}"
    mocked.get(url, body=requests.exceptions.ReadTimeout("read timed out"))
    mocked.get(url, status=500, json=error("The server encountered an error", "SERVER_ERROR"))
    mocked.get(url, status=502, body="<html>Bad Gateway</html>")
    mocked.get(url, status=401, json=error("Authentication failed"))

    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await razorpay_provider.charge(charge_request())
    with pytest.raises(ProviderError, match="key id and secret were refused"):
        await razorpay_provider.charge(charge_request())
    assert len(mocked.calls) == 4


def refund_entity(status: str = "processed") -> dict[str, Any]:
    return {
        "id": "rfnd_FP8QHiV938haTz",
        "entity": "refund",
        "amount": 20_000,
        "receipt": None,
        "currency": "INR",
        "payment_id": PAY,
        "notes": {"refund_id": "ref_1", "payment_id": "pay_ours_1"},
        "acquirer_data": {"arn": None},
        "created_at": 1597078866,
        "batch_id": None,
        "status": status,
        "speed_processed": "normal",
        "speed_requested": "normal",
    }


def refund_request() -> RefundRequest:
    return RefundRequest(
        idempotency_key="mk_refund_abcdef0123456789",
        provider_payment_id=PAY,
        amount=20_000,
        currency="INR",
        metadata={"refund_id": "ref_1", "payment_id": "pay_ours_1"},
    )


async def test_a_refund_carries_our_ids_and_the_idempotency_header(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    url = f"{API}/payments/{PAY}/refund"
    mocked.post(url, json=refund_entity())
    mocked.post(url, json=refund_entity("failed"))
    mocked.post(url, json=refund_entity("pending"))
    mocked.post(
        url, status=400, json=error("The refund amount provided is greater than amount captured")
    )

    succeeded = await razorpay_provider.refund(refund_request())
    failed = await razorpay_provider.refund(refund_request())
    with pytest.raises(ProviderUnavailable, match="pending"):
        await razorpay_provider.refund(refund_request())
    too_large = await razorpay_provider.refund(refund_request())

    assert succeeded == RefundResult("rfnd_FP8QHiV938haTz", "succeeded")
    assert (failed.status, failed.failure_code) == ("failed", "refund_failed")
    assert (too_large.status, too_large.failure_code) == ("failed", "amount_too_large")
    sent = mocked.calls[0].request
    assert sent.headers["X-Refund-Idempotency"] == "mk_refund_abcdef0123456789"
    assert json.loads(sent.body) == {
        "amount": 20_000,
        "notes": {"refund_id": "ref_1", "payment_id": "pay_ours_1"},
    }


def transfer_entity(status: str = "processed", source: str = PAY) -> dict[str, Any]:
    return {
        "id": "trf_JJD535tJtk6Yy0",
        "entity": "transfer",
        "status": status,
        "source": source,
        "recipient": "acc_IROu8Nod6PXPtZ",
        "amount": 45_000,
        "currency": "INR",
        "amount_reversed": 0,
        "notes": {"vendor_id": "vnd_1", "idempotency_key": "mk_payout_0011223344"},
        "linked_account_notes": [],
        "on_hold": False,
        "on_hold_until": None,
        "recipient_settlement_id": None,
        "created_at": 1649933574,
        "processed_at": 1649933575,
        "error": {"code": None, "description": None, "reason": None, "field": None,
                  "step": None, "id": "trf_JJD535tJtk6Yy0", "source": None, "metadata": None},
    }  # fmt: skip


async def test_route_transfers_from_a_payment_or_from_the_balance(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    none_yet = {"entity": "collection", "count": 0, "items": []}
    mocked.get(f"{API}/payments/{PAY}/transfers", json=none_yet)
    mocked.get(f"{API}/transfers", json=none_yet)
    from_payment = mocked.post(
        f"{API}/payments/{PAY}/transfers",
        json={"entity": "collection", "count": 1, "items": [transfer_entity()]},
    )
    direct = mocked.post(f"{API}/transfers", json=transfer_entity("pending", source="acc_platform"))
    destination = {"razorpay_account": "acc_IROu8Nod6PXPtZ"}

    split = await razorpay_provider.transfer(
        TransferRequest(
            "mk_payout_0011223344", "vnd_1", 45_000, "INR", destination | {"source_payment": PAY}
        )
    )
    payout = await razorpay_provider.transfer(
        TransferRequest("mk_payout_0011223344", "vnd_1", 45_000, "INR", destination)
    )

    assert split == TransferResult("trf_JJD535tJtk6Yy0", "paid")
    assert payout == TransferResult("trf_JJD535tJtk6Yy0", "pending")
    item = {
        "account": "acc_IROu8Nod6PXPtZ",
        "amount": 45_000,
        "currency": "INR",
        "notes": {"vendor_id": "vnd_1", "idempotency_key": "mk_payout_0011223344"},
    }
    assert json.loads(from_payment.calls[0].request.body) == {"transfers": [item]}
    assert json.loads(direct.calls[0].request.body) == item
    with pytest.raises(ProviderError, match="razorpay_account"):
        await razorpay_provider.transfer(TransferRequest("k" * 12, "vnd_1", 1, "INR", {}))


async def test_a_retried_transfer_finds_the_one_its_key_made_and_makes_no_other(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    # Given a transfer made with our key whose answer was lost (and another one's transfer)
    other = transfer_entity() | {"id": "trf_other", "notes": {"idempotency_key": "mk_other"}}
    listed = mocked.get(
        f"{API}/transfers",
        json={"entity": "collection", "count": 2, "items": [other, transfer_entity()]},
    )
    create = mocked.post(f"{API}/transfers", json=transfer_entity())
    destination = {"razorpay_account": "acc_IROu8Nod6PXPtZ"}

    # When the payout job sends the same key again
    again = await razorpay_provider.transfer(
        TransferRequest("mk_payout_0011223344", "vnd_1", 45_000, "INR", destination)
    )

    # Then it is answered from the transfer found, and nothing new is created
    assert again == TransferResult("trf_JJD535tJtk6Yy0", "paid")
    assert create.call_count == 0
    query = listed.calls[0].request.params
    assert (query["count"], query["skip"]) == ("100", "0")
    assert int(query["to"]) - int(query["from"]) >= 7 * 24 * 3600


def webhook(event: str, **entities: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "entity": "event",
            "account_id": "acc_BFQ7uQEaa7j2z7",
            "event": event,
            "contains": list(entities),
            "payload": {name: {"entity": entity} for name, entity in entities.items()},
            "created_at": 1567674606,
        }
    )


def test_webhooks_verify_with_razorpays_hmac(razorpay_provider: RazorpayProvider) -> None:
    body = webhook("payment.captured", payment=payment_entity("captured"))
    good = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    forged = hmac.new(b"another secret", body, hashlib.sha256).hexdigest()

    razorpay_provider.verify_webhook(body, {"x-razorpay-signature": good}, utcnow())
    for headers in ({}, {"x-razorpay-signature": forged}, {"x-razorpay-signature": good[:-1]}):
        with pytest.raises(InvalidSignature):
            razorpay_provider.verify_webhook(body, headers, utcnow())
    with pytest.raises(InvalidSignature):
        razorpay_provider.verify_webhook(body + b" ", {"x-razorpay-signature": good}, utcnow())


def test_webhook_events_are_normalised(razorpay_provider: RazorpayProvider) -> None:
    ours = {"payment_id": "pay_ours_1", "order_id": "ord_1"}
    captured = payment_entity("captured", notes=ours)
    failed = payment_entity(
        "failed", notes=ours, error_code="BAD_REQUEST_ERROR",
        error_description="Your payment didn't go through.", error_reason="payment_failed",
    )  # fmt: skip
    failed_transfer = transfer_entity("failed") | {
        "error": {"reason": "linked_account_suspended", "description": "suspended"}
    }

    parsed = [
        razorpay_provider.parse_webhook(body)
        for body in [
            webhook("payment.captured", payment=captured),
            webhook("payment.failed", payment=failed),
            webhook("refund.processed", refund=refund_entity(), payment=captured),
            webhook("refund.failed", refund=refund_entity("failed"), payment=captured),
            webhook("transfer.processed", transfer=transfer_entity()),
            webhook("transfer.failed", transfer=failed_transfer),
            webhook("order.paid", order={"id": "order_DBJOWzybf0sJbb"}),
        ]
    ]

    rfnd = "rfnd_FP8QHiV938haTz"
    assert parsed == [
        ProviderEvent(
            f"payment.captured:{PAY}", "payment.captured", "payment_succeeded",
            payment_id="pay_ours_1", provider_payment_id=PAY,
            amount_captured=50_000, fee_amount=1_180,
        ),
        ProviderEvent(
            f"payment.failed:{PAY}", "payment.failed", "payment_failed",
            payment_id="pay_ours_1", provider_payment_id=PAY,
            failure_code="payment_failed", failure_message="Your payment didn't go through.",
        ),
        ProviderEvent(
            f"refund.processed:{rfnd}", "refund.processed", "refund_succeeded",
            payment_id="pay_ours_1", provider_payment_id=PAY,
            amount_captured=50_000, fee_amount=1_180,
            refund_id="ref_1", provider_refund_id=rfnd,
        ),
        ProviderEvent(
            f"refund.failed:{rfnd}", "refund.failed", "refund_failed",
            payment_id="pay_ours_1", provider_payment_id=PAY,
            amount_captured=50_000, fee_amount=1_180,
            failure_code="refund_failed",
            failure_message="Razorpay could not refund the payment.",
            refund_id="ref_1", provider_refund_id=rfnd,
        ),
        ProviderEvent(
            "transfer.processed:trf_JJD535tJtk6Yy0", "transfer.processed", "payout_paid",
            provider_transfer_id="trf_JJD535tJtk6Yy0",
        ),
        ProviderEvent(
            "transfer.failed:trf_JJD535tJtk6Yy0", "transfer.failed", "payout_failed",
            failure_code="linked_account_suspended", failure_message="suspended",
            provider_transfer_id="trf_JJD535tJtk6Yy0",
        ),
        ProviderEvent("order.paid:order_DBJOWzybf0sJbb", "order.paid", "other"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a Razorpay event"):
        razorpay_provider.parse_webhook(b'{"event": "payment.captured", "payload": {}}')


# --- records (reconciliation) ---------------------------------------------------------------

DAY = 1_764_720_000  # 2026-12-03T00:00:00Z


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}


def listed_refund(refund_id: str, status: str, created_at: int) -> dict[str, Any]:
    """A refund as `GET /v1/refunds` lists it."""
    return refund_entity(status) | {"id": refund_id, "amount": 12_000, "created_at": created_at}


def listed_transfer(transfer_id: str, status: str, created_at: int) -> dict[str, Any]:
    """A Route transfer as `GET /v1/transfers` lists it (with its fees, GST included)."""
    return transfer_entity(status) | {
        "id": transfer_id,
        "amount": 30_000,
        "fees": 118,
        "tax": 18,
        "created_at": created_at,
        "processed_at": created_at + 2,
    }


async def test_records_of_a_period_are_listed_page_by_page(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    # A full first page (100: one captured payment, the rest failed attempts), then the rest.
    first_page = [payment_entity("captured", id=PAY, created_at=DAY + 60)] + [
        payment_entity("failed", id=f"pay_failed{i:03}", created_at=DAY + 61) for i in range(99)
    ]
    second_page = [
        payment_entity("refunded", id="pay_refunded", amount=20_000, fee=590, created_at=DAY + 70),
        payment_entity("authorized", id="pay_authorized", created_at=DAY + 80),
    ]
    period = {"from": str(DAY), "to": str(DAY + 86_399), "count": "100"}
    payments_first = mocked.get(
        f"{API}/payments",
        json=collection(first_page),
        match=[responses.matchers.query_param_matcher(period | {"skip": "0"})],
    )
    payments_second = mocked.get(
        f"{API}/payments",
        json=collection(second_page),
        match=[responses.matchers.query_param_matcher(period | {"skip": "100"})],
    )
    refunds = mocked.get(
        f"{API}/refunds",
        json=collection(
            [
                listed_refund("rfnd_FP8QHiV938haTz", "processed", DAY + 90),
                listed_refund("rfnd_FP8R8EGjGbPkVb", "pending", DAY + 91),
            ]
        ),
        match=[responses.matchers.query_param_matcher(period | {"skip": "0"})],
    )
    transfers = mocked.get(
        f"{API}/transfers",
        json=collection(
            [
                listed_transfer("trf_E9uhYLFLLZ2pks", "processed", DAY + 100),
                listed_transfer("trf_E9utgtfGTcpcmm", "failed", DAY + 101),
            ]
        ),
        match=[responses.matchers.query_param_matcher(period | {"skip": "0"})],
    )
    start = datetime.fromtimestamp(DAY, UTC)

    records = await razorpay_provider.list_records(start=start, end=start + timedelta(days=1))

    def at(offset: int) -> datetime:
        return datetime.fromtimestamp(DAY + offset, UTC)

    assert records == [
        ProviderRecord("charge", PAY, 50_000, 1_180, "INR", at(60)),
        ProviderRecord("charge", "pay_refunded", 20_000, 590, "INR", at(70)),
        ProviderRecord("refund", "rfnd_FP8QHiV938haTz", -12_000, 0, "INR", at(90)),
        ProviderRecord("transfer", "trf_E9uhYLFLLZ2pks", -30_000, 118, "INR", at(100)),
    ]
    for route in (payments_first, payments_second, refunds, transfers):
        assert route.call_count == 1
        assert route.calls[0].request.headers["Authorization"] == BASIC


async def test_listing_records_with_refused_keys_is_an_error(
    mocked: responses.RequestsMock, razorpay_provider: RazorpayProvider
) -> None:
    mocked.get(
        f"{API}/payments",
        status=401,
        json=error("Authentication failed", "BAD_REQUEST_ERROR"),
    )
    start = datetime.fromtimestamp(DAY, UTC)

    with pytest.raises(ProviderError, match="key id and secret were refused"):
        await razorpay_provider.list_records(start=start, end=start + timedelta(days=1))
