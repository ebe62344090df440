"""Cancellation before anything shipped, of a whole order or one vendor order of it: units
back on sale and what was paid refunded in full.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from marketplace.inventory import public as inventory
from marketplace.orders.domain.status import sources_of
from marketplace.orders.errors import InvalidTransition, OrderNotFound, VendorOrderNotFound
from marketplace.orders.events import VendorOrderCanceled
from marketplace.orders.models.order import OrderItem, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.orders.service.fulfilment.changes import REASON_MAX, Actor, _audit, _entry, _guard
from marketplace.orders.service.fulfilment.completion import refresh_order
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.uow import UnitOfWork


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
