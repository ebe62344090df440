"""Ledger tables: transactions and their postings (append-only; see `domain/ledger.py`).

Balances are never stored: they are sums of postings. A transaction's `key` is unique, so
the same money movement (the capture of a payment, a refund, a release) can be posted only
once whatever retries or duplicate webhooks do.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class LedgerTransaction(Base):
    __tablename__ = "payments_ledger_transaction"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    vendor_order_id: Mapped[str | None] = mapped_column(String(40))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    refund_id: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint(
            "type IN ('capture', 'fee', 'refund', 'release', 'payout', 'adjustment')",
            name="type",
        ),
    )


class LedgerPosting(Base):
    __tablename__ = "payments_ledger_posting"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("payments_ledger_transaction.id"))
    account: Mapped[str] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3))
    # Positive: debit; negative: credit.
    amount: Mapped[int] = mapped_column(BigInteger)
    vendor_id: Mapped[str | None] = mapped_column(String(40))
    vendor_order_id: Mapped[str | None] = mapped_column(String(40))
    order_item_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount"),
        Index("ix_payments_ledger_posting_transaction", "transaction_id"),
        # Balances are sums per account; the vendor's ledger lists its postings newest first.
        Index("ix_payments_ledger_posting_account", "account", "currency"),
        Index("ix_payments_ledger_posting_vendor", "vendor_id", "id"),
    )
