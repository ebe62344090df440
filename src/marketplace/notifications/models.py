"""Notification tables: deliveries (one per event, recipient and channel), the in-app feed,
preferences and SMS numbers per user, and vendors' webhook endpoints.

User, vendor and event ids are other contexts' ids, stored without foreign keys. The unique
constraint on deliveries is what makes "never twice for the same event, recipient and
channel" hold under redelivered events and concurrent handlers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class Delivery(Base):
    """A message to send: rendered when the event was handled, sent by a job afterwards.

    `recipient` is the user id (or `admin:<email>`, or the webhook endpoint id); `address` is
    where it goes (email address, E.164 number, URL). `status`: pending → sent, or dead after
    the last failed attempt (listed for admins, who may retry it).
    """

    __tablename__ = "notifications_delivery"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40))
    event_name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(360))
    user_id: Mapped[str | None] = mapped_column(String(40))
    vendor_id: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(2000))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # [{storage_key, filename, content_type}]: read from storage when sending.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    unsubscribe_url: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    lock_token: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    response_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("event_id", "recipient", "channel", name="uq_notifications_delivery_once"),
        Index("ix_notifications_delivery_due", "status", "next_attempt_at"),
        Index("ix_notifications_delivery_status", "status", "id"),
        Index("ix_notifications_delivery_endpoint", "recipient", "channel", "id"),
    )


class Notification(Base):
    """An entry of a user's in-app feed."""

    __tablename__ = "notifications_notification"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("event_id", "user_id", name="uq_notifications_notification_once"),
        Index("ix_notifications_notification_feed", "user_id", "id"),
        Index("ix_notifications_notification_unread", "user_id", "read_at"),
    )


class Preference(Base):
    """A user's explicit choice for one category on one channel (absent: the default)."""

    __tablename__ = "notifications_preference"

    user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class Profile(Base):
    """Per-user channel settings: the number SMS go to (E.164, validated)."""

    __tablename__ = "notifications_profile"

    user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sms_number: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """A vendor system that receives signed POSTs for the events it subscribed to. The
    signing secret is encrypted at rest (it must be read back to sign) and shown once."""

    __tablename__ = "notifications_webhook_endpoint"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_notifications_webhook_endpoint_vendor", "vendor_id", "id"),)
