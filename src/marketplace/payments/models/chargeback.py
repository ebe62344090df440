"""Chargebacks (a provider's dispute of one of our payments) and reconciliation runs with the
mismatches they found.

A chargeback is unique per (provider, provider dispute id): a duplicate or replayed webhook
finds the row and changes nothing. `allocations` holds, per vendor order, the part of the
disputed amount charged to it (and whether it came out of pending or available), so closing
a dispute as won gives back exactly what opening took.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class Chargeback(Base):
    __tablename__ = "payments_chargeback"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_dispute_id: Mapped[str] = mapped_column(String(100))
    provider_payment_id: Mapped[str | None] = mapped_column(String(100))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments_payment.id"), index=True)
    order_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))  # open | won | lost
    reason: Mapped[str | None] = mapped_column(String(60))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    fee_amount: Mapped[int] = mapped_column(Integer)
    # What the vendor shares could absorb; the rest (money already refunded) is the
    # platform's loss until it contests the dispute with the refund as evidence.
    unallocated_amount: Mapped[int] = mapped_column(Integer)
    commission_reversed: Mapped[bool]
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "uq_payments_chargeback_provider_dispute",
            "provider",
            "provider_dispute_id",
            unique=True,
        ),
        Index("ix_payments_chargeback_status", "status", "id"),
        CheckConstraint("status IN ('open', 'won', 'lost')", name="status"),
        CheckConstraint(
            "amount > 0 AND fee_amount >= 0 AND unallocated_amount >= 0 "
            "AND unallocated_amount <= amount",
            name="amounts",
        ),
    )


class ChargebackAllocation(Base):
    """The part of a chargeback charged to one vendor order."""

    __tablename__ = "payments_chargeback_allocation"

    chargeback_id: Mapped[str] = mapped_column(
        ForeignKey("payments_chargeback.id"), primary_key=True
    )
    vendor_order_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Integer)
    # The chargeback reverses [range_start, range_start + amount) of the vendor order's gross
    # (refunds reverse from 0 up, chargebacks from the top down: never the same part twice).
    range_start: Mapped[int] = mapped_column(Integer)
    # Whether the vendor's part came out of available (the hold had ended) or pending.
    from_available: Mapped[bool]

    __table_args__ = (
        CheckConstraint("amount > 0 AND range_start >= 0", name="amounts"),
        Index("ix_payments_chargeback_allocation_vendor_order", "vendor_order_id"),
    )


class ReconciliationRun(Base):
    __tablename__ = "payments_reconciliation_run"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))  # pending | completed | failed
    ledger_records: Mapped[int] = mapped_column(Integer)
    provider_records: Mapped[int] = mapped_column(Integer)
    mismatch_count: Mapped[int] = mapped_column(Integer)
    # The daily run's key (`daily:<provider>:<date>`): one run per provider and day.
    dedupe_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'completed', 'failed')", name="status"),
        CheckConstraint("period_start < period_end", name="period"),
    )


class ReconciliationMismatch(Base):
    __tablename__ = "payments_reconciliation_mismatch"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("payments_reconciliation_run.id"))
    kind: Mapped[str] = mapped_column(String(20))  # charge | refund | dispute | ...
    provider_object_id: Mapped[str] = mapped_column(String(100))
    problem: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    ledger_amount: Mapped[int | None] = mapped_column(Integer)
    provider_amount: Mapped[int | None] = mapped_column(Integer)
    ledger_fee: Mapped[int | None] = mapped_column(Integer)
    provider_fee: Mapped[int | None] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(String(40))  # our payment/refund/chargeback

    __table_args__ = (
        Index("ix_payments_reconciliation_mismatch_run", "run_id", "id"),
        CheckConstraint(
            "problem IN ('missing_in_ledger', 'missing_at_provider', 'amount_differs')",
            name="problem",
        ),
    )
