"""Payments tables."""

from marketplace.payments.models.chargeback import (
    Chargeback,
    ChargebackAllocation,
    ReconciliationMismatch,
    ReconciliationRun,
)
from marketplace.payments.models.ledger import LedgerPosting, LedgerTransaction
from marketplace.payments.models.payment import (
    CommissionLineRow,
    Payment,
    PaymentShare,
    Refund,
    WebhookEvent,
)
from marketplace.payments.models.payout import (
    Payout,
    PayoutBalanceLock,
    PayoutRun,
    PayoutSchedule,
)
from marketplace.payments.models.sandbox import (
    SandboxDispute,
    SandboxEvent,
    SandboxIntent,
    SandboxRefund,
    SandboxTransfer,
)

__all__ = [
    "Chargeback",
    "ChargebackAllocation",
    "CommissionLineRow",
    "LedgerPosting",
    "LedgerTransaction",
    "Payment",
    "PaymentShare",
    "Payout",
    "PayoutBalanceLock",
    "PayoutRun",
    "PayoutSchedule",
    "ReconciliationMismatch",
    "ReconciliationRun",
    "Refund",
    "SandboxDispute",
    "SandboxEvent",
    "SandboxIntent",
    "SandboxRefund",
    "SandboxTransfer",
    "WebhookEvent",
]
