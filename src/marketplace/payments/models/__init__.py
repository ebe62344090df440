"""Payments tables."""

from marketplace.payments.models.ledger import LedgerPosting, LedgerTransaction
from marketplace.payments.models.payment import (
    CommissionLineRow,
    Payment,
    PaymentShare,
    Refund,
    WebhookEvent,
)
from marketplace.payments.models.sandbox import SandboxEvent, SandboxIntent, SandboxRefund

__all__ = [
    "CommissionLineRow",
    "LedgerPosting",
    "LedgerTransaction",
    "Payment",
    "PaymentShare",
    "Refund",
    "SandboxEvent",
    "SandboxIntent",
    "SandboxRefund",
    "WebhookEvent",
]
