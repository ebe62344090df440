"""Audit-log use cases: append pending entries to the chain, list entries, verify the chain.

Nothing here commits: appends run inside the recording unit of work's commit (see
`public.record_audit`), reads inside the request's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.compliance import repository
from marketplace.compliance.domain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    AuditFilters,
    BrokenEntry,
    ChainVerification,
    PendingEntry,
    chain,
    entry_hash,
)
from marketplace.compliance.models import AuditLogEntry
from marketplace.platform.pagination import PageParams, SortKey, paginate

VERIFY_BATCH_SIZE = 500


async def append_entries(
    session: AsyncSession, *, dialect: str, entries: Sequence[PendingEntry]
) -> None:
    """Chain `entries` after the current tip and store them, in the caller's transaction."""
    if not entries:
        return
    # Write the use case's own changes first, so the head lock is the last lock this
    # transaction takes: it cannot then wait on a row held by a transaction that is itself
    # waiting for the head (no deadlock), and the head is held only until the commit.
    await session.flush()
    last_seq, last_hash = await repository.lock_head(session, dialect=dialect)
    rows, new_seq, new_hash = chain(entries, last_seq=last_seq, last_hash=last_hash)
    await repository.insert_entries(session, rows)
    await repository.move_head(session, last_seq=new_seq, last_hash=new_hash)


async def list_audit_logs(
    session: AsyncSession, *, filters: AuditFilters, page: PageParams
) -> tuple[list[AuditLogEntry], str | None]:
    """Entries matching `filters`, newest (highest seq) first, one keyset page at a time."""
    return await paginate(
        session,
        repository.filtered(filters),
        keys=[SortKey(AuditLogEntry.seq, descending=True)],
        params=page,
        cursor_of=lambda entry: (entry.seq,),
    )


async def resource_trail(
    session: AsyncSession, *, resource_type: str, resource_id: str, limit: int
) -> Sequence[AuditLogEntry]:
    return await repository.trail(
        session, resource_type=resource_type, resource_id=resource_id, limit=limit
    )


async def verify_chain(
    session: AsyncSession, *, batch_size: int = VERIFY_BATCH_SIZE
) -> ChainVerification:
    """Walk the chain in seq order, `batch_size` rows at a time, and stop at the first break.

    Each row must link to the previous row's hash and hash to its own stored hash; the last
    row must be the head. Entries committed while the walk runs are walked too (the head is
    read after the rows, and is moved in the same transaction as the rows it points to).
    """
    checked = 0
    last_seq, last_hash = 0, GENESIS_HASH
    while True:
        walked_any = False
        while True:
            rows = await repository.chain_rows_after(session, seq=last_seq, limit=batch_size)
            for row in rows:
                checked += 1
                fields = row._asdict()
                if fields["prev_hash"] != last_hash:
                    broken = BrokenEntry(seq=fields["seq"], id=fields["id"], reason="broken_link")
                    return ChainVerification(valid=False, checked=checked, first_broken=broken)
                recomputed = entry_hash(fields["prev_hash"], {k: fields[k] for k in HASHED_FIELDS})
                if recomputed != fields["hash"]:
                    broken = BrokenEntry(seq=fields["seq"], id=fields["id"], reason="hash_mismatch")
                    return ChainVerification(valid=False, checked=checked, first_broken=broken)
                last_seq, last_hash = fields["seq"], fields["hash"]
                walked_any = True
            if len(rows) < batch_size:
                break
        head = await repository.read_head(session) or (0, GENESIS_HASH)
        if head[0] > last_seq and walked_any:
            # Appends committed after our last batch: the head already counts them.
            continue
        if head != (last_seq, last_hash):
            broken = BrokenEntry(
                seq=head[0],
                id=await repository.entry_id_at(session, head[0]),
                reason="head_mismatch",
            )
            return ChainVerification(valid=False, checked=checked, first_broken=broken)
        return ChainVerification(valid=True, checked=checked)
