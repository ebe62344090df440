"""Every query of the compliance context: the chain head, appends, filtered lists, chain scans.

Audit data is platform-wide (read by admins and support only), so there is no tenancy filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Row, Select, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.compliance.domain import GENESIS_HASH, HASHED_FIELDS, AuditFilters
from marketplace.compliance.models import HEAD_ID, AuditHead, AuditLogEntry
from marketplace.platform.clock import utcnow
from marketplace.platform.db import insert_ignore

_LOCK_HEAD = (
    select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == HEAD_ID).with_for_update()
)


async def lock_head(session: AsyncSession, *, dialect: str) -> tuple[int, str]:
    """Lock the chain head until the transaction ends and return (last_seq, last_hash).

    On SQLite `FOR UPDATE` is not rendered: the single connection already serialises writers.
    """
    row = (await session.execute(_LOCK_HEAD)).one_or_none()
    if row is None:
        # First append ever (or after tables were emptied). Concurrent first appends both try
        # the insert; the loser's is ignored and its lock below waits for the winner.
        head_table = cast(Table, AuditHead.__table__)
        initial = {"id": HEAD_ID, "last_seq": 0, "last_hash": GENESIS_HASH, "updated_at": utcnow()}
        await session.execute(insert_ignore(head_table, dialect, [initial]))
        row = (await session.execute(_LOCK_HEAD)).one()
    return int(row.last_seq), str(row.last_hash)


async def read_head(session: AsyncSession) -> tuple[int, str] | None:
    stmt = select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (int(row.last_seq), str(row.last_hash))


async def insert_entries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await session.execute(insert(AuditLogEntry), list(rows))


async def move_head(session: AsyncSession, *, last_seq: int, last_hash: str) -> None:
    await session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(last_seq=last_seq, last_hash=last_hash, updated_at=utcnow())
    )


def filtered(filters: AuditFilters) -> Select[AuditLogEntry]:
    stmt = select(AuditLogEntry)
    if filters.actor_id is not None:
        stmt = stmt.where(AuditLogEntry.actor_id == filters.actor_id)
    if filters.resource_type is not None:
        stmt = stmt.where(AuditLogEntry.resource_type == filters.resource_type)
    if filters.resource_id is not None:
        stmt = stmt.where(AuditLogEntry.resource_id == filters.resource_id)
    if filters.action is not None:
        stmt = stmt.where(AuditLogEntry.action == filters.action)
    if filters.occurred_from is not None:
        stmt = stmt.where(AuditLogEntry.occurred_at >= filters.occurred_from)
    if filters.occurred_to is not None:
        stmt = stmt.where(AuditLogEntry.occurred_at < filters.occurred_to)
    return stmt


_CHAIN_COLUMNS = [getattr(AuditLogEntry, name) for name in (*HASHED_FIELDS, "hash")]


async def chain_rows_after(session: AsyncSession, *, seq: int, limit: int) -> Sequence[Row[Any]]:
    """The next `limit` rows after `seq`, in chain order, as plain rows (no identity map)."""
    stmt = (
        select(*_CHAIN_COLUMNS)
        .where(AuditLogEntry.seq > seq)
        .order_by(AuditLogEntry.seq)
        .limit(limit)
    )
    return (await session.execute(stmt)).all()


async def entry_id_at(session: AsyncSession, seq: int) -> str | None:
    return await session.scalar(select(AuditLogEntry.id).where(AuditLogEntry.seq == seq))


async def trail(
    session: AsyncSession, *, resource_type: str, resource_id: str, limit: int
) -> Sequence[AuditLogEntry]:
    stmt = (
        filtered(AuditFilters(resource_type=resource_type, resource_id=resource_id))
        .order_by(AuditLogEntry.seq.desc())
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()
