"""Chargebacks and reconciliation over HTTP: the provider's signed dispute webhook through the
normal route, the vendor's negative balance as the API shows it, the admin's chargeback and
reconciliation-run routes (with a fixed number of queries per list), and their 422s."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import auth_headers, create_user
from factories.payments import paid, share
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.models import Chargeback, Payment, ReconciliationRun, SandboxEvent
from marketplace.payments.providers.sandbox import CHARGEBACK_METHOD, SandboxProvider
from marketplace.payments.service import ledger as ledger_service
from marketplace.platform.clock import utcnow

WEBHOOK = "/v1/webhooks/payments/sandbox"


def _sandbox(container: Container) -> SandboxProvider:
    sandbox = container.payment_gateways["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    return sandbox


async def _post_sandbox_event(
    client: httpx.AsyncClient, container: Container, session: AsyncSession, type_: str
) -> httpx.Response:
    """What the sandbox's delivery job does, through the public route instead."""
    event_id = await session.scalar(
        select(SandboxEvent.id).where(SandboxEvent.type == type_).order_by(SandboxEvent.id.desc())
    )
    assert event_id is not None
    async with container.uow_factory() as uow:
        delivery = await _sandbox(container).signed_delivery(uow, event_id)
        await uow.commit()
    assert delivery is not None
    body, headers = delivery
    return await client.post(WEBHOOK, content=body, headers=headers)


async def test_a_dispute_webhook_charges_the_vendor_whose_balance_goes_negative(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    container.payment_gateways.chargeback_reverses_commission = False
    vendor = await create_vendor(container)
    admin = await create_user(container, platform_role="admin")
    view = await paid(
        container,
        [share(vendor.id, vendor_order_id="vo_api", gross=6_000, commission=(600,))],
        order_id="ord_api",
        payment_method=CHARGEBACK_METHOD,
    )
    delivered = utcnow() - timedelta(days=8)
    async with container.uow_factory() as uow:
        await payments.vendor_order_delivered(uow, vendor_order_id="vo_api", delivered_at=delivered)
        await ledger_service.release_due_holds(uow, now=utcnow())
        await uow.commit()

    received = await _post_sandbox_event(client, container, session, "charge.dispute.created")
    await container.jobs.drain()  # processes it (and the sandbox's own deliveries: duplicates)

    assert (received.status_code, received.json()) == (200, {"received": True, "duplicate": False})
    balance = await client.get(
        f"/v1/vendors/{vendor.id}/balance", headers=auth_headers(container, vendor.owner)
    )
    assert balance.json() == {
        "pending": [{"amount": 0, "currency": "USD"}],
        "available": [{"amount": -600, "currency": "USD"}],
    }
    headers = auth_headers(container, admin)
    listed = await client.get("/v1/admin/chargebacks?status=open", headers=headers)
    none_won = await client.get("/v1/admin/chargebacks?status=won", headers=headers)
    assert listed.status_code == 200
    [item] = listed.json()["data"]
    row = await session.scalar(select(Chargeback))
    assert row is not None
    payment = await session.get(Payment, view.id)
    assert payment is not None
    assert item == {
        "id": row.id,
        "provider": "sandbox",
        "provider_dispute_id": row.provider_dispute_id,
        "provider_payment_id": payment.provider_payment_id,
        "payment_id": view.id,
        "order_id": "ord_api",
        "status": "open",
        "reason": "fraudulent",
        "amount": 6_000,
        "currency": "USD",
        "fee_amount": 1_500,
        "unallocated_amount": 0,
        "commission_reversed": False,
        "allocations": [
            {"vendor_order_id": "vo_api", "vendor_id": vendor.id, "amount": 6_000,
             "from_available": True}
        ],
        "opened_at": item["opened_at"],
        "closed_at": None,
    }  # fmt: skip
    assert none_won.json() == {"data": [], "next_cursor": None}

    await _sandbox(container).close_dispute(row.provider_dispute_id, "won")
    await container.jobs.drain()
    one = await client.get(f"/v1/admin/chargebacks/{row.id}", headers=headers)
    balance = await client.get(
        f"/v1/vendors/{vendor.id}/balance", headers=auth_headers(container, vendor.owner)
    )

    assert (one.json()["status"], one.json()["closed_at"] is not None) == ("won", True)
    assert balance.json()["available"] == [{"amount": 5_400, "currency": "USD"}]


async def test_unknown_chargeback_and_bad_status_filter(
    client: httpx.AsyncClient, container: Container
) -> None:
    headers = auth_headers(container, await create_user(container, platform_role="support"))

    missing = await client.get("/v1/admin/chargebacks/cbk_nope", headers=headers)
    bad = await client.get("/v1/admin/chargebacks?status=pending", headers=headers)

    assert (missing.status_code, missing.json()["code"]) == (404, "chargeback_not_found")
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["errors"]] == [["query", "status"]]


async def test_admin_requests_a_reconciliation_run_and_reads_it(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    admin = await create_user(container, platform_role="admin")
    headers = auth_headers(container, admin)
    await paid(container, [share("vnd_r", gross=2_000)], order_id="ord_rec")
    start = (utcnow() - timedelta(hours=1)).isoformat()
    end = (utcnow() + timedelta(hours=1)).isoformat()

    created = await client.post(
        "/v1/admin/reconciliation-runs",
        json={"provider": "sandbox", "from": start, "to": end},
        headers=headers,
    )
    await container.jobs.drain()
    run_id = created.json()["id"]
    detail = await client.get(f"/v1/admin/reconciliation-runs/{run_id}", headers=headers)
    listed = await client.get("/v1/admin/reconciliation-runs", headers=headers)

    assert created.status_code == 202
    assert (created.json()["status"], created.json()["provider"]) == ("pending", "sandbox")
    assert set(created.json()) >= {"from", "to"}
    body = detail.json()
    assert (body["status"], body["ledger_records"], body["provider_records"]) == (
        "completed",
        1,
        1,
    )
    assert (body["mismatch_count"], body["mismatches"]) == (0, [])
    assert [r["id"] for r in listed.json()["data"]] == [run_id]


async def test_a_bad_reconciliation_request_names_the_field_and_stores_nothing(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    headers = auth_headers(container, await create_user(container, platform_role="admin"))
    url = "/v1/admin/reconciliation-runs"
    day = "2026-12-01T00:00:00Z"

    bodies = [
        {"provider": "stripe", "from": day, "to": "2026-12-02T00:00:00Z"},
        {"provider": "sandbox", "from": day, "to": day},
        {"provider": "sandbox", "from": day, "to": "2027-01-05T00:00:00Z"},
        {"provider": "sandbox", "from": "2026-12-01T00:00:00", "to": "2026-12-02T00:00:00Z"},
    ]
    responses = [await client.post(url, json=body, headers=headers) for body in bodies]

    assert [r.status_code for r in responses] == [422, 422, 422, 422]
    assert [[e["loc"] for e in r.json()["errors"]] for r in responses] == [
        [["body", "provider"]],
        [["body", "to"]],
        [["body", "to"]],
        [["body", "from"]],
    ]
    assert await session.scalar(select(func.count()).select_from(ReconciliationRun)) == 0


async def test_admin_lists_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient, container: Container
) -> None:
    headers = auth_headers(container, await create_user(container, platform_role="admin"))
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def queries() -> tuple[int, int]:
        statements.clear()
        await client.get("/v1/admin/chargebacks", headers=headers)
        on_chargebacks = len(statements)
        statements.clear()
        await client.get("/v1/admin/reconciliation-runs", headers=headers)
        return on_chargebacks, len(statements)

    async def dispute(order_id: str) -> None:
        await paid(
            container,
            [share("vnd_q", gross=1_000), share("vnd_q2", gross=500)],
            order_id=order_id,
            payment_method=CHARGEBACK_METHOD,
        )
        await container.jobs.drain()

    engine = container.db.engine.sync_engine
    await dispute("ord_q0")
    event.listen(engine, "before_cursor_execute", count)
    try:
        few = await queries()
        for i in range(1, 5):
            await dispute(f"ord_q{i}")
        many = await queries()
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert few == many
