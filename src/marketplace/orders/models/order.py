"""Order tables: the customer order, its vendor orders and lines (snapshots of what was
bought, at what price, commission and tax), shipments, returns and the timeline.

Variant, product, vendor, customer and payment ids belong to other contexts and are stored
without foreign keys. Money columns are integer minor units of the order's one currency.
An order never exists un-split: the order, its vendor orders and its lines are written in one
transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base, transient
from marketplace.platform.ids import new_id


class Order(Base):
    """What the customer placed: one checkout, one payment, totals over every vendor."""

    __tablename__ = "orders_order"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    # The checkout's Idempotency-Key: a retried checkout finds (and resumes) its order.
    checkout_key: Mapped[str] = mapped_column(String(255))
    cart_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_amount: Mapped[int] = mapped_column(Integer)
    discount_amount: Mapped[int] = mapped_column(Integer)
    shipping_amount: Mapped[int] = mapped_column(Integer)
    tax_amount: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[int] = mapped_column(Integer)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    language: Mapped[str | None] = mapped_column(String(16))
    payment_provider: Mapped[str] = mapped_column(String(20))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    payment_status: Mapped[str] = mapped_column(String(20))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    reservation_id: Mapped[str | None] = mapped_column(String(40))
    placed_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    # When every vendor order is delivered: the last of their return windows closes here, and
    # the order becomes `completed` (the hourly `orders.complete_orders`).
    completes_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_orders_order_checkout", "customer_id", "checkout_key", unique=True),
        Index("ix_orders_order_completes", "status", "completes_at"),
        Index("ix_orders_order_customer", "customer_id", "placed_at", "id"),
        Index("ix_orders_order_pending", "status", "placed_at"),
        CheckConstraint(
            "total_amount = subtotal_amount - discount_amount + shipping_amount + tax_amount",
            name="total",
        ),
    )


class VendorOrder(Base):
    """One vendor's part of an order: what it fulfils and is paid for."""

    __tablename__ = "orders_vendor_order"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders_order.id", ondelete="CASCADE"))
    vendor_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_amount: Mapped[int] = mapped_column(Integer)
    discount_amount: Mapped[int] = mapped_column(Integer)
    platform_discount_amount: Mapped[int] = mapped_column(Integer)
    shipping_amount: Mapped[int] = mapped_column(Integer)
    tax_amount: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[int] = mapped_column(Integer)
    commission_amount: Mapped[int] = mapped_column(Integer)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    shipping_option_id: Mapped[str] = mapped_column(String(40))
    shipping_option_name: Mapped[str] = mapped_column(String(120))
    return_window_days: Mapped[int] = mapped_column(Integer)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    placed_at: Mapped[datetime]
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_orders_vendor_order_order", "order_id"),
        Index("ix_orders_vendor_order_vendor", "vendor_id", "placed_at", "id"),
        Index("ix_orders_vendor_order_vendor_status", "vendor_id", "status", "placed_at", "id"),
        CheckConstraint(
            "total_amount = subtotal_amount - discount_amount + shipping_amount + tax_amount",
            name="total",
        ),
    )


class OrderItem(Base):
    """A line as bought: the snapshot keeps title, sku, price, tax and commission as they
    were at purchase, whatever the catalog or the commission rules say later."""

    __tablename__ = "orders_order_item"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40))
    vendor_order_id: Mapped[str] = mapped_column(
        ForeignKey("orders_vendor_order.id", ondelete="CASCADE")
    )
    vendor_id: Mapped[str] = mapped_column(String(40))
    variant_id: Mapped[str] = mapped_column(String(40))
    product_id: Mapped[str] = mapped_column(String(40))
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_amount: Mapped[int] = mapped_column(Integer)
    subtotal_amount: Mapped[int] = mapped_column(Integer)
    discount_amount: Mapped[int] = mapped_column(Integer)
    tax_amount: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[int] = mapped_column(Integer)
    tax_rate_bps: Mapped[int] = mapped_column(Integer)
    commission_amount: Mapped[int] = mapped_column(Integer)
    commission_rate_bps: Mapped[int | None] = mapped_column(Integer)
    commission_rule_id: Mapped[str | None] = mapped_column(String(40))
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0)
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_orders_order_item_vendor_order", "vendor_order_id"),
        Index("ix_orders_order_item_order", "order_id"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("shipped_quantity >= 0 AND shipped_quantity <= quantity", name="shipped"),
        CheckConstraint(
            "returned_quantity >= 0 AND returned_quantity <= shipped_quantity", name="returned"
        ),
    )


class Shipment(Base):
    """A parcel a vendor sent: carrier, tracking number and which items (partial shipments)."""

    __tablename__ = "orders_shipment"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_order_id: Mapped[str] = mapped_column(
        ForeignKey("orders_vendor_order.id", ondelete="CASCADE")
    )
    order_id: Mapped[str] = mapped_column(String(40))
    carrier: Mapped[str] = mapped_column(String(40))
    tracking_number: Mapped[str] = mapped_column(String(64))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{order_item_id, quantity}]
    shipped_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_orders_shipment_vendor_order", "vendor_order_id"),)


class ReturnRequest(Base):
    """A customer's request to send delivered items back (RMA), decided by the vendor."""

    __tablename__ = "orders_return"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40))
    vendor_order_id: Mapped[str] = mapped_column(String(40))
    vendor_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # requested | approved | rejected
    reason: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{order_item_id, quantity}]
    refund_amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    restock: Mapped[bool | None]
    decision_note: Mapped[str | None] = mapped_column(String(500))
    refund_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_orders_return_vendor", "vendor_id", "status", "created_at", "id"),
        Index("ix_orders_return_order", "order_id"),
    )


class TimelineEntry(Base):
    """Every change of an order: who, when, why. Entries of a vendor order are shown to its
    vendor; entries without one only to the customer and admins."""

    __tablename__ = "orders_timeline_entry"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40))
    vendor_order_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(20))  # customer | vendor | admin | system
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_orders_timeline_order", "order_id", "created_at", "id"),)

    @classmethod
    def new(
        cls,
        *,
        order_id: str,
        kind: str,
        created_at: datetime,
        vendor_order_id: str | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
        actor_id: str | None = None,
        actor_role: str = "system",
        note: str | None = None,
    ) -> TimelineEntry:
        return transient(
            cls,
            id=new_id("otl"),
            order_id=order_id,
            vendor_order_id=vendor_order_id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            actor_id=actor_id,
            actor_role=actor_role,
            note=note,
            created_at=created_at,
        )
