"""After payment: vendors ship (whole or partial, by item) and deliver, anyone entitled
cancels before shipment, vendors refund; the customer order's status follows.

Each vendor order change takes the vendor order's row lock first (`lock=True`), checks the
state machine, writes, and re-derives the customer order's status (`refresh_order`), all in
the caller's transaction. Changes made by someone other than the customer are audited.
Money goes back through the payments facade (`request_refund`); the refund's outcome comes
back as a payments event (`refund_settled`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from marketplace.compliance.public import record_audit
from marketplace.inventory import public as inventory
from marketplace.orders.domain.status import (
    IllegalTransition,
    check_transition,
    order_status,
    sources_of,
)
from marketplace.orders.errors import InvalidTransition, OrderNotFound, VendorOrderNotFound
from marketplace.orders.events import (
    OrderRefunded,
    OrderStatusChanged,
    VendorOrderCanceled,
    VendorOrderDelivered,
    VendorOrderShipped,
)
from marketplace.orders.models.order import OrderItem, Shipment, TimelineEntry, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping import public as shipping

ActorRole = Literal["customer", "vendor", "admin", "system"]
CARRIER_MAX: Final = 40
TRACKING_MAX: Final = 64
REASON_MAX: Final = 500


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes an order: the customer, a vendor's team member, an admin or the system."""

    id: str | None
    role: ActorRole
    audit_role: str  # as the audit log names it ("vendor:owner", "admin", ...)


def _entry(
    vendor_order: VendorOrder,
    kind: str,
    actor: Actor,
    *,
    from_status: str | None,
    to_status: str | None,
    note: str | None = None,
) -> TimelineEntry:
    return TimelineEntry.new(
        order_id=vendor_order.order_id,
        vendor_order_id=vendor_order.id,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor.id,
        actor_role=actor.role,
        note=note,
        created_at=utcnow(),
    )


def _audit(
    uow: UnitOfWork, actor: Actor, action: str, vendor_order: VendorOrder, **after: object
) -> None:
    if actor.role in ("customer", "system") or actor.id is None:
        return
    record_audit(
        uow,
        actor_id=actor.id,
        actor_role=actor.audit_role,
        action=action,
        resource_type="vendor_order",
        resource_id=vendor_order.id,
        after=dict(after),
    )


def _guard(vendor_order: VendorOrder, target: str) -> None:
    try:
        check_transition(vendor_order.status, target)  # type: ignore[arg-type]
    except IllegalTransition as refused:
        raise InvalidTransition(str(refused), status=vendor_order.status) from None


async def locked_vendor_order(
    uow: UnitOfWork, vendor_order_id: str, *, vendor_id: str | None = None
) -> VendorOrder:
    found = await repo.vendor_order(uow.session, vendor_order_id, vendor_id=vendor_id, lock=True)
    if found is None:
        raise VendorOrderNotFound()
    return found


def _completes_at(vendor_orders: Sequence[VendorOrder]) -> datetime | None:
    """When the last return window of a fully delivered order closes; None until then."""
    live = [v for v in vendor_orders if v.status != "canceled"]
    if not live or any(v.status not in ("delivered", "returned") for v in live):
        return None
    closes = [
        v.delivered_at + timedelta(days=v.return_window_days)
        for v in live
        if v.delivered_at is not None
    ]
    return max(closes) if len(closes) == len(live) else None


async def complete_orders(uow: UnitOfWork, *, limit: int = 500) -> int:
    """Orders whose last return window closed become `completed`; how many were looked at."""
    due = await repo.orders_to_complete(uow.session, now=utcnow(), limit=limit)
    for order_id in due:
        await refresh_order(uow, order_id)
    return len(due)


async def refresh_order(uow: UnitOfWork, order_id: str) -> str:
    """Derive the customer order's status from its vendor orders and money; publish the news
    when it changed. Returns the status."""
    order = await repo.order(uow.session, order_id, lock=True)
    if order is None:
        raise OrderNotFound()
    vendor_orders = await repo.vendor_orders_of(uow.session, [order_id])
    now = utcnow()
    completes_at = _completes_at(vendor_orders)
    status = order_status(
        [v.status for v in vendor_orders],
        paid=order.paid_at is not None,
        refunded_amount=order.refunded_amount,
        captured_amount=order.total_amount if order.paid_at is not None else 0,
        completed=completes_at is not None and completes_at <= now,
    )
    if completes_at != order.completes_at:
        order.completes_at = completes_at
    if status != order.status:
        previous = order.status
        await repo.set_order_status(uow.session, order_id, status, now)
        repo.add_timeline(
            uow.session,
            [
                TimelineEntry.new(
                    order_id=order_id,
                    kind="status",
                    from_status=previous,
                    to_status=status,
                    created_at=now,
                )
            ],
        )
        uow.publish(
            OrderStatusChanged(
                order_id=order_id,
                customer_id=order.customer_id,
                from_status=previous,
                to_status=status,
            )
        )
    return status


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


async def _restock(uow: UnitOfWork, items: Sequence[OrderItem], reason: str, actor: Actor) -> None:
    for item in items:
        units = item.quantity - item.shipped_quantity
        if units <= 0:
            continue
        # A variant deleted since has nothing to put back on sale.
        with contextlib.suppress(inventory.SkuNotFound):
            await inventory.adjust(
                uow,
                vendor_id=item.vendor_id,
                sku=item.sku,
                delta=units,
                reason=reason,
                actor_id=actor.id or "system",
            )


async def cancel_vendor_order(
    uow: UnitOfWork,
    *,
    vendor_order: VendorOrder,
    actor: Actor,
    reason: str | None,
    refund_key: str,
) -> VendorOrder:
    """Cancel a paid vendor order before anything shipped: its units go back on sale and
    what the customer paid for it is refunded in full. `vendor_order` must be locked."""
    if reason is not None and len(reason) > REASON_MAX:
        raise ValidationFailed.on_field(["body", "reason"], f"at most {REASON_MAX} characters")
    _guard(vendor_order, "canceled")
    items = await repo.items_of(uow.session, [vendor_order.id], lock=True)
    if any(i.shipped_quantity for i in items):
        raise InvalidTransition(
            "part of this vendor order has shipped; ask for a return instead",
            status=vendor_order.status,
        )
    now = utcnow()
    previous = vendor_order.status
    vendor_order.status = "canceled"
    vendor_order.canceled_at = now
    vendor_order.cancel_reason = reason
    vendor_order.updated_at = now
    await _restock(uow, items, f"order {vendor_order.order_id} canceled", actor)
    remaining = vendor_order.total_amount - vendor_order.refunded_amount
    if previous != "pending_payment" and remaining > 0:
        await payments.request_refund(
            uow,
            order_id=vendor_order.order_id,
            vendor_order_id=vendor_order.id,
            amount=remaining,
            reason=f"canceled by {actor.role}" + (f": {reason}" if reason else ""),
            idempotency_key=refund_key,
            actor_id=actor.id or "system",
        )
    repo.add_timeline(
        uow.session,
        [
            _entry(
                vendor_order,
                "canceled",
                actor,
                from_status=previous,
                to_status="canceled",
                note=reason,
            )
        ],
    )
    _audit(uow, actor, "orders.vendor_order_canceled", vendor_order, reason=reason)
    uow.publish(
        VendorOrderCanceled(
            vendor_order_id=vendor_order.id,
            order_id=vendor_order.order_id,
            vendor_id=vendor_order.vendor_id,
            customer_id=vendor_order.customer_id,
            canceled_by=actor.role,
            reason=reason,
        )
    )
    await uow.session.flush()
    await refresh_order(uow, vendor_order.order_id)
    return vendor_order


async def cancel_order(
    uow: UnitOfWork,
    *,
    order_id: str,
    customer_id: str | None,
    actor: Actor,
    vendor_order_id: str | None = None,
    reason: str | None = None,
) -> None:
    """Cancel the whole order (every vendor order) or one vendor order of it, before any of
    it shipped (409 with the status otherwise). `customer_id` scopes it to its customer."""
    order = await repo.order(uow.session, order_id, lock=True)
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise OrderNotFound()
    vendor_orders = await repo.vendor_orders_of(uow.session, [order_id], lock=True)
    if vendor_order_id is not None:
        vendor_orders = [v for v in vendor_orders if v.id == vendor_order_id]
        if not vendor_orders:
            raise VendorOrderNotFound()
    if order.status == "pending_payment":
        raise InvalidTransition("the order is still being paid for", status=order.status)
    live = [v for v in vendor_orders if v.status != "canceled"]
    if not live:
        raise InvalidTransition("already canceled", status="canceled")
    for vendor_order in live:
        if vendor_order.status not in sources_of("canceled"):
            raise InvalidTransition(
                f"vendor order {vendor_order.id} is {vendor_order.status}",
                status=vendor_order.status,
            )
    for vendor_order in live:
        await cancel_vendor_order(
            uow,
            vendor_order=vendor_order,
            actor=actor,
            reason=reason,
            refund_key=f"cancel:{vendor_order.id}",
        )


async def refund(
    uow: UnitOfWork,
    *,
    vendor_order_id: str,
    vendor_id: str,
    actor: Actor,
    amount: int | None,
    items: Sequence[tuple[str, int]] = (),
    reason: str,
    refund_key: str,
) -> payments.RefundView:
    """A vendor gives money back on its part (a goodwill amount, or per item: item totals
    prorated by quantity); never more than is left (payments refuses, 422)."""
    vendor_order = await locked_vendor_order(uow, vendor_order_id, vendor_id=vendor_id)
    if vendor_order.status == "pending_payment":
        raise InvalidTransition("nothing was paid yet", status=vendor_order.status)
    own = {i.id: i for i in await repo.items_of(uow.session, [vendor_order.id])}
    per_item: list[tuple[str, int]] = []
    for index, (item_id, quantity) in enumerate(items):
        item = own.get(item_id)
        if item is None:
            raise ValidationFailed.on_field(
                ["body", "items", index, "order_item_id"], "not an item of this vendor order"
            )
        if not 1 <= quantity <= item.quantity:
            raise ValidationFailed.on_field(
                ["body", "items", index, "quantity"], f"1 to {item.quantity}"
            )
        per_item.append((item_id, item.total_amount * quantity // item.quantity))
    total = amount if amount is not None else sum(a for _, a in per_item)
    if total <= 0:
        raise ValidationFailed.on_field(["body", "amount"], "give an amount or items", "missing")
    if not reason.strip() or len(reason) > REASON_MAX:
        raise ValidationFailed.on_field(["body", "reason"], f"1 to {REASON_MAX} characters")
    made = await payments.request_refund(
        uow,
        order_id=vendor_order.order_id,
        vendor_order_id=vendor_order.id,
        amount=total,
        reason=reason,
        items=per_item,
        idempotency_key=refund_key,
        actor_id=actor.id or "system",
    )
    repo.add_timeline(
        uow.session,
        [
            _entry(
                vendor_order,
                "refund_requested",
                actor,
                from_status=None,
                to_status=None,
                note=f"{total} {vendor_order.currency}: {reason}",
            )
        ],
    )
    _audit(uow, actor, "orders.refund_requested", vendor_order, amount=total, reason=reason)
    return made


async def refund_settled(
    uow: UnitOfWork,
    *,
    refund_id: str,
    order_id: str,
    vendor_order_id: str,
    amount: int,
    currency: str,
) -> None:
    """A refund went through (payments event): count it on the vendor order and the order,
    once per refund (the timeline entry keyed by the refund id is the guard)."""
    done = [
        e
        for e in await repo.timeline(uow.session, order_id, vendor_order_id=vendor_order_id)
        if e.kind == "refunded" and e.note == refund_id
    ]
    if done:
        return
    vendor_order = await locked_vendor_order(uow, vendor_order_id)
    order = await repo.order(uow.session, order_id, lock=True)
    if order is None:
        raise OrderNotFound()
    vendor_order.refunded_amount += amount
    order.refunded_amount += amount
    repo.add_timeline(
        uow.session,
        [
            _entry(
                vendor_order,
                "refunded",
                Actor(None, "system", "system"),
                from_status=None,
                to_status=None,
                note=refund_id,
            )
        ],
    )
    uow.publish(
        OrderRefunded(
            order_id=order_id,
            vendor_order_id=vendor_order_id,
            vendor_id=vendor_order.vendor_id,
            customer_id=order.customer_id,
            currency=currency,
            amount=amount,
            refund_id=refund_id,
        )
    )
    await uow.session.flush()
    await refresh_order(uow, order_id)
