"""SMS through the Twilio SDK and signed vendor webhooks, tested at the HTTP boundary: a
local server answers like Twilio's Messages API (2010-04-01) and like a vendor's system."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import auth_headers, create_user
from factories.notifications import RecordingHttpServer, SmtpServer, make_runtime
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.identity.models import User
from marketplace.inventory.events import StockLow
from marketplace.notifications.channels import NotificationRuntime, TwilioSms, WebhookSender
from marketplace.notifications.models import Delivery, WebhookEndpoint
from marketplace.notifications.service import messages
from marketplace.orders.events import VendorOrderShipped
from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message

ACCOUNT = "AC" + "1" * 32
TOKEN = "twilio-auth-token"
FROM = "+15005550006"
SID = "SM" + "a" * 32


def _twilio_message(to: str, body: str) -> dict[str, object]:
    """The Message resource Twilio answers a create with (201)."""
    return {
        "account_sid": ACCOUNT,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": "Thu, 03 Dec 2026 20:00:00 +0000",
        "date_sent": None,
        "date_updated": "Thu, 03 Dec 2026 20:00:00 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": FROM,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": SID,
        "status": "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{SID}/Media.json"},
        "to": to,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{SID}.json",
    }


async def _opt_in(client: httpx.AsyncClient, container: Container, user: User) -> None:
    response = await client.put(
        "/v1/me/notification-preferences",
        json={
            "sms_number": "+49 151 12345678",
            "preferences": [{"category": "order_updates", "channel": "sms", "enabled": True}],
        },
        headers=auth_headers(container, user),
    )
    assert response.status_code == 200, response.text


async def _ship(container: Container, customer: User, vendor_id: str) -> None:
    async with container.uow_factory() as uow:
        uow.publish(
            VendorOrderShipped(
                vendor_order_id="vo_1",
                order_id="ord_1",
                vendor_id=vendor_id,
                customer_id=customer.id,
                shipment_id="shp_1",
                carrier="dhl",
                tracking_number="JD0001",
                complete=True,
            )
        )
        await uow.commit()
    await container.jobs.drain()


def _twilio(server: RecordingHttpServer) -> TwilioSms:
    return TwilioSms(
        account_sid=ACCOUNT, auth_token=TOKEN, from_number=FROM, api_base_url=server.url
    )


async def test_an_opted_in_customer_gets_an_sms_through_twilios_messages_api(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    http_server: RecordingHttpServer,
) -> None:
    make_runtime(container, smtp, sms=_twilio(http_server), sms_enabled=True)
    customer = await create_user(container, name="Sam", email="sam@example.com")
    vendor = await create_vendor(container)
    await _opt_in(client, container, customer)
    http_server.replies = [(201, _twilio_message("+4915112345678", "ignored"))]

    await _ship(container, customer, vendor.id)

    [request] = http_server.requests
    assert (request.method, request.path) == (
        "POST",
        f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
    )
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    )
    form = parse_qs(request.body.decode())
    assert form["To"] == ["+4915112345678"]
    assert form["From"] == [FROM]
    [body] = form["Body"]
    assert body.startswith("Marketplace: ")
    assert body.endswith(" shipped your order ord_1 (dhl JD0001)")
    sms = (
        await session.scalars(
            select(Delivery)
            .where(Delivery.channel == "sms")
            .execution_options(populate_existing=True)
        )
    ).one()
    assert (sms.status, sms.provider_message_id, sms.address) == ("sent", SID, "+4915112345678")
    assert len(smtp.inbox.to("sam@example.com")) == 1  # the email goes out as well


async def test_sms_is_off_unless_the_customer_opted_in(
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    http_server: RecordingHttpServer,
) -> None:
    make_runtime(container, smtp, sms=_twilio(http_server), sms_enabled=True)
    customer = await create_user(container)
    vendor = await create_vendor(container)

    await _ship(container, customer, vendor.id)

    assert http_server.requests == []
    channels = await session.scalars(
        select(Delivery.channel).where(Delivery.user_id == customer.id)
    )
    assert channels.all() == ["email"]


async def test_a_number_twilio_refuses_is_dead_at_once(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    http_server: RecordingHttpServer,
) -> None:
    make_runtime(container, smtp, sms=_twilio(http_server), sms_enabled=True)
    customer = await create_user(container)
    vendor = await create_vendor(container)
    await _opt_in(client, container, customer)
    http_server.replies = [
        (
            400,
            {
                "code": 21211,
                "message": "The 'To' number +4915112345678 is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            },
        )
    ]

    await _ship(container, customer, vendor.id)

    sms = (
        await session.scalars(
            select(Delivery)
            .where(Delivery.channel == "sms")
            .execution_options(populate_existing=True)
        )
    ).one()
    assert (sms.status, sms.attempts) == ("dead", 1)
    assert sms.last_error is not None
    assert sms.last_error.startswith("twilio 400 21211: ")
    assert len(http_server.requests) == 1


def _verify(secret: str, header: str, body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


async def test_a_vendor_webhook_endpoint_receives_signed_events_and_logs_deliveries(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    http_server: RecordingHttpServer,
) -> None:
    make_runtime(
        container,
        smtp,
        webhooks=WebhookSender(allow_networks=[ipaddress.ip_network("127.0.0.0/8")]),
    )
    vendor = await create_vendor(container)
    headers = auth_headers(container, vendor.owner)

    created = await client.post(
        f"/v1/vendors/{vendor.id}/webhook-endpoints",
        json={"url": f"{http_server.url}/hooks", "events": ["stock.low"]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    listed = await client.get(f"/v1/vendors/{vendor.id}/webhook-endpoints", headers=headers)
    assert [(e["id"], e["events"]) for e in listed.json()["data"]] == [
        (endpoint["id"], ["stock.low"])
    ]
    assert "secret" not in listed.json()["data"][0]

    async with container.uow_factory() as uow:
        event_id = uow.publish(
            StockLow(vendor_id=vendor.id, variant_id="var_1", sku="MUG-1", available=1, threshold=2)
        )
        await uow.commit()
    await container.jobs.drain()

    [request] = http_server.requests
    assert (request.method, request.path) == ("POST", "/hooks")
    assert request.headers["content-type"] == "application/json"
    assert _verify(secret, request.headers["marketplace-signature"], request.body)
    assert not _verify("whsec_other", request.headers["marketplace-signature"], request.body)
    payload = json.loads(request.body)
    assert (payload["id"], payload["type"]) == (event_id, "stock.low")
    assert payload["data"] == {
        "vendor_id": vendor.id,
        "variant_id": "var_1",
        "sku": "MUG-1",
        "available": 1,
        "threshold": 2,
    }
    log = await client.get(
        f"/v1/vendors/{vendor.id}/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers
    )
    [delivery] = log.json()["data"]
    assert request.headers["marketplace-delivery-id"] == delivery["id"]
    assert (delivery["status"], delivery["response_status"], delivery["attempts"]) == (
        "sent",
        200,
        1,
    )

    deleted = await client.delete(
        f"/v1/vendors/{vendor.id}/webhook-endpoints/{endpoint['id']}", headers=headers
    )
    assert deleted.status_code == 204
    gone = await client.get(
        f"/v1/vendors/{vendor.id}/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers
    )
    assert gone.status_code == 404
    audited = await session.execute(
        select(AuditLogEntry.action, AuditLogEntry.actor_id, AuditLogEntry.resource_id)
        .where(AuditLogEntry.resource_type == "webhook_endpoint")
        .order_by(AuditLogEntry.seq)
    )
    assert [tuple(a) for a in audited.all()] == [
        ("webhook_endpoint.created", vendor.owner.id, endpoint["id"]),
        ("webhook_endpoint.deleted", vendor.owner.id, endpoint["id"]),
    ]


async def test_webhook_urls_reaching_internal_addresses_are_refused(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    http_server: RecordingHttpServer,
) -> None:
    async def internal(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]  # a name that resolves inside our network

    make_runtime(container, smtp, webhooks=WebhookSender(resolver=internal))
    vendor = await create_vendor(container)
    headers = auth_headers(container, vendor.owner)

    metadata = await client.post(
        f"/v1/vendors/{vendor.id}/webhook-endpoints",
        json={"url": "https://169.254.169.254/latest/meta-data", "events": ["stock.low"]},
        headers=headers,
    )
    assert metadata.status_code == 422
    assert metadata.json()["errors"][0]["loc"] == ["body", "url"]
    assert (await client.get(f"/v1/vendors/{vendor.id}/webhook-endpoints", headers=headers)).json()[
        "data"
    ] == []

    accepted = await client.post(
        f"/v1/vendors/{vendor.id}/webhook-endpoints",
        json={"url": "https://erp.internal.example/hooks", "events": ["*"]},
        headers=headers,
    )
    assert accepted.status_code == 201
    async with container.uow_factory() as uow:
        uow.publish(
            StockLow(vendor_id=vendor.id, variant_id="var_1", sku="MUG-1", available=1, threshold=2)
        )
        await uow.commit()
    await container.jobs.drain()

    webhook = (
        await session.scalars(
            select(Delivery)
            .where(Delivery.channel == "webhook")
            .execution_options(populate_existing=True)
        )
    ).one()
    assert (webhook.status, webhook.attempts) == ("dead", 1)
    assert webhook.last_error == (
        "refused: erp.internal.example resolves to private address 10.0.0.7, which is not allowed"
    )
    assert http_server.requests == []


async def test_a_vendor_event_is_composed_for_its_live_endpoints_subscribed_to_its_type(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    # Given a vendor with endpoints for the event's type, for all types, for another type,
    # and a deleted one for all types; and another vendor's endpoint for all types
    vendor = await create_vendor(container)
    other = await create_vendor(container)
    now = utcnow()

    def endpoint(endpoint_id: str, vendor_id: str, events: list[str]) -> WebhookEndpoint:
        return WebhookEndpoint(
            id=endpoint_id,
            vendor_id=vendor_id,
            url=f"https://{endpoint_id}.example/hooks",
            events=events,
            secret_encrypted="unused",
            created_by=vendor.owner.id,
            created_at=now,
            deleted_at=now if endpoint_id == "whe_4_deleted" else None,
        )

    session.add_all(
        [
            endpoint("whe_3_all", vendor.id, ["*"]),
            endpoint("whe_1_low", vendor.id, ["payout.sent", "stock.low"]),
            endpoint("whe_2_payouts", vendor.id, ["payout.sent"]),
            endpoint("whe_4_deleted", vendor.id, ["*"]),
            endpoint("whe_5_other", other.id, ["*"]),
        ]
    )
    await session.commit()
    low = StockLow(vendor_id=vendor.id, variant_id="var_1", sku="MUG-1", available=1, threshold=2)

    # When the vendor's event is composed (and not committed: nothing is sent)
    async with container.uow_factory() as uow:
        await messages.handle(
            uow,
            runtime,
            Message(
                id="msg_fanout_1",
                kind="event",
                name=low.name,
                payload=low.model_dump(mode="json"),
                occurred_at=datetime(2026, 12, 3, 20, 0, tzinfo=UTC),
                attempt=1,
            ),
        )
        rows = (
            await uow.session.execute(
                select(Delivery.recipient, Delivery.address, Delivery.subject, Delivery.status)
                .where(Delivery.channel == "webhook")
                .order_by(Delivery.recipient)
            )
        ).all()
        await uow.rollback()

    # Then one pending webhook delivery per live endpoint of the vendor subscribed to it
    assert [tuple(row) for row in rows] == [
        ("whe_1_low", "https://whe_1_low.example/hooks", "stock.low", "pending"),
        ("whe_3_all", "https://whe_3_all.example/hooks", "stock.low", "pending"),
    ]
