"""Payout tables: payouts, vendors' payout schedules, payout runs, and the per vendor and
currency row a payout locks.

`vendor_id` is the vendors context's id, stored without a foreign key. Unique constraints are
the "at most once" guards: one payout per (vendor, idempotency key) — a retried request, or a
schedule's period run twice, finds the first — and one provider idempotency key per payout.
Balances are never stored here: they are sums of ledger postings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class PayoutBalanceLock(Base):
    """One row per vendor and currency, locked (by a conditional UPDATE) by whoever creates a
    payout from that balance, until it commits. Two payouts of one vendor racing for the same
    money are decided one after the other, each reading the balance the other left."""

    __tablename__ = "payments_payout_lock"

    vendor_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    locked_at: Mapped[datetime]


class PayoutSchedule(Base):
    __tablename__ = "payments_payout_schedule"

    vendor_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # "interval" is a type name in SQL: the column is named for what it is.
    interval: Mapped[str] = mapped_column("payout_interval", String(10))
    weekly_anchor: Mapped[str] = mapped_column(String(10))
    monthly_anchor: Mapped[int] = mapped_column(Integer)
    minimum_amount: Mapped[int] = mapped_column(BigInteger)
    minimum_currency: Mapped[str] = mapped_column(String(3))
    # The next due date; NULL for manual schedules. The scheduler claims a due schedule by
    # moving it forward with a conditional UPDATE, so a period is paid once.
    next_run_at: Mapped[datetime | None]
    updated_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("interval IN ('daily', 'weekly', 'monthly', 'manual')", name="interval"),
        CheckConstraint("minimum_amount >= 0", name="minimum"),
        CheckConstraint("monthly_anchor BETWEEN 1 AND 31", name="monthly_anchor"),
        Index("ix_payments_payout_schedule_due", "next_run_at"),
    )


class PayoutRun(Base):
    """One pass over due schedules (the periodic job) or an admin's run."""

    __tablename__ = "payments_payout_run"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(10))  # schedule | admin
    actor_id: Mapped[str | None] = mapped_column(String(64))
    vendor_id: Mapped[str | None] = mapped_column(String(40))
    payout_count: Mapped[int] = mapped_column(Integer)
    # [{"vendor_id", "currency", "reason"}]: who was due and why nothing was paid.
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("trigger IN ('schedule', 'admin')", name="trigger"),)


class Payout(Base):
    __tablename__ = "payments_payout"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))
    method: Mapped[str] = mapped_column(String(10))  # manual | scheduled | admin
    provider: Mapped[str] = mapped_column(String(20))
    run_id: Mapped[str | None] = mapped_column(ForeignKey("payments_payout_run.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # Sent with every transfer call for this payout: a retry never pays twice.
    provider_idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    provider_transfer_id: Mapped[str | None] = mapped_column(String(100), index=True)
    # The id the provider's statements list the money under, where it is not the transfer
    # id: a PayPal payout is a batch, its statement row is the item's transaction.
    provider_settlement_id: Mapped[str | None] = mapped_column(String(100))
    destination_masked: Mapped[str] = mapped_column(String(40))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_payments_payout_vendor_key", "vendor_id", "idempotency_key", unique=True),
        # A vendor's payouts newest first; the retry sweep reads the old pending ones.
        Index("ix_payments_payout_vendor", "vendor_id", "id"),
        Index("ix_payments_payout_status", "status", "updated_at"),
        Index("ix_payments_payout_run", "run_id"),
        CheckConstraint("status IN ('pending', 'in_transit', 'paid', 'failed')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("method IN ('manual', 'scheduled', 'admin')", name="method"),
    )
