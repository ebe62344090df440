"""Orders' subscribers and jobs: payments' outcomes settle orders and count refunds,
carriers' deliveries deliver vendor orders, a paid order gets its receipt and vendor
statements; the sweeps settle orders left unpaid and purge
carts nobody touched for 30 days; every orders event is registered for its subscribers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from marketplace.orders import events
from marketplace.orders.service import carts, checkout, fulfilment, receipts
from marketplace.payments.events import PaymentFailed, PaymentSucceeded, RefundSucceeded
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping.events import ShipmentDelivered

EXPIRE_UNPAID_ORDERS: Final = "orders.expire_unpaid_orders"
SWEEP_INTERVAL: Final = timedelta(minutes=1)
COMPLETE_ORDERS: Final = "orders.complete_orders"
COMPLETE_INTERVAL: Final = timedelta(hours=1)
PURGE_STALE_CARTS: Final = "orders.purge_stale_carts"
PURGE_INTERVAL: Final = timedelta(hours=1)


async def complete_orders(uow: UnitOfWork, message: Message) -> None:
    if await fulfilment.complete_orders(uow) >= 500:
        uow.enqueue(COMPLETE_ORDERS)


async def purge_stale_carts(uow: UnitOfWork, message: Message) -> None:
    purged = await carts.purge_stale_carts(uow)
    if purged >= carts.PURGE_BATCH:
        # A full batch: there may be more. The next one runs in its own short transaction
        # right after this commits, rather than holding locks on thousands of rows at once.
        uow.enqueue(PURGE_STALE_CARTS)


async def follow_payment(uow: UnitOfWork, message: Message) -> None:
    """A payment decided after the checkout answered (a webhook, a retried confirmation):
    the order follows. Settling twice is a no-op."""
    await checkout.follow_payment(uow, order_id=str(message.payload["order_id"]))


def _settled_by_checkout(payload: Mapping[str, Any]) -> bool:
    # Only `checkout.place_order` confirms payments, and it settles the order with the
    # outcome before it commits (`confirmed_synchronously`, see payments.events); the
    # provider's webhook and reconciliation record theirs without it.
    return bool(payload.get("confirmed_synchronously"))


async def follow_refund(uow: UnitOfWork, message: Message) -> None:
    event = RefundSucceeded.model_validate(message.payload)
    await fulfilment.refund_settled(
        uow,
        refund_id=event.refund_id,
        order_id=event.order_id,
        vendor_order_id=event.vendor_order_id,
        amount=event.amount,
        currency=event.currency,
    )


async def follow_delivery(uow: UnitOfWork, message: Message) -> None:
    """A carrier says a parcel arrived: the vendor order is delivered once all of it has."""
    event = ShipmentDelivered.model_validate(message.payload)
    await fulfilment.shipment_delivered(
        uow,
        shipment_id=event.shipment_id,
        vendor_order_id=event.vendor_order_id,
        delivered_at=event.delivered_at,
    )


async def issue_documents(uow: UnitOfWork, message: Message) -> None:
    """Receipt and vendor statements of a paid order; a redelivery finds them issued."""
    event = events.OrderPlaced.model_validate(message.payload)
    await receipts.issue_documents(uow, order_id=event.order_id)


async def expire_unpaid_orders(uow: UnitOfWork, message: Message) -> None:
    if await checkout.expire_unpaid_orders(uow) >= checkout.EXPIRY_BATCH:
        uow.enqueue(EXPIRE_UNPAID_ORDERS)


def register(registry: Registry) -> None:
    for event in (
        events.OrderPlaced,
        events.VendorOrderPlaced,
        events.OrderPaymentFailed,
        events.VendorOrderShipped,
        events.VendorOrderDelivered,
        events.VendorOrderCanceled,
        events.OrderStatusChanged,
        events.OrderRefunded,
        events.ReturnRequested,
        events.ReturnDecided,
        events.ReceiptIssued,
        events.VendorStatementIssued,
    ):
        registry.event(event)
    # An outcome the checkout confirmed itself was settled in the same transaction: only
    # those decided elsewhere (the provider's webhook, reconciliation) need following.
    registry.subscribe(
        PaymentSucceeded, name="orders.follow_payment_succeeded", unless=_settled_by_checkout
    )(follow_payment)
    registry.subscribe(
        PaymentFailed, name="orders.follow_payment_failed", unless=_settled_by_checkout
    )(follow_payment)
    registry.subscribe(RefundSucceeded, name="orders.follow_refund")(follow_refund)
    registry.subscribe(ShipmentDelivered, name="orders.follow_delivery")(follow_delivery)
    # PDFs are most of an order's follow-up CPU: in a flash sale they wait for its end.
    registry.subscribe(events.OrderPlaced, name="orders.issue_documents", deferrable=True)(
        issue_documents
    )
    registry.job(EXPIRE_UNPAID_ORDERS)(expire_unpaid_orders)
    registry.every(SWEEP_INTERVAL, EXPIRE_UNPAID_ORDERS)
    registry.job(COMPLETE_ORDERS)(complete_orders)
    registry.every(COMPLETE_INTERVAL, COMPLETE_ORDERS)
    registry.job(PURGE_STALE_CARTS)(purge_stale_carts)
    registry.every(PURGE_INTERVAL, PURGE_STALE_CARTS)
