"""Identity tables: users, refresh tokens, vendor API keys, vendor roles and memberships.

`vendor_id` columns hold the vendors context's ids without a foreign key (contexts own their
tables); memberships and roles live here because authorization decisions are identity's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class User(Base):
    __tablename__ = "identity_user"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    # Encrypted at rest (platform.crypto), bound to this row and column.
    phone_encrypted: Mapped[str | None] = mapped_column(String(512))
    locale: Mapped[str | None] = mapped_column(String(35))
    platform_role: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Access tokens issued before this instant are refused (password change, "log out
    # everywhere", erasure).
    tokens_valid_after: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class RefreshToken(Base):
    """One link of a rotating refresh-token family; only the SHA-256 of the token is kept."""

    __tablename__ = "identity_refresh_token"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), index=True)
    family_id: Mapped[str] = mapped_column(String(40), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiKey(Base):
    __tablename__ = "identity_api_key"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    # The first characters after `mk_`, shown in listings so owners can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    permissions: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_identity_api_key_vendor_id", "vendor_id", "created_at"),)


class VendorRole(Base):
    """A vendor's custom role: a name and a subset of the permission vocabulary."""

    __tablename__ = "identity_vendor_role"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(50))
    permissions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_identity_vendor_role_vendor_name", "vendor_id", "name", unique=True),
    )


class VendorMember(Base):
    __tablename__ = "identity_vendor_member"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40), index=True)
    role: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_identity_vendor_member_vendor_user", "vendor_id", "user_id", unique=True),
    )
