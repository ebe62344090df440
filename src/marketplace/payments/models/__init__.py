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
from marketplace.payments.models.sandbox import (
    SandboxDispute,
    SandboxEvent,
    SandboxIntent,
    SandboxRefund,
)

__all__ = [
    "Chargeback",
    "ChargebackAllocation",
    "CommissionLineRow",
    "LedgerPosting",
    "LedgerTransaction",
    "Payment",
    "PaymentShare",
    "ReconciliationMismatch",
    "ReconciliationRun",
    "Refund",
    "SandboxDispute",
    "SandboxEvent",
    "SandboxIntent",
    "SandboxRefund",
    "WebhookEvent",
]
