"""Carrier tracking end to end: a shipment recorded by orders is followed by shipping
(EasyPost tracker registered), carrier webhooks verified, stored once and converged, the
vendor order delivered on the carrier's word with the payments hold started, and polled
carriers (DHL) asked with back-off until a final status."""

from __future__ import annotations

from datetime import timedelta

import httpx
import responses
import respx

from factories.carriers import (
    dhl_event,
    dhl_shipments,
    easypost_detail,
    easypost_event,
    easypost_signature,
    easypost_tracker,
)
from factories.shipping import (
    DHL_BASE,
    EASYPOST_BASE,
    UPS_NUMBER,
    Placed,
    count_webhooks,
    deliveries_in_timeline,
    event_statuses,
    hold,
    messages,
    place,
    ship,
    shipments,
    vendor_order,
)
from marketplace.bootstrap import Container
from marketplace.platform.clock import utcnow
from marketplace.shipping.carriers import Carriers
from marketplace.shipping.service import polling

WEBHOOK = "/v1/webhooks/carriers/easypost"


def iso(hours_ago: float) -> str:
    moment = (utcnow() - timedelta(hours=hours_ago)).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# The label scan, as EasyPost reports it both when the tracker is created and in its webhooks.
LABEL_AT = iso(30)


async def _ups_shipment(client: httpx.AsyncClient, container: Container) -> tuple[Placed, str]:
    """A paid order shipped with UPS, followed through an EasyPost tracker `trk_ups1`."""
    placed = await place(client, container)
    tracker = easypost_tracker(
        "trk_ups1", UPS_NUMBER, "pre_transit", [easypost_detail("pre_transit", LABEL_AT, "Label")]
    )
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{EASYPOST_BASE}/trackers", json=tracker, status=201)
        shipped = await ship(client, placed, "ups", UPS_NUMBER.lower())
        await container.jobs.drain()
        assert len(mock.calls) == 1
    assert shipped.status_code == 200, shipped.text
    return placed, placed.part["id"]


def _signed(body: bytes) -> dict[str, str]:
    return {"X-Hmac-Signature": easypost_signature(body), "Content-Type": "application/json"}


async def test_a_shipment_is_followed_once_with_an_easypost_tracker(
    client: httpx.AsyncClient, container: Container, carriers: Carriers
) -> None:
    placed, vendor_order_id = await _ups_shipment(client, container)
    await container.jobs.drain()  # nothing left: following again changes nothing

    [followed] = await shipments(container, vendor_order_id)
    assert (
        followed.carrier,
        followed.tracking_number,
        followed.tracker,
        followed.carrier_ref,
        followed.status,
        followed.next_poll_at,
        followed.customer_id,
        followed.vendor_id,
    ) == (
        "ups",
        UPS_NUMBER,
        "easypost",
        "trk_ups1",
        "label_created",
        None,  # EasyPost calls us: never polled
        placed.customer_id,
        placed.shop.vendor.id,
    )
    assert await event_statuses(container, followed.id) == ["label_created"]
    assert await messages(container, "shipping.tracking_updated.v1") == []


async def test_a_delivered_webhook_delivers_the_vendor_order_once_and_starts_the_hold(
    client: httpx.AsyncClient, container: Container, carriers: Carriers
) -> None:
    placed, vendor_order_id = await _ups_shipment(client, container)
    delivered_at = iso(1)
    tracker = easypost_tracker(
        "trk_ups1",
        UPS_NUMBER,
        "delivered",
        [
            easypost_detail("pre_transit", LABEL_AT, "Label"),
            easypost_detail("in_transit", iso(20), "Departed", "Oakland"),
            easypost_detail("delivered", delivered_at, "Delivered, front door", "Berkeley"),
        ],
    )
    body = easypost_event("evt_delivered", tracker)

    first = await client.post(WEBHOOK, content=body, headers=_signed(body))
    await container.jobs.drain()
    replay = await client.post(WEBHOOK, content=body, headers=_signed(body))
    await container.jobs.drain()

    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False, "shipments": 1}
    assert replay.json() == {"received": True, "duplicate": True, "shipments": 0}
    [followed] = await shipments(container, vendor_order_id)
    assert (followed.status, followed.delivered_at.strftime("%Y-%m-%dT%H:%M:%SZ")) == (
        "delivered",
        delivered_at,
    )
    delivered = await vendor_order(container, vendor_order_id)
    assert delivered.status == "delivered"
    assert delivered.delivered_at == followed.delivered_at
    share = await hold(container, vendor_order_id)
    assert (share.hold_status, share.delivered_at) == ("holding", followed.delivered_at)
    assert share.release_at == followed.delivered_at + timedelta(days=7)
    assert await deliveries_in_timeline(container, vendor_order_id) == ["system"]
    assert [m["status"] for m in await messages(container, "shipping.tracking_updated.v1")] == [
        "delivered"
    ]
    assert [
        m["shipment_id"] for m in await messages(container, "shipping.shipment_delivered.v1")
    ] == [followed.id]
    assert len(await messages(container, "orders.vendor_order_delivered.v1")) == 1
    assert await count_webhooks(container) == 1
    tracking = await client.get(
        f"/v1/orders/{placed.order['id']}/tracking", headers=placed.customer
    )
    [parcel] = tracking.json()["vendor_orders"][0]["shipments"]
    assert [(e["status"], e["location"]) for e in parcel["events"]] == [
        ("label_created", None),
        ("in_transit", "Oakland, CA, US"),
        ("delivered", "Berkeley, CA, US"),
    ]


async def test_a_bad_signature_is_400_and_changes_nothing(
    client: httpx.AsyncClient, container: Container, carriers: Carriers
) -> None:
    _, vendor_order_id = await _ups_shipment(client, container)
    tracker = easypost_tracker(
        "trk_ups1", UPS_NUMBER, "delivered", [easypost_detail("delivered", iso(1), "Delivered")]
    )
    body = easypost_event("evt_forged", tracker)
    forged = {"X-Hmac-Signature": easypost_signature(body, secret="guessed")}

    refused = await client.post(WEBHOOK, content=body, headers=forged)
    unsigned = await client.post(WEBHOOK, content=body)
    await container.jobs.drain()

    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_signature")
    assert (unsigned.status_code, unsigned.json()["code"]) == (400, "invalid_signature")
    [followed] = await shipments(container, vendor_order_id)
    assert (followed.status, followed.delivered_at) == ("label_created", None)
    assert await event_statuses(container, followed.id) == ["label_created"]
    assert await count_webhooks(container) == 0
    assert (await vendor_order(container, vendor_order_id)).status == "shipped"
    assert await messages(container, "shipping.tracking_updated.v1") == []


async def test_delivered_before_a_late_in_transit_ends_delivered(
    client: httpx.AsyncClient, container: Container, carriers: Carriers
) -> None:
    _, vendor_order_id = await _ups_shipment(client, container)
    delivered = easypost_event(
        "evt_b",
        easypost_tracker(
            "trk_ups1", UPS_NUMBER, "delivered", [easypost_detail("delivered", iso(2), "Delivered")]
        ),
    )
    late = easypost_event(
        "evt_a",
        easypost_tracker(
            "trk_ups1",
            UPS_NUMBER,
            "in_transit",
            [easypost_detail("in_transit", iso(10), "Arrived at hub", "Oakland")],
        ),
    )

    for body in (delivered, late):
        answer = await client.post(WEBHOOK, content=body, headers=_signed(body))
        assert answer.json()["duplicate"] is False
    await container.jobs.drain()

    [followed] = await shipments(container, vendor_order_id)
    assert followed.status == "delivered"
    assert await event_statuses(container, followed.id) == [
        "label_created",
        "in_transit",
        "delivered",
    ]
    assert [m["status"] for m in await messages(container, "shipping.tracking_updated.v1")] == [
        "delivered"
    ]
    assert len(await messages(container, "shipping.shipment_delivered.v1")) == 1
    assert (await vendor_order(container, vendor_order_id)).status == "delivered"


async def test_webhooks_of_carriers_that_send_none_are_404(
    client: httpx.AsyncClient, container: Container, carriers: Carriers
) -> None:
    for carrier in ("manual", "dhl", "pigeon"):
        answer = await client.post(f"/v1/webhooks/carriers/{carrier}", content=b"{}")
        assert (answer.status_code, answer.json()["code"]) == (404, "carrier_not_found")
    assert await count_webhooks(container) == 0


async def test_dhl_is_polled_with_back_off_and_never_again_once_delivered(
    client: httpx.AsyncClient, container: Container, carriers: Carriers
) -> None:
    placed = await place(client, container)
    assert (await ship(client, placed, "dhl", "1234567890")).status_code == 200
    await container.jobs.drain()
    [followed] = await shipments(container, placed.part["id"])
    assert (followed.tracker, followed.poll_interval_seconds) == ("dhl", 3600)
    assert followed.next_poll_at is not None

    in_transit = dhl_shipments(
        "1234567890",
        [
            dhl_event("transit", iso(5), "Processed at parcel center"),
            dhl_event("pre-transit", iso(20), "Shipment information received"),
        ],
    )
    delivered = dhl_shipments(
        "1234567890",
        [
            dhl_event("delivered", iso(1), "Delivered", "Berlin"),
            *in_transit["shipments"][0]["events"],
        ],
    )
    intervals: list[int | None] = []
    with respx.mock(base_url=DHL_BASE, assert_all_called=True) as dhl:
        route = dhl.get("/track/shipments", params={"trackingNumber": "1234567890"})
        route.respond(200, json=in_transit)
        async with container.uow_factory() as uow:
            assert await polling.queue_due_polls(uow, now=utcnow() + timedelta(seconds=1)) == 1
            await uow.commit()
        async with container.uow_factory() as uow:  # queued already: not again
            assert await polling.queue_due_polls(uow, now=utcnow() + timedelta(seconds=1)) == 0
            await uow.commit()
        await container.jobs.drain()  # the poll job asks DHL: news
        intervals.append((await shipments(container, placed.part["id"]))[0].poll_interval_seconds)
        for _ in range(4):  # the same answer: nothing new, the interval doubles up to 8 h
            async with container.uow_factory() as uow:
                await polling.poll_shipment(uow, carriers, shipment_id=followed.id)
                await uow.commit()
            intervals.append(
                (await shipments(container, placed.part["id"]))[0].poll_interval_seconds
            )
        route.respond(200, json=delivered)
        async with container.uow_factory() as uow:
            assert await polling.poll_shipment(uow, carriers, shipment_id=followed.id)
            await uow.commit()
        await container.jobs.drain()
        calls = route.call_count
        async with container.uow_factory() as uow:
            asked = await polling.poll_shipment(uow, carriers, shipment_id=followed.id)
            queued = await polling.queue_due_polls(uow, now=utcnow() + timedelta(days=30))
            await uow.commit()

    assert intervals == [3600, 7200, 14400, 28800, 28800]
    [final] = await shipments(container, placed.part["id"])
    assert (final.status, final.next_poll_at) == ("delivered", None)
    assert final.last_polled_at is not None
    assert (asked, queued, calls, route.call_count) == (False, 0, 6, 6)
    assert await event_statuses(container, final.id) == ["label_created", "in_transit", "delivered"]
    assert (await vendor_order(container, placed.part["id"])).status == "delivered"


async def test_a_carrier_that_does_not_answer_backs_off_and_changes_nothing_else(
    client: httpx.AsyncClient, container: Container, carriers: Carriers
) -> None:
    placed = await place(client, container)
    await ship(client, placed, "dhl", "1234567890")
    await container.jobs.drain()
    [followed] = await shipments(container, placed.part["id"])

    with respx.mock(base_url=DHL_BASE) as dhl:
        dhl.get("/track/shipments").respond(503, json={"title": "Service Unavailable"})
        async with container.uow_factory() as uow:
            await polling.poll_shipment(uow, carriers, shipment_id=followed.id)
            await uow.commit()

    [after] = await shipments(container, placed.part["id"])
    assert (after.status, after.poll_interval_seconds) == ("label_created", 7200)
    assert after.next_poll_at == after.last_polled_at + timedelta(hours=2)  # type: ignore[operator]
    assert await event_statuses(container, after.id) == []
