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
    # True when `confirm_payment` recorded it: the caller that confirmed holds the outcome
    # in the same transaction and acts on it there (the checkout settles its order), so a
    # subscriber that follows outcomes decided elsewhere (a webhook, the sweep) can skip it.
    confirmed_synchronously: bool = False


class PaymentFailed(Event):
    """The provider declined the payment; nothing was charged."""

    name = "payments.payment_failed.v1"
    payment_id: str
    order_id: str
    failure_code: str | None
    failure_message: str | None
    confirmed_synchronously: bool = False  # as in PaymentSucceeded


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


class PayoutSent(Event):
    """The provider accepted a payout to the vendor's destination (money on its way)."""

    name = "payments.payout_sent.v1"
    payout_id: str
    vendor_id: str
    amount: int
    currency: str


class PayoutFailed(Event):
    """A payout failed at the provider; its amount is back in the vendor's available balance."""

    name = "payments.payout_failed.v1"
    payout_id: str
    vendor_id: str
    amount: int
    currency: str
    failure_code: str | None
    failure_message: str | None


class ChargebackOpened(Event):
    """The customer's bank disputed a payment: the amount was withdrawn and charged to the
    vendors concerned."""

    name = "payments.chargeback_opened.v1"
    chargeback_id: str
    payment_id: str
    order_id: str
    amount: int
    currency: str
    reason: str | None
    vendor_ids: list[str]


class ChargebackClosed(Event):
    """A dispute was decided: `won` gives the amount back to the vendors, `lost` keeps it off."""

    name = "payments.chargeback_closed.v1"
    chargeback_id: str
    payment_id: str
    order_id: str
    amount: int
    currency: str
    outcome: str  # won | lost
    vendor_ids: list[str]


class ReconciliationMismatchFound(Event):
    """A reconciliation run found the ledger and a provider's records disagreeing."""

    name = "payments.reconciliation_mismatch_found.v1"
    run_id: str
    provider: str
    mismatch_count: int
