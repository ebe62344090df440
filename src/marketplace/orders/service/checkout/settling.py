"""A pending order brought in line with its payment, by whichever settler comes first (the
checkout, the payment events, the expiry sweep): paid (reservation committed, cart
converted, vendor orders processing, confirmations published), canceled and refunded when
the units sold out meanwhile, or canceled with the decline reason (reservation released).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from marketplace.inventory import public as inventory
from marketplace.orders.domain.status import sources_of
from marketplace.orders.errors import CartClosed
from marketplace.orders.events import (
    OrderPaymentFailed,
    OrderPlaced,
    VendorOrderCanceled,
    VendorOrderPlaced,
    VendorPart,
)
from marketplace.orders.models.order import Order, OrderItem, TimelineEntry, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.orders.service import carts
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.uow import UnitOfWork

SETTLED_KEY: Final = "orders.checkout.settled"


@dataclass(frozen=True, slots=True)
class SettledOrder:
    """An order this unit of work has just paid, as it now is, with its parts."""

    order: Order
    vendor_orders: list[VendorOrder]
    items: list[OrderItem]


def settled_order(uow: UnitOfWork, order_id: str) -> SettledOrder | None:
    """The order `order_id` if this unit of work has just paid it (`settle`), else None."""
    found = uow.extras.get(SETTLED_KEY)
    if isinstance(found, SettledOrder) and found.order.id == order_id:
        return found
    return None


async def settle(
    uow: UnitOfWork,
    *,
    order_id: str,
    payment: payments.PaymentView,
    items: Sequence[OrderItem] | None = None,
) -> None:
    """Bring a pending order in line with its payment: paid or canceled. A no-op when the
    payment is still pending or the order was settled already (any number of callers: the
    checkout, the payment events, the sweep). `items`: the order's items when the caller
    wrote them in this request (they do not change before the order is paid), so they are
    not read again."""
    if payment.status == "succeeded":
        await _paid(uow, order_id, payment, items)
    elif payment.status in ("failed", "canceled"):
        await _payment_failed(uow, order_id, payment)


async def follow_payment(uow: UnitOfWork, *, order_id: str) -> None:
    """Settle the order with its payment as it now is: a payment decided after the checkout
    answered (a webhook, a retried confirmation). Settling twice is a no-op."""
    # Nearly every such event follows a checkout that settled the order itself, and an order
    # never returns to pending_payment: one status read answers those without the payment.
    if await repo.order_status(uow.session, order_id) != "pending_payment":
        return
    payment = await payments.payment_of_order(uow, order_id)
    if payment is not None:
        await settle(uow, order_id=order_id, payment=payment)


async def _secure_stock(uow: UnitOfWork, order: Order) -> bool:
    """Sell the order's reserved units. If the reservation expired while the provider was
    answering (its units went back on sale), reserve them again; False if they are gone."""
    if order.reservation_id is None:
        return True
    try:
        # Sold by the commit's last statement before it writes (see `place_order`).
        await inventory.sell_at_commit(uow, order.reservation_id)
    except inventory.ReservationClosed:
        vendor_orders = await repo.vendor_orders_of(uow.session, [order.id])
        items = await repo.items_of(uow.session, [v.id for v in vendor_orders])
        try:
            again = await inventory.reserve(
                uow, reference=order.id, lines=[(i.variant_id, i.quantity) for i in items]
            )
        except inventory.OutOfStock:
            return False
        await inventory.commit(uow, again.id)
        # `order` is the row as the settling UPDATE answered it, outside the session.
        await repo.set_reservation(uow.session, order.id, again.id)
        order.reservation_id = again.id
    return True


async def _sold_out(uow: UnitOfWork, order: Order, payment: payments.PaymentView) -> None:
    """Paid, but the units were sold to someone else meanwhile: cancel and refund in full.
    `order` was moved to paid by this transaction (its lock is ours), never committed so."""
    now = utcnow()
    if not await repo.move_order(
        uow.session,
        order.id,
        sources=["paid"],
        now=now,
        status="canceled",
        payment_status="succeeded",
        paid_at=now,
        failure_code="sold_out",
        failure_message="the items sold out while the payment was confirmed; refunded",
        canceled_at=now,
    ):
        return
    vendor_orders = await repo.vendor_orders_of(uow.session, [order.id])
    reason = "sold out while the payment was confirmed"
    await repo.move_vendor_orders(
        uow.session,
        [v.id for v in vendor_orders],
        sources=sources_of("canceled"),
        target="canceled",
        now=now,
        canceled_at=now,
        cancel_reason=reason,
    )
    for v in vendor_orders:
        await payments.request_refund(
            uow,
            order_id=order.id,
            vendor_order_id=v.id,
            amount=v.total_amount,
            reason=reason,
            idempotency_key=f"sold-out:{v.id}",
            actor_id="system",
        )
        uow.publish(
            VendorOrderCanceled(
                vendor_order_id=v.id,
                order_id=order.id,
                vendor_id=v.vendor_id,
                customer_id=order.customer_id,
                canceled_by="system",
                reason=reason,
            )
        )
    uow.add_new(
        TimelineEntry.new(
            order_id=order.id,
            kind="sold_out",
            from_status="pending_payment",
            to_status="canceled",
            note=f"{payment.provider} payment {payment.id} refunded",
            created_at=now,
        )
    )


async def _paid(
    uow: UnitOfWork,
    order_id: str,
    payment: payments.PaymentView,
    known_items: Sequence[OrderItem] | None = None,
) -> None:
    now = utcnow()
    # The conditional UPDATE decides and locks at once: of several settlers (the checkout,
    # the payment events, the sweep) one moves the order; the others wait for its commit
    # and find nothing to move. If the units turn out to be gone, the same transaction
    # cancels it instead, so "paid" is never seen without its stock.
    # A vendor order of a pending order is pending itself: all of them move with it (one
    # statement on PostgreSQL), and on to canceled with it if the stock is gone.
    moved = await repo.move_order_with_vendor_orders(
        uow.session,
        order_id,
        sources=["pending_payment"],
        vendor_sources=sources_of("processing"),
        vendor_target="processing",
        now=now,
        status="paid",
        payment_status="succeeded",
        paid_at=now,
    )
    if moved is None:
        return
    order, vendor_orders = moved
    if not await _secure_stock(uow, order):
        await _sold_out(uow, order, payment)
        return
    if order.cart_id is not None:
        # Converted by an earlier checkout of the same cart, or merged away: nothing to do.
        with contextlib.suppress(CartClosed):
            await carts.mark_converted(uow, cart_id=order.cart_id, order_id=order_id)
    items = (
        sorted(known_items, key=lambda i: (i.vendor_order_id, i.id))
        if known_items is not None
        else await repo.items_of(uow.session, [v.id for v in vendor_orders])
    )
    # The caller answering with the order reads these instead of reading them again; a
    # vendor order paid just now has no shipments yet.
    uow.extras[SETTLED_KEY] = SettledOrder(order, vendor_orders, items)
    uow.add_new(
        TimelineEntry.new(
            order_id=order_id,
            kind="paid",
            from_status="pending_payment",
            to_status="paid",
            note=f"{payment.provider} payment {payment.id}",
            created_at=now,
        ),
        *(
            TimelineEntry.new(
                order_id=order_id,
                vendor_order_id=v.id,
                kind="placed",
                from_status="pending_payment",
                to_status="processing",
                created_at=now,
            )
            for v in vendor_orders
        ),
    )
    uow.publish(
        OrderPlaced(
            order_id=order_id,
            customer_id=order.customer_id,
            currency=order.currency,
            total=order.total_amount,
            vendor_parts=[
                VendorPart(
                    vendor_order_id=v.id,
                    vendor_id=v.vendor_id,
                    total=v.total_amount,
                    item_count=sum(i.quantity for i in items if i.vendor_order_id == v.id),
                    lines=[
                        {
                            "order_item_id": i.id,
                            "sku": i.sku,
                            "title": i.title,
                            "quantity": i.quantity,
                            "total": i.total_amount,
                        }
                        for i in items
                        if i.vendor_order_id == v.id
                    ],
                )
                for v in vendor_orders
            ],
        )
    )
    for v in vendor_orders:
        uow.publish(
            VendorOrderPlaced(
                vendor_order_id=v.id,
                order_id=order_id,
                vendor_id=v.vendor_id,
                currency=v.currency,
                total=v.total_amount,
                items=[
                    {"order_item_id": i.id, "sku": i.sku, "title": i.title, "quantity": i.quantity}
                    for i in items
                    if i.vendor_order_id == v.id
                ],
            )
        )


async def _payment_failed(uow: UnitOfWork, order_id: str, payment: payments.PaymentView) -> None:
    now = utcnow()
    if not await repo.move_order(
        uow.session,
        order_id,
        sources=["pending_payment"],
        now=now,
        status="canceled",
        payment_status=payment.status,
        failure_code=payment.failure_code,
        failure_message=(payment.failure_message or "")[:300] or None,
        canceled_at=now,
    ):
        return
    order = await repo.order(uow.session, order_id)
    assert order is not None
    vendor_orders = await repo.vendor_orders_of(uow.session, [order_id])
    reason = f"payment {payment.status}: {payment.failure_code or 'unknown'}"
    await repo.move_vendor_orders(
        uow.session,
        [v.id for v in vendor_orders],
        sources=sources_of("canceled"),
        target="canceled",
        now=now,
        canceled_at=now,
        cancel_reason=reason,
    )
    if order.reservation_id is not None:
        await inventory.release(uow, order.reservation_id)
    uow.add_new(
        TimelineEntry.new(
            order_id=order_id,
            kind="payment_failed",
            from_status="pending_payment",
            to_status="canceled",
            note=reason,
            created_at=now,
        )
    )
    uow.publish(
        OrderPaymentFailed(
            order_id=order_id,
            customer_id=order.customer_id,
            failure_code=payment.failure_code,
            failure_message=payment.failure_message,
        )
    )
