"""The commission rule table: every rule the platform ever set, append-only.

A change of commission is a new row with a later `effective_from`; rows are never updated or
deleted, so the rule an order was charged under can always be found again (and its id is what
payments snapshot on the order line). `scope_id` holds a vendor id or a category id (catalog's)
without a foreign key, as contexts own their tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class CommissionRule(Base):
    __tablename__ = "vendors_commission_rule"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # "vendor" | "category" | "default"
    scope_id: Mapped[str | None] = mapped_column(String(40))  # None for the default
    type: Mapped[str] = mapped_column(String(24))  # "percent" | "flat" | "percent_plus_flat"
    percent_bps: Mapped[int | None] = mapped_column(Integer)
    flat_amount: Mapped[int | None] = mapped_column(BigInteger)
    flat_currency: Mapped[str | None] = mapped_column(String(3))
    effective_from: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]

    __table_args__ = (
        # Resolution reads one scope's rules up to an instant: scope and id, then time.
        Index("ix_vendors_commission_rule_scope", "scope", "scope_id", "effective_from"),
        # The domain validates terms; these keep a hand-written row from being nonsense.
        CheckConstraint("scope IN ('vendor', 'category', 'default')", name="scope"),
        CheckConstraint("(scope = 'default') = (scope_id IS NULL)", name="scope_id"),
        CheckConstraint("type IN ('percent', 'flat', 'percent_plus_flat')", name="type"),
        CheckConstraint(
            "percent_bps IS NULL OR (percent_bps >= 0 AND percent_bps <= 10000)",
            name="percent_bps",
        ),
        CheckConstraint(
            "(flat_amount IS NULL) = (flat_currency IS NULL) "
            "AND (flat_amount IS NULL OR flat_amount >= 0)",
            name="flat",
        ),
    )
