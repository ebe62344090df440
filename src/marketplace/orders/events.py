"""Events the orders context publishes: every transition of an order or a vendor order.

The notifications context turns them into messages: the customer hears of a checkout once
(`OrderPlaced`, describing every vendor's part), each vendor only of its own part
(`VendorOrderPlaced`); shipped, delivered, canceled and refunded news follow.
"""

from __future__ import annotations

from pydantic import Field

from marketplace.platform.messaging import Event


class VendorPart(Event):
    """One vendor's part of a checkout, as the customer's confirmation describes it."""

    name = "orders.vendor_part.v1"
    vendor_order_id: str
    vendor_id: str
    total: int
    item_count: int
    # What the confirmation lists per vendor: [{order_item_id, sku, title, quantity, total}].
    lines: list[dict[str, object]] = Field(default_factory=list)


class OrderPlaced(Event):
    """A checkout was paid: one confirmation to the customer for the whole checkout."""

    name = "orders.order_placed.v1"
    order_id: str
    customer_id: str
    currency: str
    total: int
    vendor_parts: list[VendorPart]


class VendorOrderPlaced(Event):
    """A vendor has a new paid order to fulfil: its own lines only."""

    name = "orders.vendor_order_placed.v1"
    vendor_order_id: str
    order_id: str
    vendor_id: str
    currency: str
    total: int
    items: list[dict[str, object]]  # [{order_item_id, sku, title, quantity}]


class OrderPaymentFailed(Event):
    name = "orders.order_payment_failed.v1"
    order_id: str
    customer_id: str
    failure_code: str | None
    failure_message: str | None


class VendorOrderShipped(Event):
    name = "orders.vendor_order_shipped.v1"
    vendor_order_id: str
    order_id: str
    vendor_id: str
    customer_id: str
    shipment_id: str
    carrier: str
    tracking_number: str
    complete: bool  # every item of the vendor order has now shipped


class VendorOrderDelivered(Event):
    name = "orders.vendor_order_delivered.v1"
    vendor_order_id: str
    order_id: str
    vendor_id: str
    customer_id: str


class VendorOrderCanceled(Event):
    name = "orders.vendor_order_canceled.v1"
    vendor_order_id: str
    order_id: str
    vendor_id: str
    customer_id: str
    canceled_by: str  # customer | vendor | admin | system
    reason: str | None


class OrderStatusChanged(Event):
    """The customer order's derived status changed (paid, shipped, delivered, canceled...)."""

    name = "orders.order_status_changed.v1"
    order_id: str
    customer_id: str
    from_status: str
    to_status: str


class OrderRefunded(Event):
    name = "orders.order_refunded.v1"
    order_id: str
    vendor_order_id: str
    vendor_id: str
    customer_id: str
    currency: str
    amount: int
    refund_id: str


class ReturnRequested(Event):
    name = "orders.return_requested.v1"
    return_id: str
    order_id: str
    vendor_order_id: str
    vendor_id: str
    customer_id: str


class ReturnDecided(Event):
    name = "orders.return_decided.v1"
    return_id: str
    order_id: str
    vendor_order_id: str
    vendor_id: str
    customer_id: str
    approved: bool
    refund_amount: int
    currency: str | None = None  # of refund_amount (absent in events published before it)


class ReceiptIssued(Event):
    """The customer's receipt for a paid checkout was rendered and stored (PDF)."""

    name = "orders.receipt_issued.v1"
    order_id: str
    customer_id: str
    storage_key: str
    filename: str
    language: str


class VendorStatementIssued(Event):
    """A vendor's statement for its vendor order (its lines, commission, earnings) is stored."""

    name = "orders.vendor_statement_issued.v1"
    vendor_order_id: str
    order_id: str
    vendor_id: str
    storage_key: str
    filename: str
    language: str
