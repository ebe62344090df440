"""Events the payments context publishes. The orders context subscribes to them to move an
order to paid / payment failed / (partially) refunded; amounts are minor units."""

from __future__ import annotations

from marketplace.platform.messaging import Event


class PaymentSucceeded(Event):
    """The customer was charged: captured and split in the ledger (published once)."""

    name = "payments.payment_succeeded.v1"
    payment_id: str
    order_id: str
    amount: int
    currency: str


class PaymentFailed(Event):
    """The provider declined the payment; nothing was charged."""

    name = "payments.payment_failed.v1"
    payment_id: str
    order_id: str
    failure_code: str | None
    failure_message: str | None


class RefundSucceeded(Event):
    name = "payments.refund_succeeded.v1"
    refund_id: str
    order_id: str
    vendor_order_id: str
    amount: int
    currency: str


class RefundFailed(Event):
    name = "payments.refund_failed.v1"
    refund_id: str
    order_id: str
    vendor_order_id: str
    amount: int
    currency: str
    failure_code: str | None
    failure_message: str | None
