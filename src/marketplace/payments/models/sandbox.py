"""The sandbox provider's own records (it plays an external gateway, so these tables stand
for the provider's database, not ours): payment intents, refunds and transfers (payouts)
keyed by the idempotency key we sent, and the webhook events it emits. Nothing else reads
them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class SandboxIntent(Base):
    __tablename__ = "payments_sandbox_intent"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(40))
    amount_received: Mapped[int] = mapped_column(Integer)
    amount_refunded: Mapped[int] = mapped_column(Integer)
    fee: Mapped[int] = mapped_column(Integer)
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class SandboxRefund(Base):
    __tablename__ = "payments_sandbox_refund"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    intent_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class SandboxEvent(Base):
    __tablename__ = "payments_sandbox_event"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class SandboxDispute(Base):
    """A dispute the sandbox opened on one of its intents (`pm_card_chargeback`)."""

    __tablename__ = "payments_sandbox_dispute"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    intent_id: Mapped[str] = mapped_column(String(40), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    fee: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(30))  # needs_response | won | lost
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class SandboxTransfer(Base):
    """A payout the sandbox was asked to make, keyed by our idempotency key."""

    __tablename__ = "payments_sandbox_transfer"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    destination_last4: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(20))
    failure_code: Mapped[str | None] = mapped_column(String(60))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
