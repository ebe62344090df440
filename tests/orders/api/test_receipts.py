"""Receipts and vendor statements through the API: issued once when an order is paid (or on
first download), kept in private storage, in the reader's language and the order's currency,
and visible only to whom they concern."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import httpx
from pypdf import PdfReader
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from factories.checkout import Shop, checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.identity.models import User
from marketplace.orders import handlers
from marketplace.orders.domain.receipt_pdf import Layout
from marketplace.orders.models.document import Document
from marketplace.orders.repository import order as order_repo
from marketplace.orders.service import receipt_data, receipts
from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message
from marketplace.platform.models import OutboxMessage
from marketplace.platform.storage import LocalStorage


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


async def _events(session: AsyncSession, name: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.name == name).order_by(OutboxMessage.seq)
    )
    return [dict(p) for p in rows.all()]


async def _documents(session: AsyncSession) -> list[tuple[str, str, str, str]]:
    rows = await session.execute(
        select(Document.id, Document.kind, Document.subject_id, Document.sha256)
        .order_by(Document.kind, Document.subject_id)
        .execution_options(populate_existing=True)
    )
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def _commission(client: httpx.AsyncClient, container: Container, bps: int) -> None:
    admin = await create_user(container, platform_role="admin")
    answer = await client.put(
        "/v1/admin/commission",
        json={"type": "percent", "percent_bps": bps},
        headers=auth_headers(container, admin),
    )
    assert answer.status_code == 200, answer.text


async def _checkout(
    client: httpx.AsyncClient,
    container: Container,
    *lines: tuple[Shop, int],
    locale: str | None = None,
    payment_method: str = "pm_card_visa",
) -> tuple[dict[str, Any], dict[str, str]]:
    customer = await create_user(container, locale=locale)
    headers = auth_headers(container, customer)
    placed = await client.post(
        "/v1/orders",
        json=checkout_body(*lines, payment_method=payment_method),
        headers=headers | key(),
    )
    assert placed.status_code in (201, 402), placed.text
    return placed.json(), headers


def _part(order: dict[str, Any], shop: Shop) -> dict[str, Any]:
    return next(v for v in order["vendor_orders"] if v["vendor_id"] == shop.vendor.id)


async def test_paid_two_vendor_checkout_gets_a_receipt_listing_both_vendors_and_the_total(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    a = await make_shop(container, price=1250, shipping=490)
    b = await make_shop(container, price=2000, shipping=0)
    order, headers = await _checkout(client, container, (a, 2), (b, 1), locale="en")
    part_a, part_b = _part(order, a), _part(order, b)

    await container.jobs.drain()
    answer = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    number = "R-" + order["id"].split("_", 1)[1].upper()
    assert answer.headers["content-disposition"] == f'inline; filename="{number}.pdf"'
    assert answer.headers["cache-control"] == "private, no-store"
    text = pdf_text(answer.content)
    item_a, item_b = part_a["items"][0], part_b["items"][0]
    assert "Receipt" in text
    assert f"Receipt number {number}" in text
    assert f"Order {order['id']}" in text
    vendor_names = await _vendor_names(container, a, b)
    assert f"Sold by: {vendor_names[0]}" in text
    assert f"Sold by: {vendor_names[1]}" in text
    assert f"{item_a['title']} {item_a['sku']} 2 €12.50 €25.00" in text
    assert f"{item_b['title']} {item_b['sku']} 1 €20.00 €20.00" in text
    assert "Shipping (Standard) €4.90" in text
    # 2 x 12.50 + 4.90 + 20.00, no tax configured
    assert "Order total €49.90" in text
    assert "Paid with Sandbox (test)" in text
    assert "Status Paid" in text
    assert "Amount paid €49.90" in text
    assert "Hauptstraße 5" in text
    assert "10115 Berlin" in text
    # Recorded once, then served as stored: the same bytes again.
    again = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)
    assert again.content == answer.content
    assert [(k, s) for _, k, s, _ in await _documents(session)] == sorted(
        [
            ("receipt", order["id"]),
            ("vendor_statement", part_a["id"]),
            ("vendor_statement", part_b["id"]),
        ]
    )


async def _vendor_names(container: Container, *shops: Shop) -> list[str]:
    from marketplace.vendors import public as vendors

    names = []
    async with container.uow_factory() as uow:
        for shop in shops:
            info = await vendors.vendor_info(uow, shop.vendor.id)
            assert info is not None
            names.append(info.name)
    return names


async def test_a_vendor_statement_lists_only_its_own_lines_with_commission_and_earnings(
    client: httpx.AsyncClient, container: Container
) -> None:
    await _commission(client, container, 1250)
    a = await make_shop(container, price=1250, shipping=490)
    b = await make_shop(container, price=2000, shipping=0)
    order, _ = await _checkout(client, container, (a, 2), (b, 1), locale="en")
    part_a, part_b = _part(order, a), _part(order, b)
    await container.jobs.drain()

    answer = await client.get(
        f"/v1/vendors/{a.vendor.id}/orders/{part_a['id']}/statement",
        headers=auth_headers(container, a.vendor.owner),
    )
    other = await client.get(
        f"/v1/vendors/{a.vendor.id}/orders/{part_b['id']}/statement",
        headers=auth_headers(container, a.vendor.owner),
    )

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    text = pdf_text(answer.content)
    item_a, item_b = part_a["items"][0], part_b["items"][0]
    # The vendor is in Germany and its owner set no locale: German.
    assert "Verkäuferabrechnung" in text
    # 12.5 % of 25.00 = 3.125, rounded half-to-even per line to 3.12
    assert f"{item_a['title']} {item_a['sku']} 2 12,50\xa0€ 25,00\xa0€ 12,5% 3,12\xa0€" in text
    assert "Brutto 29,90\xa0€" in text
    assert "Provision -3,12\xa0€" in text
    assert "Ihr Erlös 26,78\xa0€" in text
    assert item_b["sku"] not in text
    assert item_b["title"] not in text
    # Another vendor's part of the same checkout does not exist for vendor A.
    assert other.status_code == 404
    assert other.json()["code"] == "vendor_order_not_found"


async def test_a_german_customer_gets_german_labels_and_german_amounts(
    client: httpx.AsyncClient, container: Container
) -> None:
    shop = await make_shop(container, price=123456, shipping=490)
    order, headers = await _checkout(client, container, (shop, 1), locale="de")
    await container.jobs.drain()

    text = pdf_text(
        (await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)).content
    )

    assert "Zahlungsbeleg" in text
    assert "Belegnummer R-" in text
    assert "Rechnungs- und Lieferadresse" in text
    assert "Einzelpreis" in text
    assert "1.234,56\xa0€" in text
    assert "Gesamtbetrag 1.239,46\xa0€" in text
    assert "Status Bezahlt" in text
    assert "Receipt" not in text


async def test_another_customer_gets_404_and_nothing_is_issued_for_them(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container)
    order, _ = await _checkout(client, container, (shop, 1))
    stranger = await create_user(container)

    answer = await client.get(
        f"/v1/orders/{order['id']}/receipt", headers=auth_headers(container, stranger)
    )

    assert answer.status_code == 404
    assert answer.json()["code"] == "order_not_found"
    assert await _documents(session) == []
    assert await _events(session, "orders.receipt_issued.v1") == []


async def test_an_unpaid_order_has_no_receipt_and_nothing_is_issued(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container)
    order, headers = await _checkout(
        client, container, (shop, 1), payment_method="pm_card_declined"
    )
    order_id = order["order_id"]
    await container.jobs.drain()

    answer = await client.get(f"/v1/orders/{order_id}/receipt", headers=headers)

    assert answer.status_code == 409
    assert answer.json()["code"] == "receipt_not_available"
    assert answer.json()["status"] == 409
    assert answer.json()["order_status"] == "canceled"
    read = (await client.get(f"/v1/orders/{order_id}", headers=headers)).json()
    statement = await client.get(
        f"/v1/vendors/{shop.vendor.id}/orders/{read['vendor_orders'][0]['id']}/statement",
        headers=auth_headers(container, shop.vendor.owner),
    )
    assert statement.status_code == 409
    assert statement.json()["code"] == "statement_not_available"
    assert statement.json()["vendor_order_status"] == "canceled"
    assert await _documents(session) == []


async def test_events_tell_notifications_once_and_a_replayed_event_renders_nothing(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    a = await make_shop(container)
    b = await make_shop(container)
    order, _ = await _checkout(client, container, (a, 1), (b, 3))
    await container.jobs.drain()
    before = await _documents(session)
    storage = container.storage
    assert isinstance(storage, LocalStorage)
    files_before = sorted(p for p in storage.root.rglob("*.pdf"))
    placed = (await _events(session, "orders.order_placed.v1"))[0]

    async with container.uow_factory() as uow:
        replay = Message(
            id="msg_replay",
            kind="event",
            name="orders.order_placed.v1",
            payload=placed,
            occurred_at=utcnow(),
            attempt=2,
        )
        await handlers.issue_documents(uow, replay)
        await uow.commit()

    receipts = await _events(session, "orders.receipt_issued.v1")
    statements = await _events(session, "orders.vendor_statement_issued.v1")
    assert await _documents(session) == before
    assert sorted(p for p in storage.root.rglob("*.pdf")) == files_before
    assert len(receipts) == 1
    number = "R-" + order["id"].split("_", 1)[1].upper()
    assert receipts[0] | {"storage_key": None} == {
        "order_id": order["id"],
        "customer_id": placed["customer_id"],
        "storage_key": None,
        "filename": f"{number}.pdf",
        "language": "en",
    }
    assert receipts[0]["storage_key"].startswith(f"private/orders/receipt/{order['id']}/")
    assert sorted(s["vendor_order_id"] for s in statements) == sorted(
        v["id"] for v in order["vendor_orders"]
    )
    # The stored object is what the row says it is.
    receipt_row = next(d for d in before if d[1] == "receipt")
    stored = await storage.get(receipts[0]["storage_key"])
    assert hashlib.sha256(stored).hexdigest() == receipt_row[3]


async def test_a_download_before_the_subscriber_ran_issues_the_receipt_once(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container)
    order, headers = await _checkout(client, container, (shop, 1))

    first = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)
    await container.jobs.drain()
    second = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)

    assert first.status_code == 200
    assert second.content == first.content
    assert len(await _events(session, "orders.receipt_issued.v1")) == 1
    # The subscriber still issued the vendor's statement, once.
    assert len(await _events(session, "orders.vendor_statement_issued.v1")) == 1
    assert len(await _documents(session)) == 2


async def test_documents_are_never_served_from_the_public_media_route(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container)
    await _checkout(client, container, (shop, 1))
    await container.jobs.drain()
    key_ = (await _events(session, "orders.receipt_issued.v1"))[0]["storage_key"]
    storage = container.storage
    assert isinstance(storage, LocalStorage)

    answer = await client.get(f"{storage.mount_path}/{key_}")

    assert await storage.exists(key_)
    assert answer.status_code == 404


async def test_a_refund_leaves_the_issued_receipt_as_it_was(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, price=1000, shipping=0)
    order, headers = await _checkout(client, container, (shop, 2))
    await container.jobs.drain()
    before = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)
    documents = await _documents(session)

    refund = await client.post(
        f"/v1/vendors/{shop.vendor.id}/orders/{_part(order, shop)['id']}/refunds",
        json={"amount": 500, "reason": "scratched"},
        headers=auth_headers(container, shop.vendor.owner) | {"Idempotency-Key": "refund-1"},
    )
    await container.jobs.drain()
    after = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)

    assert refund.status_code == 201, refund.text
    read = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()
    assert read["refunded"] == {"amount": 500, "currency": "EUR"}
    assert after.content == before.content
    assert "Status Paid" in pdf_text(after.content)
    assert await _documents(session) == documents
    assert len(await _events(session, "orders.receipt_issued.v1")) == 1


async def test_a_statement_is_in_the_vendor_owners_own_language(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, price=1999, shipping=0)
    await session.execute(update(User).where(User.id == shop.vendor.owner.id).values(locale="es"))
    await session.commit()
    order, _ = await _checkout(client, container, (shop, 1), locale="de")
    await container.jobs.drain()

    answer = await client.get(
        f"/v1/vendors/{shop.vendor.id}/orders/{_part(order, shop)['id']}/statement",
        headers=auth_headers(container, shop.vendor.owner),
    )

    text = pdf_text(answer.content)
    assert "Extracto del vendedor" in text
    assert "Bruto 19,99\xa0€" in text
    statements = await _events(session, "orders.vendor_statement_issued.v1")
    assert [s["language"] for s in statements] == ["es"]
    assert [r["language"] for r in await _events(session, "orders.receipt_issued.v1")] == ["de"]


async def test_a_lost_pdf_is_rendered_again_and_put_back_when_it_is_the_same_document(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container)
    order, headers = await _checkout(client, container, (shop, 1), locale="fr")
    first = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)
    key_ = (await _events(session, "orders.receipt_issued.v1"))[0]["storage_key"]
    await container.storage.delete(key_)

    again = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)

    assert again.status_code == 200
    assert again.content == first.content
    assert await container.storage.get(key_) == first.content
    assert len(await _events(session, "orders.receipt_issued.v1")) == 1
    assert await _layouts(session) == [("receipt", Layout.GLYPH_BLOCKS)]


async def _layouts(session: AsyncSession) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(Document.kind, Document.layout)
        .order_by(Document.kind, Document.subject_id)
        .execution_options(populate_existing=True)
    )
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def _as_issued_in(
    session: AsyncSession, order_id: str, key_: str, pdf: bytes, layout: int
) -> str:
    """Record the order's receipt as `pdf` issued in `layout`, kept nowhere; its new key."""
    sha256 = hashlib.sha256(pdf).hexdigest()
    old_key = f"{key_.rsplit('/', 1)[0]}/{sha256}.pdf"
    await session.execute(
        update(Document)
        .where(Document.kind == "receipt", Document.subject_id == order_id)
        .values(layout=layout, sha256=sha256, size_bytes=len(pdf), storage_key=old_key)
    )
    await session.commit()
    return old_key


async def test_a_lost_pdf_issued_with_exact_glyph_subsets_is_rendered_again_with_them(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container)
    order, headers = await _checkout(client, container, (shop, 1), locale="fr")
    issued = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)
    key_ = (await _events(session, "orders.receipt_issued.v1"))[0]["storage_key"]
    # The receipt as documents were rendered before layouts were recorded.
    async with container.uow_factory() as uow:
        found = await order_repo.order(uow.session, order["id"])
        assert found is not None
        paid = await receipt_data.paid_order(uow, found)
        assert paid is not None
        marketplace = receipts.documents_for(uow).marketplace_name
        earlier = await receipt_data.receipt_pdf(
            paid, locale="fr", marketplace=marketplace, layout=Layout.EXACT_GLYPHS
        )
    earlier_key = await _as_issued_in(session, order["id"], key_, earlier, 1)

    again = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)

    assert again.status_code == 200
    assert again.content == earlier
    assert earlier != issued.content
    assert pdf_text(earlier) == pdf_text(issued.content)
    assert await container.storage.get(earlier_key) == earlier
    assert await _layouts(session) == [("receipt", Layout.EXACT_GLYPHS)]


async def test_a_lost_pdf_in_a_layout_this_version_does_not_know_is_503(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container)
    order, headers = await _checkout(client, container, (shop, 1))
    issued = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)
    key_ = (await _events(session, "orders.receipt_issued.v1"))[0]["storage_key"]
    later_key = await _as_issued_in(session, order["id"], key_, issued.content, 3)
    await container.storage.delete(later_key)
    documents = await _documents(session)

    answer = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)

    assert answer.status_code == 503
    assert answer.json()["code"] == "document_unavailable"
    assert not await container.storage.exists(later_key)
    assert await _documents(session) == documents


async def test_a_lost_pdf_that_would_now_read_differently_is_503_not_a_new_document(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, price=1000, shipping=0)
    order, headers = await _checkout(client, container, (shop, 1))
    await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)
    refund = await client.post(
        f"/v1/vendors/{shop.vendor.id}/orders/{_part(order, shop)['id']}/refunds",
        json={"amount": 1000, "reason": "lost"},
        headers=auth_headers(container, shop.vendor.owner) | {"Idempotency-Key": "refund-2"},
    )
    await container.jobs.drain()
    documents = await _documents(session)
    key_ = (await _events(session, "orders.receipt_issued.v1"))[0]["storage_key"]
    await container.storage.delete(key_)

    answer = await client.get(f"/v1/orders/{order['id']}/receipt", headers=headers)

    assert refund.status_code == 201, refund.text
    assert answer.status_code == 503
    assert answer.json()["code"] == "document_unavailable"
    assert not await container.storage.exists(key_)
    assert await _documents(session) == documents


def _statement_tables(statements: list[str]) -> list[tuple[str, str]]:
    tables = []
    for statement in statements:
        words = statement.replace('"', "").split()
        kind = words[0].upper()
        if kind == "SELECT":
            table = words[words.index("FROM") + 1] if "FROM" in words else ""
        elif kind == "INSERT":
            table = words[2]
        else:
            table = words[1] if kind == "UPDATE" else ""
        tables.append((kind, table.split("(")[0]))
    return tables


async def test_issuing_a_two_vendor_orders_documents_reads_each_thing_once(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    """The job after every paid checkout: its reads are pinned so that a per-document or
    per-vendor repeat cannot creep back; a redelivery reads and writes no document."""
    a = await make_shop(container)
    b = await make_shop(container)
    order, _ = await _checkout(client, container, (a, 1), (b, 3))
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.split(None, 1)[0].upper() not in {"BEGIN", "COMMIT"}:
            statements.append(statement)

    engine = container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        async with container.uow_factory() as uow:
            issued = await receipts.issue_documents(uow, order_id=order["id"])
            await uow.commit()
        first = _statement_tables(statements)
        statements.clear()
        async with container.uow_factory() as uow:
            again = await receipts.issue_documents(uow, order_id=order["id"])
            await uow.commit()
        redelivered = _statement_tables(statements)
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)

    gather = [
        ("SELECT", "orders_order"),
        ("SELECT", "payments_payment"),
        ("SELECT", "payments_share"),
        ("SELECT", "orders_vendor_order"),
        ("SELECT", "orders_order_item"),
        ("SELECT", "vendors_vendor"),  # both vendors: names and countries
        ("SELECT", "orders_document"),  # what is issued already
    ]
    assert [t for t in first if t[0] != "SAVEPOINT" and t[0] != "RELEASE"] == [
        *gather,
        ("SELECT", "identity_user"),  # the customer's locale
        ("SELECT", "identity_vendor_member"),  # both owners' locales
        ("INSERT", "orders_document"),  # the three documents at once
        ("SELECT", "orders_document"),  # which of them won
        ("INSERT", "platform_outbox_message"),
    ]
    assert [t for t in redelivered if t[0] != "SAVEPOINT" and t[0] != "RELEASE"] == gather
    assert [d.kind for d in issued] == ["receipt", "vendor_statement", "vendor_statement"]
    assert [d.id for d in again] == [d.id for d in issued]
