"""Payments over HTTP: the signed webhook (refused unsigned, stored once, processed once),
a vendor's balance and ledger, and the admin's trial balance and transactions."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import auth_headers, create_user
from factories.payments import ledger, paid, share
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.payments.models import Payment, WebhookEvent
from marketplace.payments.providers.sandbox import SIGNATURE_HEADER, SandboxProvider
from marketplace.platform.clock import utcnow
from marketplace.platform.models import OutboxMessage

URL = "/v1/webhooks/payments/sandbox"


def _sandbox(container: Container) -> SandboxProvider:
    sandbox = container.payment_gateways["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    return sandbox


def _event(payment_id: str, event_id: str = "evt_api_1") -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": "pi_external",
                    "object": "payment_intent",
                    "amount_received": 2_000,
                    "fee": 88,
                    "metadata": {"payment_id": payment_id},
                }
            },
        }
    )


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _pending_payment(container: Container) -> str:
    from factories.payments import start

    started = await start(container, [share("vnd_x", vendor_order_id="vo_x", gross=2_000)])
    return started.id


async def test_a_webhook_with_a_bad_signature_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    payment_id = await _pending_payment(container)
    body = _event(payment_id)
    outbox_before = await _count(session, OutboxMessage)
    forged = _sandbox(container).sign(body + b" ", int(utcnow().timestamp()))
    stale = _sandbox(container).sign(body, int(utcnow().timestamp()) - 301)

    responses = [
        await client.post(URL, content=body),
        await client.post(URL, content=body, headers={SIGNATURE_HEADER: forged}),
        await client.post(URL, content=body, headers={SIGNATURE_HEADER: stale}),
    ]

    assert [r.status_code for r in responses] == [400, 400, 400]
    assert {r.json()["code"] for r in responses} == {"invalid_signature"}
    assert responses[0].headers["content-type"] == "application/problem+json"
    assert await _count(session, WebhookEvent) == 0
    assert await _count(session, OutboxMessage) == outbox_before


async def test_an_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/webhooks/payments/stripe", content=b"{}")
    assert (response.status_code, response.json()["code"]) == (404, "payment_provider_not_found")


async def test_the_same_webhook_twice_is_stored_and_processed_once(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    payment_id = await _pending_payment(container)
    body = _event(payment_id)
    headers = {SIGNATURE_HEADER: _sandbox(container).sign(body, int(utcnow().timestamp()))}

    first = await client.post(URL, content=body, headers=headers)
    second = await client.post(URL, content=body, headers=headers)
    await container.jobs.drain()

    assert (first.status_code, first.json()) == (200, {"received": True, "duplicate": False})
    assert (second.status_code, second.json()) == (200, {"received": True, "duplicate": True})
    stored = (await session.execute(select(WebhookEvent.type, WebhookEvent.status))).all()
    assert [tuple(r) for r in stored] == [("payment_intent.succeeded", "processed")]
    payment = await session.get(Payment, payment_id)
    assert payment is not None
    await session.refresh(payment)
    assert (payment.status, payment.captured_amount, payment.fee_amount) == ("succeeded", 2_000, 88)
    assert [kind for kind, _ in await ledger(session)] == ["capture", "fee"]


async def test_vendor_balance_and_ledger(client: httpx.AsyncClient, container: Container) -> None:
    vendor = await create_vendor(container)
    other = await create_vendor(container)
    await paid(
        container,
        [
            share(vendor.id, gross=3_000, commission=(300,), vendor_order_id="vo_1a"),
            share(vendor.id, gross=1_000, commission=(100,), vendor_order_id="vo_1b"),
            share(other.id, gross=500, vendor_order_id="vo_1c"),
        ],
    )
    await paid(container, [share(vendor.id, gross=2_000, commission=(200,))], currency="EUR")
    headers = auth_headers(container, vendor.owner)

    balance = await client.get(f"/v1/vendors/{vendor.id}/balance", headers=headers)
    page = await client.get(f"/v1/vendors/{vendor.id}/ledger?limit=2", headers=headers)
    rest = await client.get(
        f"/v1/vendors/{vendor.id}/ledger?cursor={page.json()['next_cursor']}", headers=headers
    )

    assert balance.status_code == 200
    assert balance.json() == {
        "pending": [{"amount": 1_800, "currency": "EUR"}, {"amount": 3_600, "currency": "USD"}],
        "available": [],
    }
    assert page.status_code == 200
    entries = page.json()["data"] + rest.json()["data"]
    assert [(e["account"], e["amount"], e["currency"], e["type"]) for e in entries] == [
        (f"vendor_pending:{vendor.id}", -1_800, "EUR", "capture"),
        (f"vendor_pending:{vendor.id}", -900, "USD", "capture"),
        (f"vendor_pending:{vendor.id}", -2_700, "USD", "capture"),
    ]
    assert rest.json()["next_cursor"] is None


async def test_trial_balance_and_transactions_of_an_order(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_user(container, platform_role="admin")
    await paid(container, [share("vnd_t", gross=1_000, tax=100, commission=(50,))], order_id="o1")
    await paid(container, [share("vnd_t", gross=700)], order_id="o2", currency="EUR")
    headers = auth_headers(container, admin)

    trial = await client.get("/v1/admin/ledger/trial-balance", headers=headers)
    listed = await client.get("/v1/admin/transactions?order_id=o1", headers=headers)

    assert trial.status_code == 200
    body = trial.json()
    assert body["balanced"] is True
    # EUR: capture 700 + fee 50 (2.9 % of 700 = 20, + 30); USD: capture 1000 + fee 59.
    assert body["currencies"] == {
        "EUR": {"debits": 750, "credits": 750},
        "USD": {"debits": 1_059, "credits": 1_059},
    }
    usd = {a["account"]: a["balance"] for a in body["accounts"] if a["currency"] == "USD"}
    assert usd == {
        "gateway_clearing:sandbox": 941,
        "gateway_fee_expense:sandbox": 59,
        "platform_commission_revenue": -50,
        "tax_payable": -100,
        "vendor_pending:vnd_t": -850,
    }
    assert listed.status_code == 200
    transactions = listed.json()["data"]
    assert [(t["type"], t["order_id"]) for t in transactions] == [("capture", "o1"), ("fee", "o1")]
    assert [(p["account"], p["amount"]) for p in transactions[0]["postings"]] == [
        ("gateway_clearing:sandbox", 1_000),
        ("vendor_pending:vnd_t", -850),
        ("platform_commission_revenue", -50),
        ("tax_payable", -100),
    ]


async def test_ledger_lists_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient, container: Container
) -> None:
    vendor = await create_vendor(container)
    admin = await create_user(container, platform_role="admin")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def queries() -> tuple[int, int]:
        statements.clear()
        await client.get(
            f"/v1/vendors/{vendor.id}/ledger", headers=auth_headers(container, vendor.owner)
        )
        on_ledger = len(statements)
        statements.clear()
        await client.get("/v1/admin/transactions", headers=auth_headers(container, admin))
        return on_ledger, len(statements)

    engine = container.db.engine.sync_engine
    await paid(container, [share(vendor.id, gross=1_000)])
    event.listen(engine, "before_cursor_execute", count)
    try:
        few = await queries()
        for _ in range(6):
            await paid(container, [share(vendor.id, gross=1_000), share(vendor.id, gross=500)])
        many = await queries()
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert few == many
