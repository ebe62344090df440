"""Two parcels of one vendor order reported delivered at the same moment, on the real
engine with real commits (on PostgreSQL, truly in parallel): the vendor order is delivered,
exactly once. Without the vendor order's lock each report could see the other parcel still
on its way and neither would deliver it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import select

from factories.checkout import checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.orders.models.order import Shipment, TimelineEntry, VendorOrder
from marketplace.orders.service import fulfilment
from marketplace.platform.clock import utcnow
from marketplace.platform.models import OutboxMessage


async def _arrived(container: Container, shipment: Shipment, hours_ago: int) -> bool:
    async with container.uow_factory() as uow:
        delivered = await fulfilment.shipment_delivered(
            uow,
            shipment_id=shipment.id,
            vendor_order_id=shipment.vendor_order_id,
            delivered_at=utcnow() - timedelta(hours=hours_ago),
        )
        await uow.commit()
    return delivered


async def test_two_parcels_arriving_together_deliver_the_vendor_order_once(
    live_container: Container, make_live_client: Callable[..., httpx.AsyncClient]
) -> None:
    shop = await make_shop(live_container)
    customer = await create_user(live_container)
    vendor = auth_headers(live_container, shop.vendor.owner)
    async with make_live_client() as client:
        placed = await client.post(
            "/v1/orders",
            json=checkout_body((shop, 2)),
            headers=auth_headers(live_container, customer) | key(),
        )
        part = placed.json()["vendor_orders"][0]
        base = f"/v1/vendors/{shop.vendor.id}/orders/{part['id']}"
        item = part["items"][0]["id"]
        for number in ("P-1", "P-2"):
            shipped = await client.post(
                f"{base}/ship",
                json={
                    "carrier": "other",
                    "tracking_number": number,
                    "items": [{"order_item_id": item, "quantity": 1}],
                },
                headers=vendor,
            )
            assert shipped.status_code == 200, shipped.text
    async with live_container.db.session() as session:
        parcels = list(
            await session.scalars(select(Shipment).where(Shipment.vendor_order_id == part["id"]))
        )

    outcomes = await asyncio.gather(
        _arrived(live_container, parcels[0], 3), _arrived(live_container, parcels[1], 2)
    )

    assert sorted(outcomes) == [False, True]
    async with live_container.db.session() as session:
        vendor_order = await session.get(VendorOrder, part["id"])
        assert vendor_order is not None
        assert vendor_order.status == "delivered"
        entries = list(
            await session.scalars(
                select(TimelineEntry.kind).where(
                    TimelineEntry.vendor_order_id == part["id"], TimelineEntry.kind == "delivered"
                )
            )
        )
        news = list(
            await session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.name == "orders.vendor_order_delivered.v1"
                )
            )
        )
        arrived = list(
            await session.scalars(
                select(Shipment.delivered_at).where(Shipment.vendor_order_id == part["id"])
            )
        )
    assert (len(entries), len(news)) == (1, 1)
    assert None not in arrived
    assert vendor_order.delivered_at == max(arrived)  # type: ignore[type-var]
