"""After payment: vendors ship (whole or partial, by item) and deliver, anyone entitled
cancels before shipment, vendors refund; the customer order's status follows.

Each vendor order change takes the vendor order's row lock first (`lock=True`), checks the
state machine, writes, and re-derives the customer order's status (`refresh_order`), all in
the caller's transaction. Changes made by someone other than the customer are audited.
Money goes back through the payments facade (`request_refund`); the refund's outcome comes
back as a payments event (`refund_settled`).

The modules: `changes` (who changes a vendor order, its lock, guard, timeline and audit),
`completion` (the customer order's derived status), `delivery` (shipping and delivery),
`cancellation`, `refunds`.
"""

from marketplace.orders.service.fulfilment.cancellation import cancel_order, cancel_vendor_order
from marketplace.orders.service.fulfilment.changes import (
    REASON_MAX,
    Actor,
    ActorRole,
    locked_vendor_order,
)

# Returns record their changes on the vendor order's timeline and audit log the same way.
from marketplace.orders.service.fulfilment.changes import _audit as _audit
from marketplace.orders.service.fulfilment.changes import _entry as _entry
from marketplace.orders.service.fulfilment.completion import complete_orders, refresh_order
from marketplace.orders.service.fulfilment.delivery import (
    CARRIER_MAX,
    TRACKING_MAX,
    ShipItem,
    deliver,
    ship,
    shipment_delivered,
)
from marketplace.orders.service.fulfilment.refunds import refund, refund_settled

__all__ = [
    "CARRIER_MAX",
    "REASON_MAX",
    "TRACKING_MAX",
    "Actor",
    "ActorRole",
    "ShipItem",
    "cancel_order",
    "cancel_vendor_order",
    "complete_orders",
    "deliver",
    "locked_vendor_order",
    "refresh_order",
    "refund",
    "refund_settled",
    "ship",
    "shipment_delivered",
]
