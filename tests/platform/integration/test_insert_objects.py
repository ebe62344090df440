"""`insert_objects`: new mapped objects written with one Core INSERT per table, in the order
their tables first appear, with the column defaults of attributes left unset."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database, insert_objects
from marketplace.platform.ids import new_id
from marketplace.platform.models import IdempotencyKey, OutboxMessage


async def test_rows_of_a_table_go_in_one_statement_in_first_seen_order(
    db: Database, session: AsyncSession
) -> None:
    now = utcnow()
    messages = [
        OutboxMessage(
            id=new_id("msg"),
            kind="event",
            name=f"tests.thing_{i}.v1",
            payload={"n": i},
            request_id=None,
            occurred_at=now,
        )
        for i in range(3)
    ]
    key = IdempotencyKey(
        id=new_id("idk"),
        scope="usr_x",
        key="k-1",
        fingerprint="f",
        status="in_progress",
        lock_token="lck_1",
        locked_until=now,
        created_at=now,
        expires_at=now,
    )
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT"):  # the test session's SAVEPOINT is not ours
            seen.append(" ".join(statement.split()[:3]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await insert_objects(session, [messages[0], key, messages[1], messages[2]])
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)

    assert seen == [
        "INSERT INTO platform_outbox_message",
        "INSERT INTO platform_idempotency_key",
    ]
    rows = (
        await session.execute(
            select(OutboxMessage.name, OutboxMessage.payload, OutboxMessage.published_at)
            .where(OutboxMessage.id.in_([m.id for m in messages]))
            .order_by(OutboxMessage.seq)
        )
    ).all()
    # In the given order (seq is assigned by the database), unset columns at their default.
    assert [tuple(r) for r in rows] == [
        ("tests.thing_0.v1", {"n": 0}, None),
        ("tests.thing_1.v1", {"n": 1}, None),
        ("tests.thing_2.v1", {"n": 2}, None),
    ]
    stored = await session.scalar(select(IdempotencyKey.status).where(IdempotencyKey.id == key.id))
    assert stored == "in_progress"
    # The objects were not added to the session: nothing more is written at flush.
    assert not session.new
