"""The store aggregate: a vendor, its shipping options, staff invitations and payout account.

Owner and staff memberships are identity's tables (authorization is identity's); the vendor
keeps its owner's id only to know who applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class Vendor(Base):
    __tablename__ = "vendors_vendor"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), index=True)
    owner_id: Mapped[str] = mapped_column(String(40))
    legal_name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    # Encrypted at rest, bound to this row (platform.crypto); responses show it masked.
    tax_id_encrypted: Mapped[str | None] = mapped_column(String(512))
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    contact_email: Mapped[str] = mapped_column(String(320))
    default_currency: Mapped[str] = mapped_column(String(3))
    currencies: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text)
    logo_url: Mapped[str | None] = mapped_column(String(500))
    banner_url: Mapped[str | None] = mapped_column(String(500))
    support_email: Mapped[str | None] = mapped_column(String(320))
    support_phone: Mapped[str | None] = mapped_column(String(32))
    policies: Mapped[dict[str, str]] = mapped_column(JSON)
    return_window_days: Mapped[int] = mapped_column(Integer, default=30)
    handling_days: Mapped[int] = mapped_column(Integer, default=2)
    vacation_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    vacation_message: Mapped[str | None] = mapped_column(String(500))
    kyc_status: Mapped[str] = mapped_column(String(16), default="not_started")
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    # Kept up to date by the reviews context's events.
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    rating_total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    approved_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_vendors_vendor_status_created", "status", "created_at", "id"),)


class ShippingOption(Base):
    """A way a vendor ships, with its price and delivery window. Orders copy what they
    need, so a removed option is archived rather than deleted."""

    __tablename__ = "vendors_shipping_option"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(100))
    price_amount: Mapped[int] = mapped_column(Integer)
    price_currency: Mapped[str] = mapped_column(String(3))
    delivery_days_min: Mapped[int] = mapped_column(Integer)
    delivery_days_max: Mapped[int] = mapped_column(Integer)
    countries: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]


class StaffInvitation(Base):
    """An invitation for an email without an account yet; accepted when that person registers."""

    __tablename__ = "vendors_staff_invitation"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16))  # pending | accepted | revoked
    invited_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_vendors_staff_invitation_vendor", "vendor_id", "status"),)


class PayoutAccount(Base):
    """Where a vendor's earnings go. The details (IBAN, account and routing numbers, wallet
    id) are one encrypted JSON document bound to this row; only masked values leave it."""

    __tablename__ = "vendors_payout_account"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(8))  # bank | wallet
    holder_name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    details_encrypted: Mapped[str] = mapped_column(Text)
    masked: Mapped[str] = mapped_column(String(40))
    wallet_provider: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
