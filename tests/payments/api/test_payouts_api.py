"""Payouts over HTTP: manual requests (idempotent, only from available money, only to verified
vendors with an account), the sandbox's asynchronous outcome through the signed webhook,
failed payouts returning the funds, schedules, admin runs, and vendors in the red."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import auth_headers, create_user
from factories.payments import balances, events, ledger, refund
from factories.payouts import (
    FAILING_IBAN,
    earn,
    payable_vendor,
    payouts_of,
    set_payout_account,
)
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.payments.models import (
    LedgerTransaction,
    Payout,
    PayoutSchedule,
    SandboxTransfer,
)
from marketplace.payments.providers.sandbox import SIGNATURE_HEADER, SandboxProvider
from marketplace.platform.clock import utcnow
from marketplace.platform.models import OutboxMessage
from marketplace.vendors.models import Vendor


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _settle(container: Container) -> None:
    """Run the payout job, then the sandbox's webhook delivery and its processing."""
    for _ in range(3):
        await container.jobs.drain()


def _url(vendor_id: str) -> str:
    return f"/v1/vendors/{vendor_id}/payouts"


async def _available(client: httpx.AsyncClient, vendor_id: str, headers: Any) -> list[Any]:
    response = await client.get(f"/v1/vendors/{vendor_id}/balance", headers=headers)
    assert response.status_code == 200
    return list(response.json()["available"])


async def test_a_payout_retried_with_the_same_key_makes_one_payout_and_one_transfer(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 10_000)
    headers = {**auth_headers(container, vendor.owner), "Idempotency-Key": "po-1"}

    first = await client.post(_url(vendor.id), json={}, headers=headers)
    second = await client.post(_url(vendor.id), json={}, headers=headers)
    await _settle(container)
    third = await client.post(_url(vendor.id), json={}, headers=headers)
    shown = await client.get(f"{_url(vendor.id)}/{first.json()['id']}", headers=headers)

    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["amount"], body["status"], body["method"], body["destination"]) == (
        {"amount": 10_000, "currency": "EUR"},
        "pending",
        "manual",
        "****3000",
    )
    assert (second.status_code, second.json()["id"]) == (201, body["id"])
    assert second.headers["idempotent-replayed"] == "true"
    assert third.status_code == 201
    assert third.json()["id"] == body["id"]
    assert (shown.status_code, shown.json()["status"]) == (200, "paid")
    assert await payouts_of(session, vendor.id) == [(10_000, "EUR", "paid")]
    assert await _count(session, SandboxTransfer) == 1
    assert [p["payout_id"] for p in await events(session, "payments.payout_sent.v1")] == [
        body["id"]
    ]
    totals = await balances(session)
    assert (f"vendor_available:{vendor.id}", "EUR") not in totals
    assert (f"payouts_in_transit:{vendor.id}", "EUR") not in totals
    payout_postings = [p for kind, p in await ledger(session) if kind == "payout"]
    assert payout_postings == [
        [(f"vendor_available:{vendor.id}", 10_000), (f"payouts_in_transit:{vendor.id}", -10_000)],
        [(f"payouts_in_transit:{vendor.id}", 10_000), ("gateway_clearing:sandbox", -10_000)],
    ]
    audited = (
        await session.scalars(
            select(AuditLogEntry.resource_id).where(AuditLogEntry.action == "payout.requested")
        )
    ).all()
    assert list(audited) == [body["id"]]


async def test_another_vendors_payout_is_not_found(
    client: httpx.AsyncClient, container: Container
) -> None:
    vendor = await payable_vendor(container)
    other = await payable_vendor(container)
    await earn(container, vendor.id, 1_000)
    headers = {**auth_headers(container, vendor.owner), "Idempotency-Key": "mine"}
    made = (await client.post(_url(vendor.id), json={}, headers=headers)).json()

    foreign = await client.get(
        f"{_url(other.id)}/{made['id']}", headers=auth_headers(container, other.owner)
    )
    listed = await client.get(_url(other.id), headers=auth_headers(container, other.owner))

    assert (foreign.status_code, foreign.json()["code"]) == (404, "payout_not_found")
    assert listed.json() == {"data": [], "next_cursor": None}


async def test_the_same_key_with_another_amount_is_refused(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 5_000)
    headers = {**auth_headers(container, vendor.owner), "Idempotency-Key": "po-2"}

    first = await client.post(
        _url(vendor.id), json={"amount": {"amount": 1_000, "currency": "EUR"}}, headers=headers
    )
    other = await client.post(
        _url(vendor.id), json={"amount": {"amount": 2_000, "currency": "EUR"}}, headers=headers
    )

    assert first.status_code == 201
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert await payouts_of(session, vendor.id) == [(1_000, "EUR", "pending")]


async def test_a_payout_needs_an_idempotency_key(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 5_000)

    response = await client.post(
        _url(vendor.id), json={}, headers=auth_headers(container, vendor.owner)
    )

    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_required")
    assert await payouts_of(session, vendor.id) == []


async def test_a_payout_beyond_the_available_balance_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 5_000)
    await earn(container, vendor.id, 7_000, release=False)  # pending: never payable
    headers = {**auth_headers(container, vendor.owner), "Idempotency-Key": "po-big"}
    transactions = await _count(session, LedgerTransaction)
    outbox = await _count(session, OutboxMessage)

    response = await client.post(
        _url(vendor.id), json={"amount": {"amount": 5_001, "currency": "EUR"}}, headers=headers
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "payout_exceeds_available"
    assert problem["errors"][0]["loc"] == ["body", "amount", "amount"]
    assert problem["detail"] == "at most 5000 EUR is available"
    assert await payouts_of(session, vendor.id) == []
    assert await _count(session, LedgerTransaction) == transactions
    assert await _count(session, OutboxMessage) == outbox
    assert await _available(client, vendor.id, headers) == [{"amount": 5_000, "currency": "EUR"}]


async def test_pending_money_is_never_paid_out(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    admin = await create_user(container, platform_role="admin")
    await earn(container, vendor.id, 9_000, release=False)
    headers = {**auth_headers(container, vendor.owner), "Idempotency-Key": "po-held"}

    requested = await client.post(_url(vendor.id), json={}, headers=headers)
    run = await client.post(
        "/v1/admin/payouts/run",
        json={"vendor_id": vendor.id},
        headers=auth_headers(container, admin),
    )

    assert (requested.status_code, requested.json()["code"]) == (409, "payout_nothing_available")
    assert run.status_code == 200
    assert (run.json()["payout_count"], run.json()["skipped"]) == (
        0,
        [{"vendor_id": vendor.id, "currency": "EUR", "reason": "nothing_available"}],
    )
    assert await payouts_of(session, vendor.id) == []


async def test_vendors_without_kyc_or_without_a_payout_account_are_refused(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    unverified = await payable_vendor(container, kyc="pending")
    no_account = await payable_vendor(container, account=False)
    for vendor in (unverified, no_account):
        await earn(container, vendor.id, 3_000)
    transactions = await _count(session, LedgerTransaction)

    refused = [
        await client.post(
            _url(vendor.id),
            json={},
            headers={**auth_headers(container, vendor.owner), "Idempotency-Key": "k"},
        )
        for vendor in (unverified, no_account)
    ]

    assert [(r.status_code, r.json()["code"]) for r in refused] == [
        (409, "payout_kyc_required"),
        (409, "payout_account_required"),
    ]
    assert await _count(session, Payout) == 0
    assert await _count(session, LedgerTransaction) == transactions


async def test_a_suspended_store_is_not_paid_out_until_reinstated(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 3_000)
    headers = {**auth_headers(container, vendor.owner), "Idempotency-Key": "held"}
    await _set_vendor_status(container, vendor.id, "suspended")
    transactions = await _count(session, LedgerTransaction)

    refused = await client.post(_url(vendor.id), json={}, headers=headers)

    assert (refused.status_code, refused.json()["code"]) == (409, "payout_vendor_not_approved")
    assert await _count(session, Payout) == 0
    assert await _count(session, LedgerTransaction) == transactions
    assert await _available(client, vendor.id, headers) == [{"amount": 3_000, "currency": "EUR"}]

    await _set_vendor_status(container, vendor.id, "approved")
    paid = await client.post(_url(vendor.id), json={}, headers=headers)
    assert (paid.status_code, paid.json()["amount"]) == (
        201,
        {"amount": 3_000, "currency": "EUR"},
    )


async def _set_vendor_status(container: Container, vendor_id: str, status: str) -> None:
    async with container.uow_factory() as uow:
        await uow.session.execute(
            update(Vendor).where(Vendor.id == vendor_id).values(status=status)
        )
        await uow.commit()


async def test_a_failed_payout_returns_the_funds(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container, iban=FAILING_IBAN)
    await earn(container, vendor.id, 4_000)
    headers = {**auth_headers(container, vendor.owner), "Idempotency-Key": "po-fail"}

    created = await client.post(_url(vendor.id), json={}, headers=headers)
    during = await _available(client, vendor.id, headers)
    await _settle(container)
    failed = await client.get(f"{_url(vendor.id)}/{created.json()['id']}", headers=headers)

    assert created.status_code == 201
    assert during == [{"amount": 0, "currency": "EUR"}]
    assert (failed.json()["status"], failed.json()["failure_code"]) == ("failed", "no_account")
    assert await _available(client, vendor.id, headers) == [{"amount": 4_000, "currency": "EUR"}]
    assert [
        (e["payout_id"], e["amount"]) for e in await events(session, "payments.payout_failed.v1")
    ] == [(created.json()["id"], 4_000)]
    assert await events(session, "payments.payout_sent.v1") == [
        {
            "payout_id": created.json()["id"],
            "vendor_id": vendor.id,
            "amount": 4_000,
            "currency": "EUR",
        }
    ]
    assert (f"payouts_in_transit:{vendor.id}", "EUR") not in await balances(session)

    # With a working account, the same money can be paid out again.
    await set_payout_account(container, vendor)
    again = await client.post(
        _url(vendor.id), json={}, headers={**headers, "Idempotency-Key": "po-2"}
    )
    await _settle(container)
    assert again.status_code == 201
    assert await payouts_of(session, vendor.id) == [
        (4_000, "EUR", "failed"),
        (4_000, "EUR", "paid"),
    ]


async def test_a_paid_payout_returned_by_the_bank_is_available_again(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 2_500)
    headers = {**auth_headers(container, vendor.owner), "Idempotency-Key": "po-ret"}
    created = await client.post(_url(vendor.id), json={}, headers=headers)
    await _settle(container)
    payout = (await client.get(f"{_url(vendor.id)}/{created.json()['id']}", headers=headers)).json()
    sandbox = container.payment_gateways["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    body = orjson.dumps(
        {
            "id": "evt_returned",
            "object": "event",
            "type": "payout.failed",
            "data": {
                "object": {
                    "id": payout["provider_transfer_id"],
                    "object": "payout",
                    "status": "failed",
                    "failure_code": "account_closed",
                    "failure_message": "The bank account has been closed.",
                    "metadata": {"payout_id": payout["id"]},
                }
            },
        }
    )
    signed = {SIGNATURE_HEADER: sandbox.sign(body, int(utcnow().timestamp()))}

    first = await client.post("/v1/webhooks/payments/sandbox", content=body, headers=signed)
    duplicate = await client.post("/v1/webhooks/payments/sandbox", content=body, headers=signed)
    await _settle(container)

    assert payout["status"] == "paid"
    assert (first.json()["duplicate"], duplicate.json()["duplicate"]) == (False, True)
    assert await payouts_of(session, vendor.id) == [(2_500, "EUR", "failed")]
    assert await _available(client, vendor.id, headers) == [{"amount": 2_500, "currency": "EUR"}]
    payout_postings = [p for kind, p in await ledger(session) if kind == "payout"]
    assert payout_postings[2:] == [
        [("gateway_clearing:sandbox", 2_500), (f"payouts_in_transit:{vendor.id}", -2_500)],
        [(f"payouts_in_transit:{vendor.id}", 2_500), (f"vendor_available:{vendor.id}", -2_500)],
    ]
    assert len(await events(session, "payments.payout_failed.v1")) == 1


async def test_schedule_is_set_read_audited_and_bad_input_changes_nothing(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    headers = auth_headers(container, vendor.owner)
    url = f"/v1/vendors/{vendor.id}/payout-schedule"

    default = await client.get(url, headers=headers)
    put = await client.put(
        url,
        json={
            "interval": "weekly",
            "weekly_anchor": "friday",
            "minimum": {"amount": 5_000, "currency": "EUR"},
        },
        headers=headers,
    )
    negative = await client.put(
        url,
        json={"interval": "daily", "minimum": {"amount": -1, "currency": "EUR"}},
        headers=headers,
    )
    hourly = await client.put(
        url,
        json={"interval": "hourly", "minimum": {"amount": 0, "currency": "EUR"}},
        headers=headers,
    )
    after = await client.get(url, headers=headers)

    assert default.json() | {"vendor_id": None} == {
        "vendor_id": None,
        "interval": "manual",
        "weekly_anchor": "monday",
        "monthly_anchor": 1,
        "minimum": {"amount": 0, "currency": "EUR"},
        "next_run_at": None,
        "updated_at": None,
    }
    assert put.status_code == 200, put.text
    assert (put.json()["interval"], put.json()["weekly_anchor"], put.json()["minimum"]) == (
        "weekly",
        "friday",
        {"amount": 5_000, "currency": "EUR"},
    )
    assert (negative.status_code, negative.json()["errors"][0]["loc"]) == (
        422,
        ["body", "minimum", "amount"],
    )
    assert (hourly.status_code, hourly.json()["errors"][0]["loc"]) == (422, ["body", "interval"])
    assert after.json() == put.json()
    audited = (
        await session.scalars(
            select(AuditLogEntry.action).where(
                AuditLogEntry.resource_id == vendor.id, AuditLogEntry.action.like("payout%")
            )
        )
    ).all()
    assert list(audited) == ["payout_schedule.updated"]


async def _due_now(session: AsyncSession, vendor_id: str) -> None:
    await session.execute(
        update(PayoutSchedule)
        .where(PayoutSchedule.vendor_id == vendor_id)
        .values(next_run_at=utcnow() - timedelta(minutes=1))
    )
    await session.commit()


async def test_an_admin_run_pays_due_vendors_above_their_minimum_only(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    admin = await create_user(container, platform_role="admin")
    admin_headers = auth_headers(container, admin)
    due, below, manual = [await payable_vendor(container) for _ in range(3)]
    for vendor, amount in ((due, 6_000), (below, 900), (manual, 8_000)):
        await earn(container, vendor.id, amount)
    for vendor in (due, below):
        put = await client.put(
            f"/v1/vendors/{vendor.id}/payout-schedule",
            json={"interval": "daily", "minimum": {"amount": 1_000, "currency": "EUR"}},
            headers=auth_headers(container, vendor.owner),
        )
        assert put.status_code == 200
        await _due_now(session, vendor.id)

    run = await client.post("/v1/admin/payouts/run", headers=admin_headers)
    again = await client.post("/v1/admin/payouts/run", headers=admin_headers)
    forced = await client.post(
        "/v1/admin/payouts/run", json={"vendor_id": manual.id}, headers=admin_headers
    )
    await _settle(container)
    listed = await client.get("/v1/admin/payout-runs", headers=admin_headers)
    shown = await client.get(f"/v1/admin/payout-runs/{run.json()['id']}", headers=admin_headers)

    assert run.status_code == 200, run.text
    body = run.json()
    assert (body["trigger"], body["payout_count"]) == ("admin", 1)
    assert [(p["vendor_id"], p["amount"]["amount"], p["method"]) for p in body["payouts"]] == [
        (due.id, 6_000, "admin")
    ]
    assert body["skipped"] == [
        {"vendor_id": below.id, "currency": "EUR", "reason": "below_minimum"}
    ]
    # The period was paid: the schedules moved to tomorrow, a second run finds nobody due.
    assert (again.json()["payout_count"], again.json()["skipped"]) == (0, [])
    assert [p["vendor_id"] for p in forced.json()["payouts"]] == [manual.id]
    assert await payouts_of(session, due.id) == [(6_000, "EUR", "paid")]
    assert await payouts_of(session, below.id) == []
    assert await payouts_of(session, manual.id) == [(8_000, "EUR", "paid")]
    assert [r["id"] for r in listed.json()["data"]] == [
        forced.json()["id"],
        again.json()["id"],
        body["id"],
    ]
    assert [p["status"] for p in shown.json()["payouts"]] == ["paid"]
    audited = (
        await session.scalars(
            select(AuditLogEntry.resource_id).where(AuditLogEntry.action == "payout_run.started")
        )
    ).all()
    assert sorted(audited) == sorted(r["id"] for r in listed.json()["data"])


async def test_negative_balances_net_off_before_anything_is_paid(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    admin = await create_user(container, platform_role="admin")
    vendor = await payable_vendor(container)
    vo = await earn(container, vendor.id, 1_000)
    order_id = str(
        await session.scalar(
            select(LedgerTransaction.order_id).where(LedgerTransaction.type == "capture")
        )
    )
    headers = auth_headers(container, vendor.owner)
    paid = await client.post(_url(vendor.id), json={}, headers={**headers, "Idempotency-Key": "a"})
    await _settle(container)
    await refund(container, order_id=order_id, vendor_order_id=vo, amount=500)
    await _settle(container)

    red = await client.get(
        "/v1/admin/ledger/negative-balances", headers=auth_headers(container, admin)
    )
    refused = await client.post(
        _url(vendor.id), json={}, headers={**headers, "Idempotency-Key": "b"}
    )
    await earn(container, vendor.id, 800)
    netted = await client.post(
        _url(vendor.id), json={}, headers={**headers, "Idempotency-Key": "c"}
    )

    assert paid.status_code == 201
    assert red.status_code == 200
    assert red.json() == {
        "data": [{"vendor_id": vendor.id, "currency": "EUR", "amount": -500}],
        "next_cursor": None,
    }
    assert (refused.status_code, refused.json()["code"]) == (409, "payout_nothing_available")
    assert (netted.status_code, netted.json()["amount"]) == (
        201,
        {"amount": 300, "currency": "EUR"},
    )


async def test_payouts_are_listed_newest_first_a_page_at_a_time(
    client: httpx.AsyncClient, container: Container
) -> None:
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 600)
    headers = auth_headers(container, vendor.owner)
    made = []
    for i, amount in enumerate((100, 200, 300)):
        response = await client.post(
            _url(vendor.id),
            json={"amount": {"amount": amount, "currency": "EUR"}},
            headers={**headers, "Idempotency-Key": f"list-{i}"},
        )
        made.append(response.json()["id"])

    first = await client.get(f"{_url(vendor.id)}?limit=2", headers=headers)
    rest = await client.get(
        f"{_url(vendor.id)}?limit=2&cursor={first.json()['next_cursor']}", headers=headers
    )

    assert [p["amount"]["amount"] for p in first.json()["data"]] == [300, 200]
    assert [p["id"] for p in first.json()["data"] + rest.json()["data"]] == made[::-1]
    assert rest.json()["next_cursor"] is None
