"""What the customer hears while a parcel travels: one email when the vendor ships with a
tracking number, one when the carrier's signed webhook says delivered, and nothing more
when the carrier sends the same webhook again (shipping, orders and notifications
together, mail on a real SMTP server)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import responses

from factories.carriers import easypost_detail, easypost_event, easypost_signature, easypost_tracker
from factories.notifications import SmtpServer
from factories.shipping import EASYPOST_BASE, UPS_NUMBER, enable_carriers, place, ship
from marketplace.bootstrap import Container
from marketplace.notifications.channels import NotificationRuntime
from marketplace.platform.clock import utcnow

WEBHOOK = "/v1/webhooks/carriers/easypost"


def _iso(hours_ago: float) -> str:
    moment = (utcnow() - timedelta(hours=hours_ago)).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _subjects(smtp: SmtpServer, order_id: str) -> list[str]:
    return sorted(
        str(m.message["Subject"]) for m in smtp.inbox.messages if order_id in m.message["Subject"]
    )


async def test_shipping_and_a_carrier_delivery_each_make_one_customer_email(
    client: httpx.AsyncClient,
    container: Container,
    smtp: SmtpServer,
    runtime: NotificationRuntime,
) -> None:
    # Given a paid order whose confirmation and receipt have gone out
    enable_carriers(container)
    placed = await place(client, container)
    order_id = placed.order["id"]
    await container.jobs.drain()
    before = _subjects(smtp, order_id)
    assert before == sorted(
        [f"Your order {order_id} is confirmed", f"Your receipt for order {order_id}"]
    )

    # When the vendor ships it with a UPS tracking number (followed through EasyPost)
    label = easypost_detail("pre_transit", _iso(30), "Label")
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{EASYPOST_BASE}/trackers",
            json=easypost_tracker("trk_mail", UPS_NUMBER, "pre_transit", [label]),
            status=201,
        )
        shipped = await ship(client, placed, "ups", UPS_NUMBER)
        await container.jobs.drain()
    assert shipped.status_code == 200, shipped.text

    # Then the customer got exactly one more email: shipped
    after_shipping = _subjects(smtp, order_id)
    assert sorted(set(after_shipping) - set(before)) == [f"Your order {order_id} has shipped"]
    assert len(after_shipping) == len(before) + 1

    # When the carrier says delivered, and then says it again
    tracker = easypost_tracker(
        "trk_mail",
        UPS_NUMBER,
        "delivered",
        [label, easypost_detail("delivered", _iso(1), "Delivered, front door", "Berkeley")],
    )
    body = easypost_event("evt_mail_delivered", tracker)
    headers = {"X-Hmac-Signature": easypost_signature(body), "Content-Type": "application/json"}
    first = await client.post(WEBHOOK, content=body, headers=headers)
    await container.jobs.drain()
    after_delivery = _subjects(smtp, order_id)
    replay = await client.post(WEBHOOK, content=body, headers=headers)
    await container.jobs.drain()

    # Then exactly one delivered email, and the replay sent nothing
    assert (first.status_code, replay.status_code) == (200, 200)
    assert sorted(set(after_delivery) - set(after_shipping)) == [
        f"Your order {order_id} was delivered"
    ]
    assert len(after_delivery) == len(after_shipping) + 1
    assert _subjects(smtp, order_id) == after_delivery
