"""What each event says, and to whom: the composer per event name (customers in
`customer_messages`, vendors and operations in `vendor_messages`), plus the signed webhook
fan-out of vendor events to their endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.service import customer_messages as c
from marketplace.notifications.service import vendor_messages as v
from marketplace.notifications.service.compose import Outcome, webhook_fanout
from marketplace.notifications.service.recipients import Payload
from marketplace.platform.messaging import Message
from marketplace.platform.uow import UnitOfWork

# Event name → the type vendor webhook endpoints subscribe to.
WEBHOOK_TYPES: Final[dict[str, str]] = {
    "orders.vendor_order_placed.v1": "order.placed",
    "orders.vendor_order_shipped.v1": "order.shipped",
    "orders.vendor_order_delivered.v1": "order.delivered",
    "orders.vendor_order_canceled.v1": "order.canceled",
    "orders.order_refunded.v1": "order.refunded",
    "orders.return_requested.v1": "return.requested",
    "inventory.stock_low.v1": "stock.low",
    "payments.payout_sent.v1": "payout.sent",
    "payments.payout_failed.v1": "payout.failed",
    "payments.chargeback_opened.v1": "chargeback.opened",
}


async def handle(uow: UnitOfWork, rt: NotificationRuntime, message: Message) -> Outcome:
    """Compose the messages for one event (unknown events compose nothing)."""
    compose = _COMPOSERS.get(message.name)
    outcome = await compose(uow, rt, message, message.payload) if compose else Outcome()
    webhook_type = WEBHOOK_TYPES.get(message.name)
    vendor_id = message.payload.get("vendor_id")
    if webhook_type and isinstance(vendor_id, str):
        await webhook_fanout(
            uow,
            rt,
            message=message,
            vendor_id=vendor_id,
            event_type=webhook_type,
            data=dict(message.payload),
        )
    return outcome


Composer = Callable[[UnitOfWork, NotificationRuntime, Message, Payload], Awaitable[Outcome]]

_COMPOSERS: Final[dict[str, Composer]] = {
    "orders.order_placed.v1": c.order_placed,
    "orders.vendor_order_placed.v1": v.vendor_order_placed,
    "orders.vendor_order_shipped.v1": c.vendor_order_shipped,
    "orders.vendor_order_delivered.v1": c.vendor_order_delivered,
    "orders.vendor_order_canceled.v1": c.vendor_order_canceled,
    "orders.order_refunded.v1": c.order_refunded,
    "orders.return_requested.v1": v.return_requested,
    "orders.return_decided.v1": c.return_decided,
    "orders.receipt_issued.v1": c.receipt_issued,
    "orders.vendor_statement_issued.v1": v.vendor_statement_issued,
    "inventory.stock_low.v1": v.stock_low,
    "vendors.vendor_status_changed.v1": v.vendor_status_changed,
    "payments.payout_sent.v1": v.payout_sent,
    "payments.payout_failed.v1": v.payout_failed,
    "payments.chargeback_opened.v1": v.chargeback_opened,
    "payments.reconciliation_mismatch_found.v1": v.reconciliation_mismatch,
    "shipping.tracking_updated.v1": c.tracking_updated,
}
