"""Vendors' manual status updates, the customer's tracking view (and nobody else's), ship-time
tracking number checks, and a vendor order of several parcels delivered when all arrived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from factories.identity import auth_headers, create_user
from factories.shipping import (
    deliveries_in_timeline,
    event_statuses,
    messages,
    place,
    ship,
    shipments,
    vendor_order,
)
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.orders.models.order import Shipment
from marketplace.platform.clock import utcnow
from marketplace.shipping.carriers import Carriers


def events_url(placed_vendor_id: str, shipment_id: str) -> str:
    return f"/v1/vendors/{placed_vendor_id}/shipments/{shipment_id}/events"


async def test_vendor_enters_status_updates_of_a_manual_shipment(
    client: httpx.AsyncClient, container: Container
) -> None:
    placed = await place(client, container)
    await ship(client, placed, "other", " Parcel 42/B ")
    await container.jobs.drain()
    [followed] = await shipments(container, placed.part["id"])
    url = events_url(placed.shop.vendor.id, followed.id)
    picked_up = (utcnow() - timedelta(hours=3)).replace(microsecond=0)

    moving = await client.post(
        url,
        json={
            "status": "in_transit",
            "description": "Handed to the courier",
            "location": "Lyon, FR",
            "occurred_at": picked_up.isoformat(),
        },
        headers=placed.vendor,
    )
    arrived = await client.post(url, json={"status": "delivered"}, headers=placed.vendor)
    await container.jobs.drain()
    listed = await client.get(
        f"/v1/vendors/{placed.shop.vendor.id}/shipments",
        params={"status": "delivered"},
        headers=placed.vendor,
    )
    none_moving = await client.get(
        f"/v1/vendors/{placed.shop.vendor.id}/shipments",
        params={"status": "in_transit"},
        headers=placed.vendor,
    )

    assert moving.status_code == 201, moving.text
    body = moving.json()
    assert (body["carrier"], body["tracking_number"], body["tracked_by"], body["status"]) == (
        "other",
        "Parcel 42/B",
        "manual",
        "in_transit",
    )
    assert body["events"] == [
        {
            "status": "in_transit",
            "occurred_at": picked_up.isoformat().replace("+00:00", "Z"),
            "description": "Handed to the courier",
            "location": "Lyon, FR",
            "source": "vendor",
        }
    ]
    assert arrived.json()["status"] == "delivered"
    assert [s["id"] for s in listed.json()["data"]] == [followed.id]
    assert none_moving.json()["data"] == []
    assert (await vendor_order(container, placed.part["id"])).status == "delivered"
    assert await deliveries_in_timeline(container, placed.part["id"]) == ["system"]
    assert [m["status"] for m in await messages(container, "shipping.tracking_updated.v1")] == [
        "in_transit",
        "delivered",
    ]
    async with container.db.session() as session:
        audited = list(
            await session.scalars(
                select(AuditLogEntry.action).where(AuditLogEntry.resource_id == followed.id)
            )
        )
    assert audited == ["shipping.tracking_event_added", "shipping.tracking_event_added"]


async def test_manual_updates_are_refused_where_they_do_not_belong(
    client: httpx.AsyncClient, container: Container, carriers: Carriers
) -> None:
    placed = await place(client, container)
    stranger = await place(client, container)
    await ship(client, placed, "dhl", "1234567890")  # DHL's API follows it
    await container.jobs.drain()
    [by_dhl] = await shipments(container, placed.part["id"])
    await ship(client, stranger, "other", "P-1")
    await container.jobs.drain()
    [manual] = await shipments(container, stranger.part["id"])

    tracked = await client.post(
        events_url(placed.shop.vendor.id, by_dhl.id),
        json={"status": "delivered"},
        headers=placed.vendor,
    )
    not_theirs = await client.post(
        events_url(placed.shop.vendor.id, manual.id),
        json={"status": "delivered"},
        headers=placed.vendor,
    )
    future = await client.post(
        events_url(stranger.shop.vendor.id, manual.id),
        json={"status": "delivered", "occurred_at": (utcnow() + timedelta(hours=1)).isoformat()},
        headers=stranger.vendor,
    )
    naive = await client.post(
        events_url(stranger.shop.vendor.id, manual.id),
        json={"status": "delivered", "occurred_at": "2026-12-01T10:00:00"},
        headers=stranger.vendor,
    )
    unknown_status = await client.post(
        events_url(stranger.shop.vendor.id, manual.id),
        json={"status": "lost_in_space"},
        headers=stranger.vendor,
    )

    assert (tracked.status_code, tracked.json()["code"]) == (409, "shipment_tracked_by_carrier")
    assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "shipment_not_found")
    assert future.status_code == 422
    assert future.json()["errors"][0]["loc"] == ["body", "occurred_at"]
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["loc"] == ["body", "occurred_at"]
    assert unknown_status.status_code == 422
    assert unknown_status.json()["errors"][0]["loc"] == ["body", "status"]
    assert await event_statuses(container, by_dhl.id) == []
    assert await event_statuses(container, manual.id) == []
    assert [s.status for s in await shipments(container, stranger.part["id"])] == ["label_created"]
    assert await messages(container, "shipping.tracking_updated.v1") == []


async def test_tracking_is_visible_to_the_customer_and_staff_only(
    client: httpx.AsyncClient, container: Container
) -> None:
    placed = await place(client, container)
    await ship(client, placed, "ups", "1Z999AA10123456784")  # EasyPost off: followed by hand
    await container.jobs.drain()
    [followed] = await shipments(container, placed.part["id"])
    url = f"/v1/orders/{placed.order['id']}/tracking"
    other = auth_headers(container, await create_user(container))
    admin = auth_headers(container, await create_user(container, platform_role="admin"))

    own = await client.get(url, headers=placed.customer)
    by_admin = await client.get(url, headers=admin)
    by_other = await client.get(url, headers=other)
    by_vendor = await client.get(url, headers=placed.vendor)
    missing = await client.get("/v1/orders/ord_missing/tracking", headers=placed.customer)
    anonymous = await client.get(url)

    assert own.status_code == 200
    assert own.json() == {
        "order_id": placed.order["id"],
        "vendor_orders": [
            {
                "vendor_order_id": placed.part["id"],
                "vendor_id": placed.shop.vendor.id,
                "shipments": [
                    {
                        "id": followed.id,
                        "order_id": placed.order["id"],
                        "vendor_order_id": placed.part["id"],
                        "carrier": "ups",
                        "tracking_number": "1Z999AA10123456784",
                        "tracked_by": "manual",
                        "status": "label_created",
                        "status_at": None,
                        "delivered_at": None,
                        "created_at": followed.created_at.isoformat().replace("+00:00", "Z"),
                        "events": [],
                    }
                ],
            }
        ],
    }
    assert by_admin.json() == own.json()
    assert (by_other.status_code, by_other.json()["code"]) == (404, "order_not_found")
    assert by_vendor.status_code == 404
    assert missing.status_code == 404
    assert anonymous.status_code == 401


async def test_ship_refuses_unknown_carriers_and_malformed_numbers_changing_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    placed = await place(client, container)

    unknown = await ship(client, placed, "pigeon", "1234567890")
    malformed = await ship(client, placed, "fedex", "1Z999AA10123456784")
    await container.jobs.drain()

    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "carrier"]
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["loc"] == ["body", "tracking_number"]
    assert (await vendor_order(container, placed.part["id"])).status == "processing"
    async with container.db.session() as session:
        parcels = await session.scalar(
            select(func.count())
            .select_from(Shipment)
            .where(Shipment.vendor_order_id == placed.part["id"])
        )
    assert parcels == 0
    assert await shipments(container, placed.part["id"]) == []


async def test_a_vendor_order_of_two_parcels_is_delivered_when_both_arrived(
    client: httpx.AsyncClient, container: Container
) -> None:
    placed = await place(client, container, quantity=2)
    vid = placed.shop.vendor.id
    await ship(client, placed, "other", "P-1", quantity=1)
    await container.jobs.drain()
    [first] = await shipments(container, placed.part["id"])
    first_arrival = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)

    await client.post(
        events_url(vid, first.id),
        json={"status": "delivered", "occurred_at": first_arrival.isoformat()},
        headers=placed.vendor,
    )
    await container.jobs.drain()
    after_first = (await vendor_order(container, placed.part["id"])).status  # half shipped
    await ship(client, placed, "other", "P-2")
    await container.jobs.drain()
    second = next(s for s in await shipments(container, placed.part["id"]) if s.id != first.id)
    shipped = (await vendor_order(container, placed.part["id"])).status
    await client.post(
        events_url(vid, second.id), json={"status": "delivered"}, headers=placed.vendor
    )
    await container.jobs.drain()

    done = await vendor_order(container, placed.part["id"])
    assert (after_first, shipped, done.status) == ("processing", "shipped", "delivered")
    async with container.db.session() as session:
        arrived = dict(
            (
                await session.execute(
                    select(Shipment.id, Shipment.delivered_at).where(
                        Shipment.vendor_order_id == placed.part["id"]
                    )
                )
            ).all()
        )
    assert arrived[first.id] == first_arrival
    assert arrived[second.id] is not None
    assert done.delivered_at == arrived[second.id]
    assert await deliveries_in_timeline(container, placed.part["id"]) == ["system"]
