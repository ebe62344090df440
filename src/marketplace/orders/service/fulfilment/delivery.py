"""Vendors ship (whole or partial, by item, with a tracking number shipping accepts) and
deliver; a vendor order is also delivered on the carrier's word once every parcel arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from marketplace.orders.errors import InvalidTransition
from marketplace.orders.events import VendorOrderDelivered, VendorOrderShipped
from marketplace.orders.models.order import Shipment, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.orders.service.fulfilment.changes import (
    Actor,
    _audit,
    _entry,
    _guard,
    locked_vendor_order,
)
from marketplace.orders.service.fulfilment.completion import refresh_order
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping import public as shipping

CARRIER_MAX: Final = 40
TRACKING_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class ShipItem:
    order_item_id: str
    quantity: int


async def ship(
    uow: UnitOfWork,
    *,
    vendor_order_id: str,
    vendor_id: str,
    actor: Actor,
    carrier: str,
    tracking_number: str,
    items: Sequence[ShipItem] | None = None,
) -> Shipment:
    """Record a parcel: `items` (default: everything not shipped yet). The vendor order is
    `shipped` once every unit has shipped; before that it stays `processing`."""
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier or len(carrier) > CARRIER_MAX:
        raise ValidationFailed.on_field(["body", "carrier"], f"1 to {CARRIER_MAX} characters")
    if not tracking_number or len(tracking_number) > TRACKING_MAX:
        raise ValidationFailed.on_field(
            ["body", "tracking_number"], f"1 to {TRACKING_MAX} characters"
        )
    # A carrier we know and a number of its shape (422 otherwise), stored as shipping will.
    carrier, tracking_number = shipping.check_tracking_number(carrier, tracking_number)
    vendor_order = await locked_vendor_order(uow, vendor_order_id, vendor_id=vendor_id)
    if vendor_order.status != "processing":
        raise InvalidTransition(
            f"a {vendor_order.status} vendor order cannot ship", status=vendor_order.status
        )
    own = {i.id: i for i in await repo.items_of(uow.session, [vendor_order.id], lock=True)}
    remaining = {i.id: i.quantity - i.shipped_quantity for i in own.values()}
    if items is None:
        wanted = {k: q for k, q in remaining.items() if q > 0}
    else:
        wanted = {}
        for index, item in enumerate(items):
            loc: list[str | int] = ["body", "items", index]
            if item.order_item_id not in own:
                raise ValidationFailed.on_field(
                    [*loc, "order_item_id"], "not an item of this vendor order", "unknown_item"
                )
            wanted[item.order_item_id] = wanted.get(item.order_item_id, 0) + item.quantity
            if item.quantity < 1 or wanted[item.order_item_id] > remaining[item.order_item_id]:
                raise ValidationFailed.on_field(
                    [*loc, "quantity"],
                    f"{remaining[item.order_item_id]} unit(s) of this item are left to ship",
                    "quantity",
                )
    if not wanted:
        raise ValidationFailed.on_field(["body", "items"], "nothing left to ship", "empty")
    now = utcnow()
    for item_id, quantity in wanted.items():
        own[item_id].shipped_quantity += quantity
    shipment = Shipment(
        id=new_id("shp"),
        vendor_order_id=vendor_order.id,
        order_id=vendor_order.order_id,
        carrier=carrier,
        tracking_number=tracking_number,
        items=[{"order_item_id": k, "quantity": q} for k, q in wanted.items()],
        shipped_at=now,
        delivered_at=None,
    )
    uow.session.add(shipment)
    complete = all(i.shipped_quantity == i.quantity for i in own.values())
    previous = vendor_order.status
    if complete:
        vendor_order.status = "shipped"
        vendor_order.shipped_at = now
    vendor_order.updated_at = now
    repo.add_timeline(
        uow.session,
        [
            _entry(
                vendor_order,
                "shipped" if complete else "partially_shipped",
                actor,
                from_status=previous,
                to_status=vendor_order.status,
                note=f"{carrier} {tracking_number}",
            )
        ],
    )
    _audit(uow, actor, "orders.vendor_order_shipped", vendor_order, shipment_id=shipment.id)
    uow.publish(
        VendorOrderShipped(
            vendor_order_id=vendor_order.id,
            order_id=vendor_order.order_id,
            vendor_id=vendor_order.vendor_id,
            customer_id=vendor_order.customer_id,
            shipment_id=shipment.id,
            carrier=carrier,
            tracking_number=tracking_number,
            complete=complete,
        )
    )
    await uow.session.flush()
    await refresh_order(uow, vendor_order.order_id)
    return shipment


async def deliver(
    uow: UnitOfWork,
    *,
    vendor_order_id: str,
    vendor_id: str | None,
    actor: Actor,
    delivered_at: datetime | None = None,
) -> VendorOrder:
    """The parcels arrived (now, or when the carrier says they did): the vendor's earnings
    start their hold (payments) and the return window opens from that time."""
    vendor_order = await locked_vendor_order(uow, vendor_order_id, vendor_id=vendor_id)
    _guard(vendor_order, "delivered")
    now = utcnow()
    arrived = min(delivered_at, now) if delivered_at is not None else now
    previous = vendor_order.status
    vendor_order.status = "delivered"
    vendor_order.delivered_at = arrived
    vendor_order.updated_at = now
    repo.add_timeline(
        uow.session,
        [_entry(vendor_order, "delivered", actor, from_status=previous, to_status="delivered")],
    )
    _audit(uow, actor, "orders.vendor_order_delivered", vendor_order)
    await payments.vendor_order_delivered(
        uow, vendor_order_id=vendor_order.id, delivered_at=arrived
    )
    uow.publish(
        VendorOrderDelivered(
            vendor_order_id=vendor_order.id,
            order_id=vendor_order.order_id,
            vendor_id=vendor_order.vendor_id,
            customer_id=vendor_order.customer_id,
        )
    )
    await uow.session.flush()
    await refresh_order(uow, vendor_order.order_id)
    return vendor_order


async def shipment_delivered(
    uow: UnitOfWork, *, shipment_id: str, vendor_order_id: str, delivered_at: datetime
) -> bool:
    """A parcel arrived (shipping's `ShipmentDelivered`): the shipment records it, and the
    vendor order is delivered, by the system on the carrier's word, once it has shipped in
    full and every one of its parcels arrived. Idempotent: a vendor order already delivered
    (by an earlier event, or by the vendor) changes no more. Returns whether it was delivered
    now."""
    vendor_order = await locked_vendor_order(uow, vendor_order_id)
    shipments = await repo.shipments_of(uow.session, [vendor_order.id])
    for shipment in shipments:
        if shipment.id == shipment_id and shipment.delivered_at is None:
            shipment.delivered_at = delivered_at
    if vendor_order.status != "shipped" or any(s.delivered_at is None for s in shipments):
        await uow.session.flush()
        return False
    await deliver(
        uow,
        vendor_order_id=vendor_order.id,
        vendor_id=None,
        actor=Actor(None, "system", "carrier"),
        delivered_at=max(s.delivered_at for s in shipments if s.delivered_at is not None),
    )
    return True
