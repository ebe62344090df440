"""Email notifications end to end, to a real SMTP server on loopback: a two-vendor checkout
gives one confirmation to the customer and one new-order email per vendor, each in its
recipient's language; a replayed event sends nothing more; a server that is down is
retried until it is back; repeated failures are dead-lettered for admins; receipts carry
their PDF."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.checkout import checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from factories.notifications import SmtpServer
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.notifications import handlers
from marketplace.notifications.channels import NotificationRuntime, OutgoingEmail, SmtpMailer
from marketplace.notifications.models import Delivery, Notification
from marketplace.notifications.service import dispatch
from marketplace.orders.events import ReceiptIssued
from marketplace.platform.messaging import Message
from marketplace.platform.models import OutboxMessage
from marketplace.vendors import public as vendors

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _deliveries(session: AsyncSession, **where: Any) -> list[Delivery]:
    stmt = select(Delivery).execution_options(populate_existing=True).order_by(Delivery.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(Delivery, name) == value)
    return list((await session.scalars(stmt)).all())


async def _outbox_message(session: AsyncSession, name: str) -> Message:
    row = (await session.scalars(select(OutboxMessage).where(OutboxMessage.name == name))).one()
    return Message(
        id=row.id,
        kind="event",
        name=row.name,
        payload=row.payload,
        occurred_at=row.occurred_at,
        attempt=1,
    )


async def test_a_two_vendor_checkout_sends_one_confirmation_and_one_new_order_email_per_vendor(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    runtime: NotificationRuntime,
) -> None:
    # Given two vendors whose owners read French and English, and a German customer
    french = await create_user(container, name="Fleur", email="fleur@example.com", locale="fr")
    english = await create_user(container, name="Eric", email="eric@example.com", locale="en")
    teapots = await make_shop(container, price=1500, shipping=490, owner=french, title="Teapot")
    mugs = await make_shop(container, price=800, shipping=0, owner=english, title="Mug")
    customer = await create_user(container, name="Anna", email="anna@example.com", locale="de")

    # When the customer checks out from both
    placed = await client.post(
        "/v1/orders",
        json=checkout_body((teapots, 2), (mugs, 3)),
        headers=auth_headers(container, customer) | key(),
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    vendor_orders = {v["vendor_id"]: v["id"] for v in placed.json()["vendor_orders"]}
    await container.jobs.drain()

    async with container.uow_factory() as uow:
        teapot_store = (await vendors.vendor_info(uow, teapots.vendor.id)).name  # type: ignore[union-attr]
        mug_store = (await vendors.vendor_info(uow, mugs.vendor.id)).name  # type: ignore[union-attr]

    # Then the customer gets exactly one email, in German, describing both parts
    # (and, separately, the receipt PDF: one more email that is not a confirmation)
    to_anna = smtp.inbox.to("anna@example.com")
    [confirmation] = [m for m in to_anna if "bestätigt" in m.message["Subject"]]
    assert sorted(m.message["Subject"] for m in to_anna) == sorted(
        [f"Ihre Bestellung {order_id} ist bestätigt", f"Ihr Beleg für Bestellung {order_id}"]
    )
    assert confirmation.message["Subject"] == f"Ihre Bestellung {order_id} ist bestätigt"
    assert confirmation.message["From"] == "Marketplace <shop@marketplace.test>"
    assert confirmation.message["Content-Language"] == "de"
    assert confirmation.message["List-Unsubscribe"] is None  # transactional
    text = confirmation.text
    assert text.startswith("Hallo Anna,\n")
    assert "Wir haben Ihre Zahlung über 58,90\xa0€ erhalten." in text
    assert f"Von {teapot_store} (34,90\xa0€):" in text
    assert "  - 2 x Teapot (30,00\xa0€)" in text
    assert f"Von {mug_store} (24,00\xa0€):" in text
    assert "  - 3 x Mug (24,00\xa0€)" in text
    assert "<td>Teapot</td>" in confirmation.html
    assert "<td>Mug</td>" in confirmation.html

    # And each vendor's owner gets one new-order email with only its own lines, in its language
    french_orders = [
        m for m in smtp.inbox.to("fleur@example.com") if "Nouvelle commande" in m.message["Subject"]
    ]
    assert [m.message["Subject"] for m in french_orders] == [
        f"Nouvelle commande {vendor_orders[teapots.vendor.id]} pour {teapot_store}"
    ]
    assert "2 x Teapot" in french_orders[0].text
    assert "Mug" not in french_orders[0].text
    assert "Merci de l'expédier dès que possible." in french_orders[0].text
    english_orders = [
        m for m in smtp.inbox.to("eric@example.com") if m.message["Subject"].startswith("New order")
    ]
    assert [m.message["Subject"] for m in english_orders] == [
        f"New order {vendor_orders[mugs.vendor.id]} for {mug_store}"
    ]
    assert "3 x Mug (SKU " in english_orders[0].text
    assert "Teapot" not in english_orders[0].text

    # And every delivery of the checkout is recorded as sent, once
    checkout_deliveries = [
        d
        for d in await _deliveries(session, channel="email")
        if d.kind in ("order_confirmation", "vendor_new_order")
    ]
    assert sorted(
        (d.kind, d.address, d.language, d.status, d.attempts) for d in checkout_deliveries
    ) == [
        ("order_confirmation", "anna@example.com", "de", "sent", 1),
        ("vendor_new_order", "eric@example.com", "en", "sent", 1),
        ("vendor_new_order", "fleur@example.com", "fr", "sent", 1),
    ]
    # The Message-ID is the delivery's, so a resend would be recognisable as the same message.
    anna = next(d for d in checkout_deliveries if d.address == "anna@example.com")
    assert confirmation.message["Message-ID"] == f"<{anna.id}@marketplace.test>"

    # And replaying the same event sends nothing more
    emails_before = len(smtp.inbox.messages)
    replayed = await _outbox_message(session, "orders.order_placed.v1")
    async with container.uow_factory() as uow:
        await handlers.on_event(uow, replayed)
        await uow.commit()
    await container.jobs.drain()
    assert len(smtp.inbox.messages) == emails_before
    assert len(await _deliveries(session, kind="order_confirmation")) == 1
    in_app = await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.user_id == customer.id)
    )
    assert in_app == 2  # the confirmation and the receipt, each once


async def _issue_receipt(container: Container, customer_id: str, order_id: str = "ord_1") -> str:
    storage_key = f"receipts/{order_id}.pdf"
    await container.storage.put(storage_key, PDF, "application/pdf")
    async with container.uow_factory() as uow:
        message_id = uow.publish(
            ReceiptIssued(
                order_id=order_id,
                customer_id=customer_id,
                storage_key=storage_key,
                filename=f"receipt-{order_id}.pdf",
                language="en",
            )
        )
        await uow.commit()
    return message_id


async def test_a_receipt_email_carries_the_pdf_from_storage(
    container: Container, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    customer = await create_user(container, name="Jean", email="jean@example.com", locale="fr-CH")

    await _issue_receipt(container, customer.id, "ord_42")
    await container.jobs.drain()

    [receipt] = smtp.inbox.to("jean@example.com")
    assert receipt.message["Subject"] == "Le reçu de votre commande ord_42"
    assert "Le reçu de votre commande ord_42 est joint en PDF." in receipt.text
    [attachment] = list(receipt.message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "receipt-ord_42.pdf"
    assert attachment.get_content() == PDF  # type: ignore[attr-defined]


async def test_with_the_smtp_server_down_messages_are_retried_and_land_once_it_is_back(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    customer = await create_user(container, email="pat@example.com")
    smtp.stop()

    await _issue_receipt(container, customer.id)
    await container.jobs.drain()

    [delivery] = await _deliveries(session, address="pat@example.com")
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error is not None
    first_retry_at = delivery.next_attempt_at
    assert first_retry_at - delivery.updated_at >= timedelta(seconds=29)
    # Not due yet: the sweep leaves it alone.
    async with container.uow_factory() as uow:
        assert (
            await dispatch.send_due(uow, runtime, now=first_retry_at - timedelta(seconds=1)) == {}
        )
        await uow.commit()

    smtp.start()
    async with container.uow_factory() as uow:
        assert await dispatch.send_due(uow, runtime, now=first_retry_at) == {"sent": 1}
        await uow.commit()

    [landed] = smtp.inbox.to("pat@example.com")
    assert landed.message["Message-ID"] == f"<{delivery.id}@marketplace.test>"
    [delivery] = await _deliveries(session, address="pat@example.com")
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, None)
    # Sent is final: later sweeps send nothing more.
    async with container.uow_factory() as uow:
        assert await dispatch.send_due(uow, runtime, now=first_retry_at + timedelta(days=1)) == {}
        await uow.commit()
    assert len(smtp.inbox.to("pat@example.com")) == 1


async def test_after_the_last_attempt_a_delivery_is_dead_listed_for_admins_and_retryable(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    runtime: NotificationRuntime,
) -> None:
    customer = await create_user(container, email="dana@example.com")
    admin = await create_user(container, platform_role="admin")
    smtp.stop()
    await _issue_receipt(container, customer.id)
    await container.jobs.drain()  # attempt 1 of 3

    [delivery] = await _deliveries(session, address="dana@example.com")
    results = []
    for _ in range(2):  # attempts 2 and 3, each once its backoff has passed
        [delivery] = await _deliveries(session, address="dana@example.com")
        async with container.uow_factory() as uow:
            results.append(await dispatch.send_due(uow, runtime, now=delivery.next_attempt_at))
            await uow.commit()
    assert results == [{"failed": 1}, {"dead": 1}]
    [delivery] = await _deliveries(session, address="dana@example.com")
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    # Dead is never retried silently.
    async with container.uow_factory() as uow:
        assert (
            await dispatch.send_due(uow, runtime, now=delivery.next_attempt_at + timedelta(days=30))
            == {}
        )
        await uow.commit()

    listed = await client.get(
        "/v1/admin/notifications/deliveries",
        params={"status": "dead"},
        headers=auth_headers(container, admin),
    )
    assert listed.status_code == 200
    assert [(d["id"], d["address"], d["attempts"], d["status"]) for d in listed.json()["data"]] == [
        (delivery.id, "dana@example.com", 3, "dead")
    ]
    assert listed.json()["data"][0]["last_error"].startswith("SMTPConnectError: "), listed.json()

    smtp.start()
    retried = await client.post(
        f"/v1/admin/notifications/deliveries/{delivery.id}/retry",
        headers=auth_headers(container, admin),
    )
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    audited = await session.execute(
        select(AuditLogEntry.action, AuditLogEntry.actor_id, AuditLogEntry.actor_role).where(
            AuditLogEntry.resource_id == delivery.id
        )
    )
    assert [tuple(a) for a in audited.all()] == [
        ("notification_delivery.retried", admin.id, "admin")
    ]
    await container.jobs.drain()

    assert len(smtp.inbox.to("dana@example.com")) == 1
    [delivery] = await _deliveries(session, address="dana@example.com")
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    again = await client.post(
        f"/v1/admin/notifications/deliveries/{delivery.id}/retry",
        headers=auth_headers(container, admin),
    )
    assert again.status_code == 409
    assert again.json()["code"] == "delivery_not_dead"


async def test_a_receipt_whose_pdf_is_not_stored_yet_is_retried_not_sent_without_it(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    customer = await create_user(container, email="early@example.com")
    async with container.uow_factory() as uow:
        uow.publish(
            ReceiptIssued(
                order_id="ord_7",
                customer_id=customer.id,
                storage_key="receipts/ord_7.pdf",
                filename="receipt-ord_7.pdf",
                language="en",
            )
        )
        await uow.commit()
    await container.jobs.drain()

    [delivery] = await _deliveries(session, address="early@example.com")
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == "attachment receipts/ord_7.pdf not found"
    assert smtp.inbox.to("early@example.com") == []

    await container.storage.put("receipts/ord_7.pdf", PDF, "application/pdf")
    async with container.uow_factory() as uow:
        assert await dispatch.send_due(uow, runtime, now=delivery.next_attempt_at) == {"sent": 1}
        await uow.commit()
    [receipt] = smtp.inbox.to("early@example.com")
    assert [a.get_filename() for a in receipt.message.iter_attachments()] == ["receipt-ord_7.pdf"]


async def test_a_recipient_at_an_internationalized_domain_gets_the_email(
    smtp: SmtpServer,
) -> None:
    mailer = SmtpMailer(
        host="127.0.0.1",
        port=smtp.port,
        sender="shop@marketplace.test",
        sender_name="Marketplace",
        start_tls=False,
        timeout=5,
    )

    await mailer.send(
        OutgoingEmail(
            message_id="<ndl_idn@marketplace.test>",
            to="kunde@bücher.de",
            subject="Ihre Bestellung",
            text="Danke.\n",
            html=None,
            language="de",
        )
    )

    [received] = smtp.inbox.messages
    assert received.rcpt_tos == ["kunde@xn--bcher-kva.de"]
    assert received.message["To"].addresses[0].addr_spec == "kunde@xn--bcher-kva.de"
    assert received.text == "Danke.\n"
