"""Preferences, one-click unsubscribe and the in-app feed, through the API: optional
messages can be switched off per channel, transactional ones cannot; the feed lists,
counts and marks entries read for their owner only."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import auth_headers, create_user
from factories.notifications import SmtpServer
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.identity.models import User
from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.models import Delivery, Preference
from marketplace.orders.events import ReceiptIssued, VendorOrderShipped

PDF = b"%PDF-1.4\n%%EOF\n"


async def _ship(container: Container, customer: User, vendor_id: str, n: int) -> str:
    async with container.uow_factory() as uow:
        message_id = uow.publish(
            VendorOrderShipped(
                vendor_order_id=f"vo_{n}",
                order_id=f"ord_{n}",
                vendor_id=vendor_id,
                customer_id=customer.id,
                shipment_id=f"shp_{n}",
                carrier="dhl",
                tracking_number=f"TRACK{n}",
                complete=True,
            )
        )
        await uow.commit()
    await container.jobs.drain()
    return message_id


async def _receipt(container: Container, customer: User, n: int) -> None:
    await container.storage.put(f"receipts/r{n}.pdf", PDF, "application/pdf")
    async with container.uow_factory() as uow:
        uow.publish(
            ReceiptIssued(
                order_id=f"ord_{n}",
                customer_id=customer.id,
                storage_key=f"receipts/r{n}.pdf",
                filename=f"r{n}.pdf",
                language="en",
            )
        )
        await uow.commit()
    await container.jobs.drain()


async def _channels(session: AsyncSession, user_id: str) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Delivery.kind, Delivery.channel)
        .where(Delivery.user_id == user_id)
        .order_by(Delivery.id)
    )
    return [(k, c) for k, c in rows.all()]


async def test_preferences_suppress_optional_messages_but_not_transactional_ones(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    runtime: NotificationRuntime,
) -> None:
    customer = await create_user(container, email="opt@example.com")
    vendor = await create_vendor(container)
    headers = auth_headers(container, customer)

    changed = await client.put(
        "/v1/me/notification-preferences",
        json={"preferences": [{"category": "order_updates", "channel": "email", "enabled": False}]},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    categories = {c["category"]: c for c in changed.json()["categories"]}
    assert categories["order_updates"]["channels"] == {"email": False, "sms": False, "in_app": True}
    assert categories["order_updates"]["transactional"] is False
    assert categories["orders"]["channels"] == {"email": True, "sms": False, "in_app": True}
    assert categories["orders"]["transactional"] is True

    await _ship(container, customer, vendor.id, 1)
    await _receipt(container, customer, 1)

    # The shipping news stays in the app; the receipt is emailed regardless.
    assert [m.message["Subject"] for m in smtp.inbox.to("opt@example.com")] == [
        "Your receipt for order ord_1"
    ]
    assert await _channels(session, customer.id) == [("receipt", "email")]
    feed = (await client.get("/v1/me/notifications", headers=headers)).json()
    assert [n["kind"] for n in feed["data"]] == ["receipt", "order_shipped"]


async def test_a_transactional_category_cannot_be_turned_off_and_nothing_changes(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    customer = await create_user(container)
    headers = auth_headers(container, customer)

    refused = await client.put(
        "/v1/me/notification-preferences",
        json={
            "preferences": [
                {"category": "stock_alerts", "channel": "email", "enabled": False},
                {"category": "orders", "channel": "email", "enabled": False},
            ],
            "sms_number": "+4915112345678",
        },
        headers=headers,
    )

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [
        {
            "loc": ["body", "preferences", 1, "enabled"],
            "msg": "orders messages are transactional and cannot be turned off",
            "code": "transactional",
        }
    ]
    stored = await session.scalars(select(Preference).where(Preference.user_id == customer.id))
    assert stored.all() == []
    after = (await client.get("/v1/me/notification-preferences", headers=headers)).json()
    assert after["sms_number"] is None
    assert {c["category"]: c["channels"]["email"] for c in after["categories"]}["stock_alerts"]


async def test_an_sms_number_is_validated_and_stored_in_e164(
    client: httpx.AsyncClient, container: Container
) -> None:
    customer = await create_user(container)
    headers = auth_headers(container, customer)

    bad = await client.put(
        "/v1/me/notification-preferences", json={"sms_number": "0151 1234"}, headers=headers
    )
    good = await client.put(
        "/v1/me/notification-preferences",
        json={
            "sms_number": "+49 151 12345678",
            "preferences": [{"category": "order_updates", "channel": "sms", "enabled": True}],
        },
        headers=headers,
    )

    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "sms_number"]
    assert good.status_code == 200, good.text
    assert good.json()["sms_number"] == "+4915112345678"
    categories = {c["category"]: c["channels"] for c in good.json()["categories"]}
    assert categories["order_updates"]["sms"] is True
    assert "sms" not in categories["stock_alerts"]  # no SMS messages in that category


async def test_the_unsubscribe_link_of_an_optional_email_turns_that_category_off(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    runtime: NotificationRuntime,
) -> None:
    customer = await create_user(container, email="unsub@example.com")
    vendor = await create_vendor(container)
    await _ship(container, customer, vendor.id, 1)
    [shipped] = smtp.inbox.to("unsub@example.com")
    header = shipped.message["List-Unsubscribe"]
    assert shipped.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = header.strip("<>")
    assert url.startswith("https://api.marketplace.test/v1/notifications/unsubscribe?token=")
    assert url in shipped.text
    token = parse_qs(urlsplit(url).query)["token"][0]

    tampered = await client.get(
        "/v1/notifications/unsubscribe", params={"token": token[:-2] + "xx"}
    )
    assert tampered.status_code == 422
    assert tampered.json()["errors"][0]["loc"] == ["query", "token"]
    assert (await session.scalars(select(Preference))).all() == []

    done = await client.post("/v1/notifications/unsubscribe", params={"token": token})
    assert done.status_code == 200
    assert done.json() == {"unsubscribed": True, "category": "order_updates", "channel": "email"}
    await _ship(container, customer, vendor.id, 2)

    assert len(smtp.inbox.to("unsub@example.com")) == 1
    assert await _channels(session, customer.id) == [("order_shipped", "email")]


async def test_the_feed_lists_counts_and_marks_read_only_the_callers_entries(
    client: httpx.AsyncClient,
    container: Container,
    smtp: SmtpServer,
    runtime: NotificationRuntime,
) -> None:
    customer = await create_user(container, locale="de")
    other = await create_user(container)
    vendor = await create_vendor(container)
    await _ship(container, customer, vendor.id, 1)
    await _ship(container, customer, vendor.id, 2)
    await _ship(container, other, vendor.id, 3)
    headers = auth_headers(container, customer)

    first = (await client.get("/v1/me/notifications", params={"limit": 1}, headers=headers)).json()
    second = (
        await client.get(
            "/v1/me/notifications",
            params={"limit": 1, "cursor": first["next_cursor"]},
            headers=headers,
        )
    ).json()

    assert [n["title"] for n in first["data"] + second["data"]] == [
        "Ihre Bestellung ord_2 wurde versandt",
        "Ihre Bestellung ord_1 wurde versandt",
    ]
    assert first["unread_count"] == 2
    assert second["next_cursor"] is None
    assert first["data"][0]["data"]["order_id"] == "ord_2"
    newest = first["data"][0]["id"]

    read = await client.post(f"/v1/me/notifications/{newest}/read", headers=headers)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    count = await client.get("/v1/me/notifications/unread-count", headers=headers)
    assert count.json() == {"unread_count": 1}
    unread = await client.get("/v1/me/notifications", params={"unread": True}, headers=headers)
    assert [n["title"] for n in unread.json()["data"]] == ["Ihre Bestellung ord_1 wurde versandt"]

    others = await client.get("/v1/me/notifications", headers=auth_headers(container, other))
    foreign = others.json()["data"][0]["id"]
    hidden = await client.post(f"/v1/me/notifications/{foreign}/read", headers=headers)
    assert hidden.status_code == 404
    assert (
        await client.get(
            "/v1/me/notifications/unread-count", headers=auth_headers(container, other)
        )
    ).json() == {"unread_count": 1}

    everything = await client.post("/v1/me/notifications/read-all", headers=headers)
    assert everything.json() == {"updated": 1, "unread_count": 0}
