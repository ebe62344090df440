"""Reconciliation against PayPal on a real database: a PayPal payment captured and refunded in
part through the adapter built by the composition root, then PayPal's Transaction Search
(intercepted at the HTTP boundary, shaped like its API reference) compared with the ledger.
The same books agree; a fee PayPal booked differently and a refund it does not have are
found."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import responses
import respx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import events, ledger, share
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.models import Payment, Payout, ReconciliationMismatch, Refund
from marketplace.payments.service import payout_execution, reconciliation
from marketplace.platform.clock import utcnow

API = "https://api-m.sandbox.paypal.com"
ORDER = "5O190127TN364715T"
CAPTURE = "3C679366HH908993F"
REFUND = "1JU08902781691411"


def usd(value: str) -> dict[str, str]:
    return {"currency_code": "USD", "value": value}


@pytest.fixture
def paypal_sdk() -> Iterator[responses.RequestsMock]:
    """PayPal's OAuth token, the vaulted order captured at once and the capture's refund."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{API}/v1/oauth2/token",
            json={"scope": "https://uri.paypal.com/services/payments/payment",
                  "access_token": "A21AAFEpH4PsADK7qSS7pSRsgzfENtu", "token_type": "Bearer",
                  "app_id": "APP-80W284485P519543T", "expires_in": 32_400},
        )  # fmt: skip
        capture = {
            "id": CAPTURE,
            "status": "COMPLETED",
            "amount": usd("20.00"),
            "final_capture": True,
            "seller_receivable_breakdown": {
                "gross_amount": usd("20.00"),
                "paypal_fee": usd("0.88"),
                "net_amount": usd("19.12"),
            },
            "create_time": "2026-05-01T12:00:00Z",
            "update_time": "2026-05-01T12:00:00Z",
        }
        rsps.post(
            f"{API}/v2/checkout/orders",
            status=201,
            json={
                "id": ORDER,
                "intent": "CAPTURE",
                "status": "COMPLETED",
                "purchase_units": [
                    {"reference_id": "default", "amount": usd("20.00"),
                     "payments": {"captures": [capture]}}
                ],
            },
        )  # fmt: skip
        rsps.post(
            f"{API}/v2/payments/captures/{CAPTURE}/refund",
            status=201,
            json={
                "id": REFUND,
                "amount": usd("5.00"),
                "status": "COMPLETED",
                "seller_payable_breakdown": {
                    "gross_amount": usd("5.00"),
                    "paypal_fee": usd("0.00"),
                    "net_amount": usd("5.00"),
                    "total_refunded_amount": usd("5.00"),
                },
                "create_time": "2026-05-01T13:00:00Z",
                "update_time": "2026-05-01T13:00:00Z",
            },
        )
        yield rsps


async def _paid_and_refunded(container: Container) -> tuple[str, str]:
    """2 000 USD paid with a vaulted PayPal wallet, 500 refunded: (payment id, refund id)."""
    async with container.uow_factory() as uow:
        started = await payments.start_payment(
            uow,
            order_id="ord_paypal_rec",
            customer_id="usr_customer",
            currency="USD",
            amount=2_000,
            provider="paypal",
            payment_method="vault_8kk8451t",
            shares=[share("vnd_pp", gross=2_000, commission=(200,), vendor_order_id="vo_pp")],
            idempotency_key="checkout-paypal-rec",
        )
        await uow.commit()
    async with container.uow_factory() as uow:
        await payments.confirm_payment(uow, container.payment_gateways, payment_id=started.id)
        await uow.commit()
    async with container.uow_factory() as uow:
        refund = await payments.request_refund(
            uow,
            order_id="ord_paypal_rec",
            vendor_order_id="vo_pp",
            amount=500,
            reason="damaged",
            idempotency_key="refund-paypal-rec",
            actor_id="usr_vendor",
        )
        await uow.commit()
    await container.jobs.drain()
    return started.id, refund.id


def _row(txn_id: str, code: str, value: str, fee: str | None, when: datetime) -> dict[str, Any]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S+0000")
    info: dict[str, Any] = {
        "paypal_account_id": "6STWC2LSUYYYE",
        "transaction_id": txn_id,
        "transaction_event_code": code,
        "transaction_initiation_date": stamp,
        "transaction_updated_date": stamp,
        "transaction_amount": usd(value),
        "transaction_status": "S",
        "protection_eligibility": "01",
    }
    if fee is not None:
        info["fee_amount"] = usd(fee)
    return {"transaction_info": info, "payer_info": {}, "cart_info": {}, "store_info": {}}


def _search(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "transaction_details": rows,
        "account_number": "XZXSPECPDZHZU",
        "last_refreshed_datetime": "2026-05-03T06:59:59+0000",
        "page": 1,
        "total_items": len(rows),
        "total_pages": 1,
        "links": [],
    }


async def _run(container: Container, start: datetime, end: datetime) -> str:
    async with container.uow_factory() as uow:
        view = await reconciliation.request_run(
            uow,
            container.payment_gateways,
            provider="paypal",
            start=start,
            end=end,
            requested_by="usr_admin",
        )
        await uow.commit()
    await container.jobs.drain()  # payments.reconcile
    return view.id


@respx.mock
async def test_a_paypal_period_whose_records_match_the_ledger_has_no_mismatch(
    respx_mock: respx.MockRouter,
    paypal_sdk: responses.RequestsMock,
    gateways_container: Container,
    session: AsyncSession,
) -> None:
    start = utcnow() - timedelta(minutes=5)
    await _paid_and_refunded(gateways_container)
    now = utcnow()
    search = respx_mock.get(f"{API}/v1/reporting/transactions").respond(
        200,
        json=_search(
            [
                _row(CAPTURE, "T0006", "20.00", "-0.88", now),
                _row(REFUND, "T1107", "-5.00", "0.00", now),
                _row("2GG279541U471931P", "T0400", "-500.00", None, now),  # a withdrawal
            ]
        ),
    )

    run_id = await _run(gateways_container, start, now + timedelta(minutes=5))

    async with gateways_container.uow_factory() as uow:
        view = await reconciliation.get_run(uow, run_id)
    assert (view.status, view.ledger_records, view.provider_records, view.mismatch_count) == (
        "completed",
        2,
        2,
        0,
    )
    assert search.call_count == 1
    assert await events(session, "payments.reconciliation_mismatch_found.v1") == []


@respx.mock
async def test_a_fee_paypal_booked_differently_and_a_refund_it_lacks_are_reported(
    respx_mock: respx.MockRouter,
    paypal_sdk: responses.RequestsMock,
    gateways_container: Container,
    session: AsyncSession,
) -> None:
    start = utcnow() - timedelta(minutes=5)
    payment_id, refund_id = await _paid_and_refunded(gateways_container)
    now = utcnow()
    respx_mock.get(f"{API}/v1/reporting/transactions").respond(
        200, json=_search([_row(CAPTURE, "T0006", "20.00", "-1.20", now)])
    )

    run_id = await _run(gateways_container, start, now + timedelta(minutes=5))

    assert await session.scalar(select(Payment.provider_payment_id)) == CAPTURE
    assert await session.scalar(select(Refund.provider_refund_id)) == REFUND
    rows = (
        await session.scalars(
            select(ReconciliationMismatch)
            .where(ReconciliationMismatch.run_id == run_id)
            .order_by(ReconciliationMismatch.kind)
        )
    ).all()
    assert [
        (m.kind, m.provider_object_id, m.problem, m.ledger_amount, m.provider_amount,
         m.ledger_fee, m.provider_fee, m.reference)
        for m in rows
    ] == [
        ("charge", CAPTURE, "amount_differs", 2_000, 2_000, 88, 120, payment_id),
        ("refund", REFUND, "missing_at_provider", -500, None, 0, None, refund_id),
    ]  # fmt: skip
    assert await events(session, "payments.reconciliation_mismatch_found.v1") == [
        {"run_id": run_id, "provider": "paypal", "mismatch_count": 2}
    ]


BATCH = "5UXD2E8A7EBQJ"
ITEM_TRANSACTION = "0C413693MN970190K"


async def _payout_in_transit(container: Container, status: str = "in_transit") -> str:
    """A 12.00 USD payout PayPal accepted as batch BATCH (its answer: PENDING, or SUCCESS
    with `status="paid"`)."""
    now = utcnow()
    async with container.uow_factory() as uow:
        uow.session.add(
            Payout(
                id="po_paypal_rec",
                vendor_id="vnd_pp",
                amount=1_200,
                currency="USD",
                status=status,
                method="manual",
                provider="paypal",
                run_id=None,
                idempotency_key="payout-paypal-rec",
                provider_idempotency_key="payout-paypal-rec-key",
                provider_transfer_id=BATCH,
                provider_settlement_id=None,
                destination_masked="v***@example.com",
                failure_code=None,
                failure_message=None,
                requested_by="usr_vendor",
                created_at=now,
                updated_at=now,
                sent_at=now,
                paid_at=now if status == "paid" else None,
                failed_at=None,
            )
        )
        await uow.commit()
    return "po_paypal_rec"


async def _item_succeeded(container: Container) -> None:
    """PayPal's `PAYMENT.PAYOUTS-ITEM.SUCCEEDED`, shaped like its webhook reference."""
    body = orjson.dumps(
        {
            "id": "WH-7Y7254563A4550640-11V2185806837105M",
            "event_version": "1.0",
            "create_time": "2026-05-01T14:00:00.000Z",
            "resource_type": "payouts_item",
            "event_type": "PAYMENT.PAYOUTS-ITEM.SUCCEEDED",
            "summary": "A payout item has succeeded",
            "resource": {
                "payout_item_id": "8AELMXH8UB2P8",
                "transaction_id": ITEM_TRANSACTION,
                "transaction_status": "SUCCESS",
                "payout_item_fee": usd("0.25"),
                "payout_batch_id": BATCH,
                "payout_item": {
                    "recipient_type": "EMAIL",
                    "amount": usd("12.00"),
                    "receiver": "vendor@example.com",
                    "sender_item_id": "vnd_pp",
                },
                "time_processed": "2026-05-01T14:00:00Z",
                "links": [],
            },
        }
    )
    event = container.payment_gateways["paypal"].parse_webhook(body)
    async with container.uow_factory() as uow:
        assert await payout_execution.apply_payout_event(uow, "paypal", event)
        await uow.commit()


@respx.mock
async def test_a_paypal_payout_is_paired_by_its_item_transaction_not_its_batch(
    respx_mock: respx.MockRouter,
    paypal_sdk: responses.RequestsMock,
    gateways_container: Container,
    session: AsyncSession,
) -> None:
    start = utcnow() - timedelta(minutes=5)
    await _paid_and_refunded(gateways_container)
    payout_id = await _payout_in_transit(gateways_container)
    await _item_succeeded(gateways_container)
    now = utcnow()
    respx_mock.get(f"{API}/v1/reporting/transactions").respond(
        200,
        json=_search(
            [
                _row(CAPTURE, "T0006", "20.00", "-0.88", now),
                _row(REFUND, "T1107", "-5.00", "0.00", now),
                _row(ITEM_TRANSACTION, "T0001", "-12.00", None, now),
            ]
        ),
    )

    run_id = await _run(gateways_container, start, now + timedelta(minutes=5))

    payout = await session.get(Payout, payout_id, populate_existing=True)
    assert payout is not None
    assert (payout.status, payout.provider_transfer_id, payout.provider_settlement_id) == (
        "paid",
        BATCH,
        ITEM_TRANSACTION,
    )
    async with gateways_container.uow_factory() as uow:
        view = await reconciliation.get_run(uow, run_id)
    mismatches = (
        await session.scalars(
            select(ReconciliationMismatch).where(ReconciliationMismatch.run_id == run_id)
        )
    ).all()
    assert [(m.kind, m.provider_object_id, m.problem) for m in mismatches] == []
    assert (view.status, view.ledger_records, view.provider_records, view.mismatch_count) == (
        "completed",
        3,
        3,
        0,
    )


async def test_a_payout_paypal_answered_as_paid_still_learns_its_item_transaction(
    gateways_container: Container, session: AsyncSession
) -> None:
    payout_id = await _payout_in_transit(gateways_container, status="paid")

    await _item_succeeded(gateways_container)

    payout = await session.get(Payout, payout_id, populate_existing=True)
    assert payout is not None
    assert (payout.status, payout.provider_transfer_id, payout.provider_settlement_id) == (
        "paid",
        BATCH,
        ITEM_TRANSACTION,
    )
    # Recorded paid before: the webhook posts nothing again.
    assert await ledger(session) == []
