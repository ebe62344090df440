"""PayPal's records for reconciliation at the HTTP boundary: Transaction Search
(`GET /v1/reporting/transactions`) intercepted with respx, the SDK's OAuth token with
`responses`; every answer shaped like PayPal's API reference. Asserts the query we send
(31-day windows, every page), which rows become which records with which ids, amounts and
fees, and how PayPal's refusals and outages surface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import responses
import respx

from marketplace.payments.providers import ProviderError, ProviderRecord, ProviderUnavailable
from marketplace.payments.providers.paypal import PayPalProvider

API = "https://api-m.sandbox.paypal.com"
SEARCH = f"{API}/v1/reporting/transactions"
TOKEN = "A21AAFEpH4PsADK7qSS7pSRsgzfENtu-Q1ysgEDVDESseMHBYXVJYE8ovjj68elIDy8nF26AwPhfXTIeWAZHSLIsQ"
CAPTURE = "3C679366HH908993F"
REFUND = "1JU08902781691411"


@pytest.fixture
def paypal_provider() -> PayPalProvider:
    return PayPalProvider(
        client_id="AYSq3RDGsmBLJE-otTkBtM-jBRd1TCQwFf9RGfwddNXWz0uFU9ztymylOhRS",
        client_secret="EGnHDxD_qRPdaLdZz8iCr8N7_MzF-YHPTkjs6NKYQvQSBngp4PTTVWkPZRbL",
        webhook_id="4JH86294D6297924G",
        environment="sandbox",
    )


@pytest.fixture(autouse=True)
def oauth() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{API}/v1/oauth2/token",
            json={
                "scope": "https://uri.paypal.com/services/reporting/search/read",
                "access_token": TOKEN,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": 32_400,
                "nonce": "2026-05-01T12:00:00ZaYZlGvEkV4yVSz8g6bAKFoGSEzuy3CQcz3ljhibkOHg",
            },
        )
        yield rsps


def money(value: str, currency: str = "USD") -> dict[str, str]:
    return {"currency_code": currency, "value": value}


def row(
    txn_id: str,
    code: str,
    value: str,
    *,
    fee: str | None = None,
    currency: str = "USD",
    at: str = "2026-05-01T12:00:00+0000",
    status: str = "S",
    reference: str | None = None,
) -> dict[str, Any]:
    """One `transaction_details[]` item as Transaction Search writes it with `fields=all`."""
    info: dict[str, Any] = {
        "paypal_account_id": "6STWC2LSUYYYE",
        "transaction_id": txn_id,
        "transaction_event_code": code,
        "transaction_initiation_date": at,
        "transaction_updated_date": at,
        "transaction_amount": money(value, currency),
        "transaction_status": status,
        "ending_balance": money("1000.00", currency),
        "available_balance": money("1000.00", currency),
        "custom_field": "pay_1",
        "invoice_id": "ord_1",
        "protection_eligibility": "01",
    }
    if fee is not None:
        info["fee_amount"] = money(fee, currency)
    if reference is not None:
        info["paypal_reference_id"] = reference
        info["paypal_reference_id_type"] = "TXN"
    return {
        "transaction_info": info,
        "payer_info": {
            "account_id": "6STWC2LSUYYYE",
            "email_address": "consumer@example.com",
            "address_status": "Y",
            "payer_status": "Y",
            "payer_name": {"given_name": "test", "surname": "consumer"},
            "country_code": "US",
        },
        "shipping_info": {"name": "test consumer"},
        "cart_info": {},
        "store_info": {},
        "auction_info": {},
        "incentive_info": {},
    }


def page(
    rows: list[dict[str, Any]], number: int, pages: int, start: str, end: str
) -> dict[str, Any]:
    return {
        "transaction_details": rows,
        "account_number": "XZXSPECPDZHZU",
        "start_date": start,
        "end_date": end,
        "last_refreshed_datetime": "2026-05-03T06:59:59+0000",
        "page": number,
        "total_items": len(rows),
        "total_pages": pages,
        "links": [
            {
                "href": f"{SEARCH}?start_date={start}&end_date={end}&page={number}",
                "rel": "self",
                "method": "GET",
            }
        ],
    }


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, tzinfo=UTC)


@respx.mock
async def test_a_period_is_read_page_by_page_and_mapped_to_our_records(
    respx_mock: respx.MockRouter, paypal_provider: PayPalProvider
) -> None:
    first = [
        row(CAPTURE, "T0006", "100.00", fee="-3.20"),
        # A merchant refund: PayPal kept the capture's fee, nothing comes back.
        row(REFUND, "T1107", "-25.00", fee="0.00", reference=CAPTURE, at="2026-05-01T13:00:00Z"),
        row("10890159B0554833L", "T0001", "-15.00", fee="-0.25", reference="1FX78001X2681601H"),
        row("8MC585209K746392H", "T1201", "-40.00", fee="-20.00", reference="9HW4R2TR2X7V1"),
        row("4CF18861HF410323U", "T1202", "40.00", reference="9HW4R2TR2X7V1"),
        # Not ours to reconcile: a pending capture, a capture this account paid as a buyer,
        # a hold for a dispute and a withdrawal to the bank.
        row("0WS09521DM0311422", "T0006", "9.00", fee="-0.56", status="P"),
        row("5TY05013RG002845M", "T0006", "-12.00"),
        row("7J4446263R5452240", "T1110", "-40.00"),
        row("2GG279541U471931P", "T0400", "-500.00"),
    ]
    second = [row("7KW71547PH4812024", "T0006", "1500", fee="-60", currency="JPY")]
    span = ("2026-05-01T00:00:00+0000", "2026-05-01T23:59:59+0000")
    route = respx_mock.get(SEARCH)
    route.side_effect = [
        httpx.Response(200, json=page(first, 1, 2, *span)),
        httpx.Response(200, json=page(second, 2, 2, *span)),
    ]

    records = await paypal_provider.list_records(start=at(1), end=at(2))

    noon = at(1, 12)
    assert records == [
        ProviderRecord("charge", CAPTURE, 10_000, 320, "USD", noon),
        ProviderRecord("refund", REFUND, -2_500, 0, "USD", at(1, 13)),
        ProviderRecord("transfer", "10890159B0554833L", -1_500, 25, "USD", noon),
        ProviderRecord("dispute", "8MC585209K746392H", -4_000, 2_000, "USD", noon),
        ProviderRecord("dispute_reversal", "4CF18861HF410323U", 4_000, 0, "USD", noon),
        ProviderRecord("charge", "7KW71547PH4812024", 1_500, 60, "JPY", noon),
    ]
    assert [dict(call.request.url.params) for call in route.calls] == [
        {
            "start_date": "2026-05-01T00:00:00Z",
            "end_date": "2026-05-01T23:59:59Z",
            "fields": "all",
            "page_size": "500",
            "page": str(number),
        }
        for number in (1, 2)
    ]
    assert {call.request.headers["Authorization"] for call in route.calls} == {f"Bearer {TOKEN}"}


@respx.mock
async def test_a_period_longer_than_31_days_is_searched_in_windows(
    respx_mock: respx.MockRouter, paypal_provider: PayPalProvider
) -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 12, tzinfo=UTC)
    # A capture on the first window's last instant and one on the second's first: PayPal's
    # inclusive end may hand the boundary's second to both windows, it is counted once.
    before = row("1AB00000000000001", "T0006", "10.00", at="2026-01-31T23:59:59Z")
    boundary = row("1AB00000000000002", "T0006", "20.00", fee="-0.88", at="2026-02-01T00:00:00Z")
    route = respx_mock.get(SEARCH)
    route.side_effect = [
        httpx.Response(200, json=page([before, boundary], 1, 1, "2026-01-01", "2026-01-31")),
        httpx.Response(200, json=page([boundary], 1, 1, "2026-02-01", "2026-03-03")),
        httpx.Response(200, json=page([], 1, 0, "2026-03-04", "2026-03-11")),
    ]

    records = await paypal_provider.list_records(start=start, end=end)

    assert [(c.request.url.params["start_date"], c.request.url.params["end_date"])
            for c in route.calls] == [
        ("2026-01-01T00:00:00Z", "2026-01-31T23:59:59Z"),
        ("2026-02-01T00:00:00Z", "2026-03-03T23:59:59Z"),
        ("2026-03-04T00:00:00Z", "2026-03-11T23:59:59Z"),
    ]  # fmt: skip
    assert [(r.source_id, r.amount, r.fee, r.created_at) for r in records] == [
        ("1AB00000000000001", 1_000, 0, datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)),
        ("1AB00000000000002", 2_000, 88, datetime(2026, 2, 1, tzinfo=UTC)),
    ]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": "invalid_token",
               "error_description": "Token signature verification failed"}),
        (403, {"name": "NOT_AUTHORIZED", "message": "Authorization failed due to insufficient "
               "permissions.", "debug_id": "7f5f4c2e4b9c3", "links": []}),
        (400, {"name": "INVALID_REQUEST", "message": "Request is not well-formed, syntactically "
               "incorrect, or violates schema.", "debug_id": "b3eb6e2bc1a04", "details": [
                   {"field": "start_date", "issue": "Date range is greater than 31 days"}]}),
    ],
)  # fmt: skip
async def test_refused_searches_are_provider_errors(
    respx_mock: respx.MockRouter,
    paypal_provider: PayPalProvider,
    status: int,
    body: dict[str, Any],
) -> None:
    respx_mock.get(SEARCH).respond(status, json=body)

    with pytest.raises(ProviderError, match="transaction search") as refused:
        await paypal_provider.list_records(start=at(1), end=at(2))

    assert not isinstance(refused.value, ProviderUnavailable)


@respx.mock
async def test_an_outage_on_any_page_is_unavailable(
    respx_mock: respx.MockRouter, paypal_provider: PayPalProvider
) -> None:
    internal = {"name": "INTERNAL_SERVICE_ERROR", "message": "An internal service error has "
                "occurred.", "debug_id": "90957fca61718", "links": []}  # fmt: skip
    span = ("2026-05-01T00:00:00+0000", "2026-05-01T23:59:59+0000")
    route = respx_mock.get(SEARCH)
    route.side_effect = [
        httpx.Response(503, json=internal),
        httpx.ReadTimeout("read timed out"),
        httpx.Response(200, json=page([row(CAPTURE, "T0006", "1.00")], 1, 2, *span)),
        httpx.Response(500, json=internal),
    ]

    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await paypal_provider.list_records(start=at(1), end=at(2))

    assert [c.request.url.params["page"] for c in route.calls] == ["1", "1", "1", "2"]


async def test_an_amount_finer_than_the_currency_is_refused_not_rounded(
    paypal_provider: PayPalProvider,
) -> None:
    with respx.mock:
        respx.get(SEARCH).respond(
            200,
            json=page([row(CAPTURE, "T0006", "10.005")], 1, 1, "2026-05-01", "2026-05-01"),
        )
        with pytest.raises(ProviderError, match=CAPTURE):
            await paypal_provider.list_records(start=at(1), end=at(2))
