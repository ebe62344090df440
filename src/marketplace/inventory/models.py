"""Inventory tables: stock per variant, its adjustment log, and checkout reservations.

`variant_id`, `product_id` and `vendor_id` are the catalog's and vendors' ids, stored without
foreign keys (contexts own their tables). The stock row's CHECK constraint is the last line of
defence of the stock invariant: whatever a query does, the database refuses a row that holds
more units than it has, or a negative count.

Skus are the catalog's: a live stock row's sku is unique per vendor, and a row is retired
(kept for its history and open reservations, no longer sold or listed) when its variant is
deleted or its sku is handed to another variant.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class Stock(Base):
    """One sellable variant's units: `on_hand` in the warehouse, of which `reserved` are held
    by checkouts in progress; the rest are available."""

    __tablename__ = "inventory_stock"

    variant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    sku: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(40))
    on_hand: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer)
    low_stock_threshold: Mapped[int] = mapped_column(Integer)
    # Set when StockLow was published for the current crossing, cleared when available rises
    # above the threshold again: one alert per crossing, not one per sale.
    low_stock_alerted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]

    __table_args__ = (
        # One live row per sku of a vendor; retired rows keep their sku for the record. Also
        # the index of the vendor's stock list, which is ordered by sku.
        Index(
            "uq_inventory_stock_vendor_sku",
            "vendor_id",
            "sku",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved"),
        CheckConstraint("low_stock_threshold >= 0", name="low_stock_threshold"),
    )


class Adjustment(Base):
    """Every change of `on_hand`, append-only: who, why, by how much, and the result."""

    __tablename__ = "inventory_adjustment"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    variant_id: Mapped[str] = mapped_column(String(40))
    vendor_id: Mapped[str] = mapped_column(String(40))
    sku: Mapped[str] = mapped_column(String(64))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    # A user or API key id; "system" for sales committed by a checkout.
    actor_id: Mapped[str] = mapped_column(String(64))
    # The reservation a sale committed, so a sale in the log leads to its checkout.
    reservation_id: Mapped[str | None] = mapped_column(String(40))
    on_hand_after: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_inventory_adjustment_variant", "variant_id", "created_at"),)


class Reservation(Base):
    """Units held for a checkout (`reference`) until it commits, releases or expires."""

    __tablename__ = "inventory_reservation"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        # The expiry sweep reads active reservations by expiry.
        Index("ix_inventory_reservation_due", "status", "expires_at"),
        CheckConstraint("status IN ('active', 'committed', 'released', 'expired')", name="status"),
    )


class ReservationLine(Base):
    __tablename__ = "inventory_reservation_line"

    reservation_id: Mapped[str] = mapped_column(
        ForeignKey("inventory_reservation.id"), primary_key=True
    )
    variant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)
