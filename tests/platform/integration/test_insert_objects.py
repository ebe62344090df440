"""`insert_objects`: new mapped objects written with one Core INSERT per table, in the order
their tables first appear, with the column defaults of attributes left unset."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database, row_of, transient
from marketplace.platform.direct import insert_objects
from marketplace.platform.ids import new_id
from marketplace.platform.models import IdempotencyKey, OutboxMessage
from marketplace.platform.uow import UnitOfWork


def _inserts(words: list[str]) -> list[int]:
    return [i for i, word in enumerate(words) if word == "INSERT"]


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
        if statement.startswith(("INSERT", "WITH")):  # the test session's SAVEPOINT is not ours
            words = statement.replace("(", " ").split()
            seen.append(" + ".join(" ".join(words[i : i + 3]) for i in _inserts(words)))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await insert_objects(session, [messages[0], key, messages[1], messages[2]])
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)

    # On PostgreSQL both tables' rows go in one statement; elsewhere one INSERT per table.
    if db.dialect == "postgresql":
        assert seen == [
            "INSERT INTO platform_outbox_message + INSERT INTO platform_idempotency_key"
        ]
    else:
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


async def test_a_transient_object_is_the_one_the_constructor_makes(
    db: Database, session: AsyncSession
) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id("msg"),
        "kind": "job",
        "name": "tests.transient",
        "payload": {"n": 1},
        "request_id": None,
        "occurred_at": now,
    }
    built = transient(OutboxMessage, **values)
    constructed = OutboxMessage(**values)

    assert row_of(built) == row_of(constructed) == values
    assert (built.name, built.payload, built.published_at) == ("tests.transient", {"n": 1}, None)
    built.name = "tests.renamed"  # instrumented as usual after it is made
    assert row_of(built)["name"] == "tests.renamed"
    with pytest.raises(TypeError, match="no column attribute colour"):
        transient(OutboxMessage, colour="red", **values)

    await insert_objects(session, [built])
    stored = await session.scalar(select(OutboxMessage.name).where(OutboxMessage.id == built.id))
    assert stored == "tests.renamed"


async def test_new_rows_are_written_with_the_messages_and_dropped_by_a_rollback(
    db: Database, session: AsyncSession
) -> None:
    now = utcnow()

    def key(name: str) -> IdempotencyKey:
        return transient(
            IdempotencyKey,
            id=new_id("idk"),
            scope="usr_x",
            key=name,
            fingerprint="f",
            status="in_progress",
            lock_token="lck_1",
            locked_until=now,
            created_at=now,
            expires_at=now,
        )

    async def keys() -> list[str]:
        async with db.session() as reader:
            found = await reader.scalars(
                select(IdempotencyKey.key).where(IdempotencyKey.scope == "usr_x")
            )
            return sorted(found)

    dropped = UnitOfWork(db)
    dropped.add_new(key("dropped"))
    await dropped.rollback()
    await dropped.commit()
    await dropped.close()

    kept = UnitOfWork(db)
    kept.add_new(key("kept-1"), key("kept-2"))
    kept.enqueue("tests.after_new_rows")
    assert await keys() == []  # nothing written before the flush
    await kept.flush()
    await kept.commit()
    await kept.close()

    assert await keys() == ["kept-1", "kept-2"]
