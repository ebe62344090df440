"""Payment tables: the payment of an order, its vendor shares with the commission frozen per
order line, refunds, and the providers' webhook events.

`order_id`, `vendor_order_id`, `vendor_id`, `customer_id` are other contexts' ids, stored
without foreign keys. Unique constraints are the idempotency guards: one payment per order,
one refund per (order, idempotency key), one webhook event per (provider, provider event id),
and one succeeded payment per provider payment (a PayPal order or Razorpay payment the buyer
approved pays for one purchase, however many checkouts present it at the same moment).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class Payment(Base):
    __tablename__ = "payments_payment"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(20))
    payment_method: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    captured_amount: Mapped[int] = mapped_column(Integer)
    refunded_amount: Mapped[int] = mapped_column(Integer)
    fee_amount: Mapped[int] = mapped_column(Integer)
    # Sent with every provider call for this payment: a retry never charges twice.
    provider_idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    provider_payment_id: Mapped[str | None] = mapped_column(String(100), index=True)
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    succeeded_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'canceled')", name="status"),
        CheckConstraint(
            "amount > 0 AND captured_amount >= 0 AND captured_amount <= amount", name="amounts"
        ),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= captured_amount", name="refunded"
        ),
        # Succeeded rows only: failed and canceled payments may carry the id of a charge that
        # belongs to another payment (a reused PayPal order is refused with its id).
        Index(
            "uq_payments_payment_provider_succeeded",
            "provider",
            "provider_payment_id",
            unique=True,
            sqlite_where=text("status = 'succeeded'"),
            postgresql_where=text("status = 'succeeded'"),
        ),
    )


class PaymentShare(Base):
    """One vendor order's part of a payment, and its hold (pending until released)."""

    __tablename__ = "payments_share"

    vendor_order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments_payment.id"), index=True)
    vendor_id: Mapped[str] = mapped_column(String(40), index=True)
    gross_amount: Mapped[int] = mapped_column(Integer)
    tax_amount: Mapped[int] = mapped_column(Integer)
    commission_amount: Mapped[int] = mapped_column(Integer)
    commission_tax_amount: Mapped[int] = mapped_column(Integer)
    platform_discount_amount: Mapped[int] = mapped_column(Integer)
    # Pending and succeeded refunds: the conditional UPDATE that reserves a refund keeps it
    # <= gross, so concurrent refunds can never exceed what was captured.
    refund_reserved_amount: Mapped[int] = mapped_column(Integer)
    refunded_amount: Mapped[int] = mapped_column(Integer)
    hold_status: Mapped[str] = mapped_column(String(10))
    delivered_at: Mapped[datetime | None]
    release_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("hold_status IN ('none', 'holding', 'released')", name="hold_status"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= refund_reserved_amount "
            "AND refund_reserved_amount <= gross_amount",
            name="refunds",
        ),
        # The release job reads due holds by time.
        Index("ix_payments_share_due", "hold_status", "release_at"),
    )


class CommissionLineRow(Base):
    """The commission of one order line, frozen at sale: rule, rate and amount."""

    __tablename__ = "payments_commission_line"

    vendor_order_id: Mapped[str] = mapped_column(
        ForeignKey("payments_share.vendor_order_id"), primary_key=True
    )
    order_item_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule_id: Mapped[str | None] = mapped_column(String(40))
    rate_bps: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)


class Refund(Base):
    __tablename__ = "payments_refund"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments_payment.id"), index=True)
    order_id: Mapped[str] = mapped_column(String(40))
    vendor_order_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(500))
    items: Mapped[list[list[Any]]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    provider_idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(100))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    actor_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_payments_refund_order_key", "order_id", "idempotency_key", unique=True),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
    )


class WebhookEvent(Base):
    """A provider's webhook event as received (verified), processed once by a job."""

    __tablename__ = "payments_webhook_event"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_event_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))  # received | processed | ignored
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "uq_payments_webhook_event_provider_event",
            "provider",
            "provider_event_id",
            unique=True,
        ),
    )
