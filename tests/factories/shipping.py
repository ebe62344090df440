"""Typed factories for shipping: carriers with EasyPost and DHL enabled (no network: tests
mock their HTTP), a paid order of one vendor shipped through the API, and reads of what
shipping and orders stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from factories.carriers import EASYPOST_SECRET
from factories.checkout import Shop, checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.orders.models.order import TimelineEntry, VendorOrder
from marketplace.payments.models import PaymentShare
from marketplace.platform.models import OutboxMessage
from marketplace.shipping.carriers import Carriers, bind_carriers
from marketplace.shipping.carriers.dhl import DhlAdapter
from marketplace.shipping.carriers.easypost import EasyPostAdapter
from marketplace.shipping.models import CarrierWebhook, TrackedShipment, TrackingEvent

EASYPOST_BASE = "https://api.easypost.com/v2"
DHL_BASE = "https://api-eu.dhl.com"
UPS_NUMBER = "1Z999AA10123456784"


def enable_carriers(container: Container) -> Carriers:
    """This container follows parcels with EasyPost (UPS, USPS, FedEx) and DHL's own API;
    polls back off from one hour to at most eight."""
    enabled = Carriers(
        [
            EasyPostAdapter(
                api_key="EZTK_test_key", webhook_secret=EASYPOST_SECRET, api_base=EASYPOST_BASE
            ),
            DhlAdapter(api_key="dhl-key", base_url=DHL_BASE),
        ],
        poll_interval=timedelta(hours=1),
        max_poll_interval=timedelta(hours=8),
    )
    bind_carriers(container.db, enabled)
    return enabled


@dataclass
class Placed:
    shop: Shop
    order: dict[str, Any]
    customer: dict[str, str]
    vendor: dict[str, str]
    customer_id: str

    @property
    def part(self) -> dict[str, Any]:
        return next(v for v in self.order["vendor_orders"] if v["vendor_id"] == self.shop.vendor.id)

    @property
    def base(self) -> str:
        return f"/v1/vendors/{self.shop.vendor.id}/orders/{self.part['id']}"


async def place(client: httpx.AsyncClient, container: Container, quantity: int = 1) -> Placed:
    shop = await make_shop(container)
    customer = await create_user(container)
    headers = auth_headers(container, customer)
    placed = await client.post(
        "/v1/orders", json=checkout_body((shop, quantity)), headers=headers | key()
    )
    assert placed.status_code == 201, placed.text
    return Placed(
        shop, placed.json(), headers, auth_headers(container, shop.vendor.owner), customer.id
    )


async def ship(
    client: httpx.AsyncClient,
    placed: Placed,
    carrier: str,
    number: str,
    quantity: int | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"carrier": carrier, "tracking_number": number}
    if quantity is not None:
        item = placed.part["items"][0]["id"]
        body["items"] = [{"order_item_id": item, "quantity": quantity}]
    return await client.post(f"{placed.base}/ship", json=body, headers=placed.vendor)


async def shipments(container: Container, vendor_order_id: str) -> list[TrackedShipment]:
    async with container.db.session() as session:
        return list(
            await session.scalars(
                select(TrackedShipment)
                .where(TrackedShipment.vendor_order_id == vendor_order_id)
                .order_by(TrackedShipment.created_at, TrackedShipment.id)
            )
        )


async def event_statuses(container: Container, shipment_id: str) -> list[str]:
    async with container.db.session() as session:
        return list(
            await session.scalars(
                select(TrackingEvent.status)
                .where(TrackingEvent.shipment_id == shipment_id)
                .order_by(TrackingEvent.occurred_at)
            )
        )


async def count_webhooks(container: Container) -> int:
    async with container.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CarrierWebhook)) or 0)


async def messages(container: Container, name: str) -> list[dict[str, Any]]:
    async with container.db.session() as session:
        return list(
            await session.scalars(
                select(OutboxMessage.payload)
                .where(OutboxMessage.name == name)
                .order_by(OutboxMessage.seq)
            )
        )


async def vendor_order(container: Container, vendor_order_id: str) -> VendorOrder:
    async with container.db.session() as session:
        found = await session.get(VendorOrder, vendor_order_id)
    assert found is not None
    return found


async def hold(container: Container, vendor_order_id: str) -> PaymentShare:
    async with container.db.session() as session:
        found = await session.scalar(
            select(PaymentShare).where(PaymentShare.vendor_order_id == vendor_order_id)
        )
    assert found is not None
    return found


async def deliveries_in_timeline(container: Container, vendor_order_id: str) -> list[str | None]:
    async with container.db.session() as session:
        return list(
            await session.scalars(
                select(TimelineEntry.actor_role).where(
                    TimelineEntry.vendor_order_id == vendor_order_id,
                    TimelineEntry.kind == "delivered",
                )
            )
        )
