"""The compliance facade other contexts call: record an audit entry, read a resource's trail.

Every state-changing use case run by an admin or a vendor calls `record_audit` with the
unit of work it changes state in. Recording is synchronous and touches no database: the
entries wait in the unit of work and are chained and written by a before-commit hook, inside
the same transaction as the change. So the change and its audit rows commit together or not
at all, and the chain lock is held only for the moment of the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from marketplace.compliance import service
from marketplace.compliance.domain import FieldChange, PendingEntry, diff
from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork

__all__ = ["AUDIT_KEY", "AuditEntry", "audit_trail", "record_audit"]

AUDIT_KEY: Final = "compliance.audit"

# Column widths (models.py): a value that does not fit would fail the whole transaction at
# commit on PostgreSQL, far from the call that caused it, so it is refused at the call.
_LIMITS: Final = {
    "actor_id": 64,
    "actor_role": 32,
    "action": 120,
    "resource_type": 64,
    "resource_id": 128,
}
_IP_MAX: Final = 64
_TRAIL_MAX: Final = 500


def _pending(uow: UnitOfWork) -> list[PendingEntry]:
    entries = uow.extras.setdefault(AUDIT_KEY, [])
    assert isinstance(entries, list)
    return entries


def record_audit(
    uow: UnitOfWork,
    *,
    actor_id: str,
    actor_role: str,
    action: str,
    resource_type: str,
    resource_id: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record that `actor_id` (as `actor_role`) did `action` (e.g. "vendor.approved") to a
    resource, with the fields that changed between `before` and `after`.

    Written when `uow` commits, in its transaction; dropped if it rolls back. The changed
    fields are computed now, so later mutations of `before`/`after` do not leak in; sensitive
    values are masked before anything is stored.
    """
    values = {
        "actor_id": actor_id,
        "actor_role": actor_role,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
    }
    for name, value in values.items():
        if not value or len(value) > _LIMITS[name]:
            raise ValueError(f"audit {name} must be 1 to {_LIMITS[name]} characters: {value!r}")
    ip = uow.client_ip[:_IP_MAX] if uow.client_ip else None
    _pending(uow).append(
        PendingEntry(
            id=new_id("aud"),
            occurred_at=utcnow(),
            actor_id=actor_id,
            actor_role=actor_role,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            changes=diff(before, after),
            request_id=uow.request_id,
            ip=ip,
        )
    )
    uow.before_commit(AUDIT_KEY, _append_pending)


async def _append_pending(uow: UnitOfWork) -> None:
    entries = uow.extras.pop(AUDIT_KEY, None)
    if isinstance(entries, list) and entries:
        await service.append_entries(uow.session, dialect=uow.dialect, entries=entries)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An audit entry as other contexts see it (the chain fields stay internal)."""

    id: str
    seq: int
    occurred_at: datetime
    actor_id: str
    actor_role: str
    action: str
    resource_type: str
    resource_id: str
    changes: dict[str, FieldChange]
    request_id: str | None
    ip: str | None


async def audit_trail(
    uow: UnitOfWork, *, resource_type: str, resource_id: str, limit: int = 100
) -> list[AuditEntry]:
    """The newest `limit` (at most 500) committed entries about one resource, newest first."""
    rows = await service.resource_trail(
        uow.session,
        resource_type=resource_type,
        resource_id=resource_id,
        limit=max(1, min(limit, _TRAIL_MAX)),
    )
    return [
        AuditEntry(
            id=row.id,
            seq=row.seq,
            occurred_at=row.occurred_at,
            actor_id=row.actor_id,
            actor_role=row.actor_role,
            action=row.action,
            resource_type=row.resource_type,
            resource_id=row.resource_id,
            changes=row.changes,
            request_id=row.request_id,
            ip=row.ip,
        )
        for row in rows
    ]
