"""Tables of the compliance context: the append-only audit log and its chain head."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base
from marketplace.platform.models import BigIntPK

HEAD_ID = 1


class AuditLogEntry(Base):
    """One state-changing action by an admin or a vendor, chained to the entry before it.

    Rows are only ever inserted. `seq` is the chain position: assigned from the head under
    its lock (gap-free, covered by the hash), so the autoincrement default is never used.
    `hash` = SHA-256 over every other column (see `domain.entry_hash`).
    """

    __tablename__ = "compliance_audit_log"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    occurred_at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(120))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(128))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    # Lists are newest first (seq descending): ending each filter index with seq lets the
    # database read a filtered page straight off the index.
    __table_args__ = (
        Index("ix_compliance_audit_log_actor", "actor_id", "seq"),
        Index("ix_compliance_audit_log_resource", "resource_type", "resource_id", "seq"),
        Index("ix_compliance_audit_log_occurred_at", "occurred_at"),
    )


class AuditHead(Base):
    """The tip of the chain, in a single row (id 1), and the lock every append takes.

    Appends lock this row (`SELECT ... FOR UPDATE`), so chain positions are handed out one
    transaction at a time; verification compares the last row with it, which is how rows cut
    off the end of the chain are noticed.
    """

    __tablename__ = "compliance_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]

    __table_args__ = (CheckConstraint(f"id = {HEAD_ID}", name="single_row"),)
