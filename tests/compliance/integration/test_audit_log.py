"""The audit log on a real database: same-transaction writes, the hash chain, its verification."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.bootstrap import Container
from marketplace.compliance import repository
from marketplace.compliance.domain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    AuditFilters,
    BrokenEntry,
    ChainVerification,
    entry_hash,
)
from marketplace.compliance.models import AuditHead, AuditLogEntry
from marketplace.compliance.public import AUDIT_KEY, audit_trail, record_audit
from marketplace.compliance.service import list_audit_logs, verify_chain
from marketplace.platform.models import OutboxMessage
from marketplace.platform.pagination import PageParams
from support import NoteWritten, count_notes

AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _entry(n: int, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "actor_id": "usr_admin",
        "actor_role": "admin",
        "action": f"vendor.step_{n}",
        "resource_type": "vendor",
        "resource_id": "vnd_1",
        "before": {"step": n - 1},
        "after": {"step": n},
    }
    entry.update(overrides)
    return entry


async def _record(
    container: Container,
    *entries: dict[str, Any],
    request_id: str | None = None,
    client_ip: str | None = None,
) -> None:
    async with container.uow_factory(request_id=request_id, client_ip=client_ip) as uow:
        for entry in entries:
            record_audit(uow, **entry)
        await uow.commit()


async def _rows(session: AsyncSession) -> list[AuditLogEntry]:
    return list((await session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.seq))).all())


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditLogEntry)) or 0)


async def _head(session: AsyncSession) -> tuple[int, str] | None:
    row = (await session.execute(select(AuditHead.last_seq, AuditHead.last_hash))).one_or_none()
    return None if row is None else (row.last_seq, row.last_hash)


def _assert_chained(rows: list[AuditLogEntry]) -> None:
    prev_hash = GENESIS_HASH
    for position, row in enumerate(rows, start=1):
        fields = {name: getattr(row, name) for name in HASHED_FIELDS}
        assert row.seq == position
        assert row.prev_hash == prev_hash
        assert row.hash == entry_hash(prev_hash, fields)
        prev_hash = row.hash


# --- writing --------------------------------------------------------------------------------


async def test_entries_are_chained_in_commit_order_with_every_field(
    container: Container, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("marketplace.compliance.public.utcnow", lambda: AT)

    await _record(container, _entry(1), _entry(2), request_id="req-a", client_ip="203.0.113.7")
    await _record(
        container,
        _entry(3, actor_id="usr_owner", actor_role="vendor_owner", before=None, after=None),
        request_id="req-b",
        client_ip="2001:db8::1",
    )

    rows = await _rows(session)
    assert [
        (
            r.seq,
            r.occurred_at,
            r.actor_id,
            r.actor_role,
            r.action,
            r.resource_type,
            r.resource_id,
            r.changes,
            r.request_id,
            r.ip,
        )
        for r in rows
    ] == [
        (
            1,
            AT,
            "usr_admin",
            "admin",
            "vendor.step_1",
            "vendor",
            "vnd_1",
            {"step": {"before": 0, "after": 1}},
            "req-a",
            "203.0.113.7",
        ),
        (
            2,
            AT,
            "usr_admin",
            "admin",
            "vendor.step_2",
            "vendor",
            "vnd_1",
            {"step": {"before": 1, "after": 2}},
            "req-a",
            "203.0.113.7",
        ),
        (
            3,
            AT,
            "usr_owner",
            "vendor_owner",
            "vendor.step_3",
            "vendor",
            "vnd_1",
            {},
            "req-b",
            "2001:db8::1",
        ),
    ]
    assert all(r.id.startswith("aud_") and len(r.id) == 30 for r in rows)
    assert rows[0].id < rows[1].id < rows[2].id
    _assert_chained(rows)
    assert await _head(session) == (3, rows[2].hash)


async def test_the_audit_row_commits_with_the_change_it_describes(
    container: Container, session: AsyncSession
) -> None:
    async with container.uow_factory() as uow:
        uow.publish(NoteWritten(text="vendor approved"))
        record_audit(uow, **_entry(1))
        await uow.commit()

    assert await count_notes(session) == 1
    assert await _count(session) == 1


async def test_a_rolled_back_unit_of_work_writes_no_audit_row(
    container: Container, session: AsyncSession
) -> None:
    await _record(container, _entry(1))
    head_before = await _head(session)

    async with container.uow_factory() as uow:
        uow.publish(NoteWritten(text="will fail"))
        record_audit(uow, **_entry(2))
        await uow.flush()
        # Leaving without commit() is a rollback (as when the use case raises).

    async def failing_use_case() -> None:
        async with container.uow_factory() as uow:
            record_audit(uow, **_entry(3))
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError, match="use case failed"):
        await failing_use_case()

    assert await _count(session) == 1
    assert await _head(session) == head_before
    assert await count_notes(session) == 0
    assert [r.action for r in await _rows(session)] == ["vendor.step_1"]


async def test_recording_touches_no_database_until_commit(container: Container) -> None:
    async with container.uow_factory() as uow:
        record_audit(uow, **_entry(1))
        record_audit(uow, **_entry(2))

        pending = uow.extras[AUDIT_KEY]
        assert isinstance(pending, list)
        assert [entry.action for entry in pending] == ["vendor.step_1", "vendor.step_2"]
        # No connection was taken: the session opens lazily on first use.
        assert uow._session is None


async def test_invalid_entries_are_refused_at_the_call(
    container: Container, session: AsyncSession
) -> None:
    async with container.uow_factory() as uow:
        with pytest.raises(ValueError, match="audit actor_id must be 1 to 64 characters"):
            record_audit(uow, **_entry(1, actor_id=""))
        with pytest.raises(ValueError, match="audit action must be 1 to 120 characters"):
            record_audit(uow, **_entry(1, action="x" * 121))
        assert AUDIT_KEY not in uow.extras
        await uow.commit()

    assert await _count(session) == 0
    assert await _head(session) is None


async def test_secrets_are_never_stored_in_clear(
    container: Container, session: AsyncSession
) -> None:
    await _record(
        container,
        _entry(
            1,
            action="payout_account.changed",
            before={"password": "Old-Passw0rd!", "iban": "DE89370400440532013000"},
            after={"password": "New-Passw0rd!", "iban": "GB82WEST12345698765432"},
        ),
    )

    rows = await _rows(session)
    assert rows[0].changes == {
        "iban": {"before": "****3000", "after": "****5432"},
        "password": {"before": "[REDACTED]", "after": "[REDACTED]"},
    }
    raw = (await session.execute(text("SELECT * FROM compliance_audit_log"))).all()
    stored = repr(raw)
    for secret in ("Old-Passw0rd!", "New-Passw0rd!", "DE89370400440532013000", "GB82WEST1234"):
        assert secret not in stored


# --- verifying ------------------------------------------------------------------------------


async def test_an_empty_log_verifies(session: AsyncSession) -> None:
    assert await verify_chain(session) == ChainVerification(valid=True, checked=0)


async def test_an_intact_chain_verifies_in_batches(
    container: Container, session: AsyncSession
) -> None:
    await _record(container, _entry(1), _entry(2))
    await _record(container, _entry(3), _entry(4), _entry(5))

    assert await verify_chain(session) == ChainVerification(valid=True, checked=5)
    assert await verify_chain(session, batch_size=2) == ChainVerification(valid=True, checked=5)
    assert await verify_chain(session, batch_size=5) == ChainVerification(valid=True, checked=5)


async def test_entries_committed_during_the_walk_are_walked_too(
    container: Container, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _record(container, _entry(1), _entry(2))
    real_read_head = repository.read_head
    appended = False

    async def read_head_after_an_append(s: AsyncSession) -> tuple[int, str] | None:
        # Another transaction commits between the walk's last batch and its head read.
        nonlocal appended
        if not appended:
            appended = True
            await _record(container, _entry(3), _entry(4))
        return await real_read_head(s)

    monkeypatch.setattr(repository, "read_head", read_head_after_an_append)

    assert await verify_chain(session) == ChainVerification(valid=True, checked=4)
    assert appended


async def test_a_tampered_field_is_reported_at_exactly_that_row(
    container: Container, session: AsyncSession
) -> None:
    await _record(container, _entry(1), _entry(2), _entry(3), _entry(4))
    rows = await _rows(session)

    await session.execute(
        text("UPDATE compliance_audit_log SET actor_id = 'usr_someone_else' WHERE seq = 2")
    )

    assert await verify_chain(session, batch_size=3) == ChainVerification(
        valid=False,
        checked=2,
        first_broken=BrokenEntry(seq=2, id=rows[1].id, reason="hash_mismatch"),
    )


async def test_a_tampered_change_record_is_reported(
    container: Container, session: AsyncSession
) -> None:
    await _record(container, _entry(1), _entry(2), _entry(3))
    rows = await _rows(session)

    # Rewriting what changed, even keeping the JSON valid, breaks the row's hash.
    await session.execute(
        text(
            "UPDATE compliance_audit_log SET changes = "
            """'{"step": {"before": 2, "after": 99}}' WHERE seq = 3"""
        )
    )

    assert await verify_chain(session) == ChainVerification(
        valid=False,
        checked=3,
        first_broken=BrokenEntry(seq=3, id=rows[2].id, reason="hash_mismatch"),
    )


async def test_a_deleted_middle_row_breaks_the_link_of_the_next(
    container: Container, session: AsyncSession
) -> None:
    await _record(container, _entry(1), _entry(2), _entry(3), _entry(4))
    rows = await _rows(session)

    await session.execute(text("DELETE FROM compliance_audit_log WHERE seq = 2"))

    assert await verify_chain(session) == ChainVerification(
        valid=False,
        checked=2,
        first_broken=BrokenEntry(seq=3, id=rows[2].id, reason="broken_link"),
    )


async def test_a_rehashed_row_breaks_the_link_of_the_next(
    container: Container, session: AsyncSession
) -> None:
    await _record(container, _entry(1), _entry(2), _entry(3))
    rows = await _rows(session)
    forged = {name: getattr(rows[0], name) for name in HASHED_FIELDS} | {"actor_id": "usr_x"}

    # A forger who also recomputes the row's hash moves the break to the next row's link.
    await session.execute(
        text("UPDATE compliance_audit_log SET actor_id = 'usr_x', hash = :hash WHERE seq = 1"),
        {"hash": entry_hash(GENESIS_HASH, forged)},
    )

    assert await verify_chain(session) == ChainVerification(
        valid=False,
        checked=2,
        first_broken=BrokenEntry(seq=2, id=rows[1].id, reason="broken_link"),
    )


async def test_rows_cut_off_the_end_are_reported_against_the_head(
    container: Container, session: AsyncSession
) -> None:
    await _record(container, _entry(1), _entry(2), _entry(3))

    await session.execute(text("DELETE FROM compliance_audit_log WHERE seq = 3"))

    assert await verify_chain(session) == ChainVerification(
        valid=False,
        checked=2,
        first_broken=BrokenEntry(seq=3, id=None, reason="head_mismatch"),
    )

    await session.execute(text("DELETE FROM compliance_audit_log"))
    assert await verify_chain(session) == ChainVerification(
        valid=False,
        checked=0,
        first_broken=BrokenEntry(seq=3, id=None, reason="head_mismatch"),
    )


async def test_a_tampered_head_is_reported(container: Container, session: AsyncSession) -> None:
    await _record(container, _entry(1), _entry(2))
    rows = await _rows(session)

    await session.execute(text(f"UPDATE compliance_audit_head SET last_hash = '{'e' * 64}'"))

    assert await verify_chain(session) == ChainVerification(
        valid=False,
        checked=2,
        first_broken=BrokenEntry(seq=2, id=rows[1].id, reason="head_mismatch"),
    )


# --- reading --------------------------------------------------------------------------------


async def _seed_for_filters(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([AT, AT + timedelta(hours=1), AT + timedelta(hours=2), AT + timedelta(hours=3)])
    monkeypatch.setattr("marketplace.compliance.public.utcnow", lambda: next(times))
    await _record(
        container,
        _entry(1, action="vendor.approved"),
        _entry(
            2,
            actor_id="usr_owner",
            actor_role="vendor_owner",
            action="product.updated",
            resource_type="product",
            resource_id="prd_1",
        ),
    )
    await _record(
        container,
        _entry(3, action="vendor.suspended", resource_id="vnd_2"),
        _entry(
            4,
            actor_id="usr_owner",
            actor_role="vendor_owner",
            action="product.updated",
            resource_type="product",
            resource_id="prd_2",
        ),
    )


@pytest.mark.parametrize(
    ("filters", "expected_seqs"),
    [
        (AuditFilters(), [4, 3, 2, 1]),
        (AuditFilters(actor_id="usr_owner"), [4, 2]),
        (AuditFilters(resource_type="vendor"), [3, 1]),
        (AuditFilters(resource_type="vendor", resource_id="vnd_2"), [3]),
        (AuditFilters(action="product.updated"), [4, 2]),
        (AuditFilters(occurred_from=AT + timedelta(hours=1)), [4, 3, 2]),
        (AuditFilters(occurred_to=AT + timedelta(hours=1)), [1]),
        (AuditFilters(actor_id="usr_nobody"), []),
    ],
)
async def test_listing_filters_newest_first_in_one_query(
    container: Container,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    filters: AuditFilters,
    expected_seqs: list[int],
) -> None:
    await _seed_for_filters(container, monkeypatch)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sync_engine = container.db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        rows, cursor = await list_audit_logs(
            session, filters=filters, page=PageParams(limit=10, cursor=None)
        )
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)

    assert [r.seq for r in rows] == expected_seqs
    assert cursor is None
    # The test session's first statement also opens its SAVEPOINT; that is not the list's.
    queries = [s for s in statements if not s.startswith("SAVEPOINT")]
    assert len(queries) == 1


async def test_listing_pages_with_a_cursor(
    container: Container, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed_for_filters(container, monkeypatch)

    first, cursor = await list_audit_logs(
        session, filters=AuditFilters(), page=PageParams(limit=3, cursor=None)
    )
    assert cursor is not None
    second, end = await list_audit_logs(
        session, filters=AuditFilters(), page=PageParams(limit=3, cursor=cursor)
    )

    assert ([r.seq for r in first], [r.seq for r in second], end) == ([4, 3, 2], [1], None)


async def test_a_resource_trail_for_other_contexts(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed_for_filters(container, monkeypatch)

    async with container.uow_factory() as uow:
        trail = await audit_trail(uow, resource_type="product", resource_id="prd_2")
        empty = await audit_trail(uow, resource_type="product", resource_id="prd_9")

    assert empty == []
    assert [(e.seq, e.actor_id, e.action, e.occurred_at, e.changes) for e in trail] == [
        (
            4,
            "usr_owner",
            "product.updated",
            AT + timedelta(hours=3),
            {"step": {"before": 3, "after": 4}},
        ),
    ]


# --- concurrency ----------------------------------------------------------------------------


async def test_concurrent_units_of_work_build_one_unbroken_chain(
    live_container: Container,
) -> None:
    start = asyncio.Event()

    async def one_use_case(worker: int) -> None:
        async with live_container.uow_factory(request_id=f"req-{worker}") as uow:
            # Open the transaction and write the change first, so all 20 are in flight
            # together and contend for the chain head at commit.
            uow.publish(NoteWritten(text=f"change {worker}"))
            await uow.flush()
            for step in range(3):
                record_audit(uow, **_entry(step + 1, resource_id=f"vnd_{worker}"))
            await start.wait()
            await uow.commit()

    tasks = [asyncio.create_task(one_use_case(worker)) for worker in range(20)]
    await asyncio.sleep(0.05)
    start.set()
    await asyncio.gather(*tasks)

    async with live_container.db.session() as session:
        rows = await _rows(session)
        notes = await session.scalar(select(func.count()).select_from(OutboxMessage))
        head = await _head(session)
        verification = await verify_chain(session, batch_size=7)

    assert len(rows) == 60
    assert notes == 20
    _assert_chained(rows)
    assert head == (60, rows[-1].hash)
    assert verification == ChainVerification(valid=True, checked=60)
    # Each unit of work's entries sit together, in the order it recorded them.
    by_request: dict[str | None, list[AuditLogEntry]] = {}
    for row in rows:
        by_request.setdefault(row.request_id, []).append(row)
    assert len(by_request) == 20
    for entries in by_request.values():
        assert [e.seq for e in entries] == list(range(entries[0].seq, entries[0].seq + 3))
        assert [e.action for e in entries] == ["vendor.step_1", "vendor.step_2", "vendor.step_3"]
        assert len({e.resource_id for e in entries}) == 1
