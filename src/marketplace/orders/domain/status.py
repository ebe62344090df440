"""The order and vendor order state machines, in one place.

A checkout is one customer order split into one vendor order per vendor (the Mirakl/Etsy
model). Vendor orders move by explicit, guarded transitions; the customer order's status is
never set by hand: it is derived from its vendor orders and its payment (`order_status`).

Vendor order: pending_payment -> processing -> shipped -> delivered (-> returned), or
canceled from pending_payment or processing (never once anything shipped).
Order: pending_payment -> paid -> partially_shipped -> shipped -> delivered -> completed, or
canceled, refunded, partially_refunded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

VendorOrderStatus = Literal[
    "pending_payment", "processing", "shipped", "delivered", "canceled", "returned"
]
OrderStatus = Literal[
    "pending_payment",
    "paid",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "canceled",
    "refunded",
    "partially_refunded",
]

VENDOR_ORDER_STATUSES: Final[tuple[VendorOrderStatus, ...]] = (
    "pending_payment",
    "processing",
    "shipped",
    "delivered",
    "canceled",
    "returned",
)
ORDER_STATUSES: Final[tuple[OrderStatus, ...]] = (
    "pending_payment",
    "paid",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "canceled",
    "refunded",
    "partially_refunded",
)

TRANSITIONS: Final[dict[VendorOrderStatus, frozenset[VendorOrderStatus]]] = {
    "pending_payment": frozenset({"processing", "canceled"}),
    "processing": frozenset({"shipped", "canceled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset({"returned"}),
    "canceled": frozenset(),
    "returned": frozenset(),
}


class IllegalTransition(ValueError):
    """The vendor order is not in a status this change can start from."""

    def __init__(self, current: str, target: str) -> None:
        self.current = current
        self.target = target
        super().__init__(f"a {current} vendor order cannot become {target}")


def sources_of(target: VendorOrderStatus) -> frozenset[VendorOrderStatus]:
    """The statuses `target` can be reached from: the guard of its conditional UPDATE."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


def check_transition(current: str, target: VendorOrderStatus) -> None:
    if current not in TRANSITIONS or target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)


_FULFILLED: Final = frozenset({"delivered", "returned"})
_SENT: Final = frozenset({"shipped", "delivered", "returned"})


def order_status(
    vendor_statuses: Sequence[str],
    *,
    paid: bool,
    refunded_amount: int,
    captured_amount: int,
    completed: bool = False,
) -> OrderStatus:
    """The customer order's status from its vendor orders and its money.

    Cancellation wins (every vendor order canceled: the order is canceled, refunded or not);
    then a payment refunded in full; then fulfilment of the vendor orders still live. A
    partial refund shows once every live vendor order is delivered (before that, where the
    parcels are is what the customer needs to see); `completed` (return windows closed) is
    decided by the caller.
    """
    if not vendor_statuses:
        raise ValueError("an order has at least one vendor order")
    live = [s for s in vendor_statuses if s != "canceled"]
    if not live:
        return "canceled"
    if not paid:
        return "pending_payment"
    if captured_amount > 0 and refunded_amount >= captured_amount:
        return "refunded"
    if all(s in _FULFILLED for s in live):
        if refunded_amount > 0:
            return "partially_refunded"
        return "completed" if completed else "delivered"
    if all(s in _SENT for s in live):
        return "shipped"
    if any(s in _SENT for s in live):
        return "partially_shipped"
    return "paid"
