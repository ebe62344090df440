"""Subscriptions to other contexts' events, and the notification jobs.

Each subscribed event is composed into deliveries in the handler's transaction (idempotent
per event id), which the same job sends right after it commits; the periodic
`notifications.send_due` retries what failed once its backoff passed (and sends anything
a process died before sending). `notifications.send_delivery` sends one delivery: an
admin's retry of a dead one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from marketplace.inventory.events import StockLow
from marketplace.notifications.channels import runtime_for
from marketplace.notifications.service import dispatch, messages
from marketplace.notifications.service.dispatch import SEND_JOB
from marketplace.orders.events import (
    OrderPlaced,
    OrderRefunded,
    ReceiptIssued,
    ReturnDecided,
    ReturnRequested,
    VendorOrderCanceled,
    VendorOrderDelivered,
    VendorOrderPlaced,
    VendorOrderShipped,
    VendorStatementIssued,
)
from marketplace.payments.events import (
    ChargebackOpened,
    PayoutFailed,
    PayoutSent,
    ReconciliationMismatchFound,
)
from marketplace.platform.messaging import Event, Message, Registry
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping.events import TrackingUpdated
from marketplace.vendors.events import VendorStatusChanged

SEND_DUE_JOB: Final = "notifications.send_due"
SEND_DUE_INTERVAL: Final = timedelta(seconds=15)
PURGE_JOB: Final = "notifications.purge_sent_deliveries"
PURGE_INTERVAL: Final = timedelta(hours=6)

# What a flash sale produces by the thousand and nobody waits on by the second: the order
# confirmation, the vendor's new-order alert and the documents' e-mails wait for the burst
# to end (at most the configured maximum). Shipping, refunds and payouts are never held.
DEFERRABLE_DURING_BURSTS: Final[frozenset[type[Event]]] = frozenset(
    {OrderPlaced, VendorOrderPlaced, ReceiptIssued, VendorStatementIssued}
)

SUBSCRIBED: Final[tuple[type[Event], ...]] = (
    OrderPlaced,
    VendorOrderPlaced,
    VendorOrderShipped,
    VendorOrderDelivered,
    VendorOrderCanceled,
    OrderRefunded,
    ReturnRequested,
    ReturnDecided,
    ReceiptIssued,
    VendorStatementIssued,
    StockLow,
    VendorStatusChanged,
    PayoutSent,
    PayoutFailed,
    ChargebackOpened,
    ReconciliationMismatchFound,
    TrackingUpdated,
)


def handler_name(event: type[Event]) -> str:
    """`notifications.on_orders.order_placed`: stable, so keep it (see Registry.subscribe)."""
    return "notifications.on_" + event.name.rsplit(".v", 1)[0]


async def on_event(uow: UnitOfWork, message: Message) -> None:
    await messages.handle(uow, runtime_for(uow), message)


async def send_delivery(uow: UnitOfWork, message: Message) -> None:
    await dispatch.send_delivery(uow, runtime_for(uow), str(message.payload["delivery_id"]))


async def send_due(uow: UnitOfWork, message: Message) -> None:
    await dispatch.send_due(uow, runtime_for(uow))


async def purge_sent(uow: UnitOfWork, message: Message) -> None:
    if await dispatch.purge_sent(uow) >= dispatch.PURGE_BATCH:
        uow.enqueue(PURGE_JOB)  # a full batch: more may be due, right after this commits


def register(registry: Registry) -> None:
    for event in SUBSCRIBED:
        registry.subscribe(
            event, name=handler_name(event), deferrable=event in DEFERRABLE_DURING_BURSTS
        )(on_event)
    registry.job(SEND_JOB)(send_delivery)
    registry.job(SEND_DUE_JOB)(send_due)
    registry.every(SEND_DUE_INTERVAL, SEND_DUE_JOB)
    registry.job(PURGE_JOB)(purge_sent)
    registry.every(PURGE_INTERVAL, PURGE_JOB)
