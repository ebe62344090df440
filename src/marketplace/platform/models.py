"""Tables of the shared kernel: the outbox, job deliveries, idempotency keys and the schedule.

These are infrastructure tables (prefix `platform_`); no context's rules live here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base

# BIGINT on PostgreSQL, but SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class OutboxMessage(Base):
    """An event or job written in the same transaction as the change that caused it.

    `seq` gives the relay a cheap, index-ordered scan; `id` is the message identity that
    handlers deduplicate on.
    """

    __tablename__ = "platform_outbox_message"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "event" | "job"
    name: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    published_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_platform_outbox_message_unpublished", "published_at", "seq"),)


class Delivery(Base):
    """One handler's (or one job's) processing of one outbox message.

    The unique (message_id, handler) pair makes fan-out idempotent; `status` moves to
    `succeeded` in the same transaction as the handler's own changes, which is what makes
    a handler run at most once even when the broker delivers twice.
    """

    __tablename__ = "platform_delivery"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40))
    handler: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # succeeded | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lock_token: Mapped[str | None] = mapped_column(String(40))
    locked_until: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime]
    kicked_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_platform_delivery_message_handler", "message_id", "handler", unique=True),
        Index("ix_platform_delivery_due", "status", "next_attempt_at"),
    )


class IdempotencyKey(Base):
    """A client's Idempotency-Key with the fingerprint of the first request and its response."""

    __tablename__ = "platform_idempotency_key"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # in_progress | completed
    lock_token: Mapped[str] = mapped_column(String(40))
    locked_until: Mapped[datetime]
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_platform_idempotency_key_scope_key", "scope", "key", unique=True),
        Index("ix_platform_idempotency_key_expires_at", "expires_at"),
    )


class ScheduledJob(Base):
    """When each periodic job is next due; claimed with a conditional UPDATE so only one of
    many schedulers enqueues each run."""

    __tablename__ = "platform_schedule"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
