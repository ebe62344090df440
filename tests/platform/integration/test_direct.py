"""`platform.direct.execute`: a prebuilt statement run on the driver answers, writes, fails
and is seen exactly as through `session.execute`, inside the session's transaction. On
SQLite it is `session.execute`, and every test here but the one needing a second connection
holds on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.platform import direct
from marketplace.platform.clock import utcnow
from marketplace.platform.db import (
    Database,
    insert_ignore_rows,
    is_unique_violation,
    take_written_tables,
    transient,
)
from marketplace.platform.direct import insert_objects
from marketplace.platform.ids import new_id
from marketplace.platform.models import Delivery, IdempotencyKey, OutboxMessage

_messages = OutboxMessage.__table__
_deliveries = Delivery.__table__
_keys = IdempotencyKey.__table__

_MESSAGES_NAMED = (
    select(_messages.c.id, _messages.c.payload, _messages.c.occurred_at, _messages.c.published_at)
    .where(_messages.c.name.in_(bindparam("the_names", expanding=True)))
    .order_by(_messages.c.seq)
)
_ADD_MESSAGE = insert(_messages)
_ADD_DELIVERY = insert(_deliveries)
_ADD_KEY = insert(_keys)
_COMPLETE_KEY = update(_keys).where(_keys.c.id == bindparam("the_key")).values(status="completed")
_DELIVERIES_OF = (
    select(_deliveries.c.id, _deliveries.c.status, _deliveries.c.attempts)
    .where(_deliveries.c.message_id == bindparam("the_message"))
    .order_by(_deliveries.c.id)
)


def _message(name: str, **payload: Any) -> dict[str, Any]:
    return {
        "id": new_id("msg"),
        "kind": "event",
        "name": name,
        "payload": payload,
        "request_id": None,
        "occurred_at": utcnow(),
    }


def _key(key: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": new_id("idk"),
        "scope": "usr_direct",
        "key": key,
        "fingerprint": "f",
        "status": "in_progress",
        "lock_token": "lck_1",
        "locked_until": now,
        "created_at": now,
        "expires_at": now + timedelta(hours=1),
    }


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE")):
            seen.append(statement.split()[0])

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_rows_read_by_name_position_and_mapping_as_the_session_reads_them(
    session: AsyncSession,
) -> None:
    first, second, other = _message("tests.a.v1", n=1), _message("tests.b.v1"), _message("x.v1")
    await direct.execute(session, _ADD_MESSAGE, [first, second, other])
    params = {"the_names": ["tests.a.v1", "tests.b.v1"]}

    answered = (await direct.execute(session, _MESSAGES_NAMED, params)).all()
    through_session = (await session.execute(_MESSAGES_NAMED, params)).all()

    assert [tuple(row) for row in answered] == [tuple(row) for row in through_session]
    assert [row.id for row in answered] == [first["id"], second["id"]]
    assert answered[0].payload == {"n": 1}
    assert answered[0].occurred_at == first["occurred_at"]
    assert answered[0].occurred_at.utcoffset() == timedelta(0)
    assert answered[1][3] is None
    assert dict(answered[0]._mapping) == dict(through_session[0]._mapping)
    # An empty list matches nothing, as an empty IN does.
    assert (await direct.execute(session, _MESSAGES_NAMED, {"the_names": []})).all() == []


async def test_an_insert_fills_the_columns_python_defaults_and_an_update_counts_rows(
    session: AsyncSession,
) -> None:
    message = _message("tests.defaults.v1")
    await direct.execute(session, _ADD_MESSAGE, message)
    now = utcnow()
    rows = [
        {"id": f"dlv_direct_{i}", "message_id": message["id"], "handler": f"h{i}"}
        | {"next_attempt_at": now, "created_at": now}
        for i in range(2)
    ]
    await direct.execute(session, _ADD_DELIVERY, rows)

    stored = (await direct.execute(session, _DELIVERIES_OF, {"the_message": message["id"]})).all()
    assert [tuple(row) for row in stored] == [
        ("dlv_direct_0", "pending", 0),
        ("dlv_direct_1", "pending", 0),
    ]
    moved = await direct.execute(
        session,
        update(_deliveries)
        .where(_deliveries.c.message_id == bindparam("the_message"))
        .values(attempts=_deliveries.c.attempts + 1),
        {"the_message": message["id"]},
    )
    assert moved.rowcount == 2


async def test_an_update_sets_the_columns_its_parameters_name(session: AsyncSession) -> None:
    key = _key("k-update")
    await direct.execute(session, _ADD_KEY, key)

    done = await direct.execute(
        session,
        _COMPLETE_KEY,
        {"the_key": key["id"], "response_status": 201, "response_body": b"{}"},
    )

    assert done.rowcount == 1
    stored = (
        await session.execute(
            select(_keys.c.status, _keys.c.response_status, _keys.c.response_body).where(
                _keys.c.id == key["id"]
            )
        )
    ).one()
    assert tuple(stored) == ("completed", 201, b"{}")


async def test_a_unique_violation_is_sqlalchemys_integrity_error_and_changes_nothing(
    db: Database,
) -> None:
    async with db.session() as session:
        await direct.execute(session, _ADD_KEY, _key("k-twice"))
        await session.commit()
    async with db.session() as session:
        with pytest.raises(IntegrityError) as raised:
            await direct.execute(session, _ADD_KEY, _key("k-twice"))
        assert is_unique_violation(raised.value)
        await session.rollback()
        rows = (await session.execute(select(_keys.c.id).where(_keys.c.key == "k-twice"))).all()
        assert len(rows) == 1


async def test_statements_run_in_the_sessions_transaction_and_roll_back_with_it(
    db: Database,
) -> None:
    # A session of its own on the engine: its first statement is a direct one, which must
    # not run before the transaction's BEGIN.
    if db.dialect != "postgresql":
        pytest.skip("needs a second connection beside the test's (SQLite's pool holds one)")
    engine = db.engine
    own = async_sessionmaker(engine, expire_on_commit=False)
    message = _message("tests.rolled_back.v1")
    async with own() as session:
        await direct.execute(session, _ADD_MESSAGE, message)
        await session.rollback()
    async with own() as session:
        found = await session.scalar(select(_messages.c.id).where(_messages.c.id == message["id"]))
    assert found is None


async def test_listeners_see_each_statement_and_writes_are_noted_for_read_caches(
    db: Database, session: AsyncSession
) -> None:
    take_written_tables(session)
    with _statements(db) as seen:
        nothing = await direct.execute(session, _ADD_MESSAGE, [])
        await direct.execute(session, _ADD_MESSAGE, _message("tests.seen.v1"))
        await direct.execute(session, _MESSAGES_NAMED, {"the_names": ["tests.seen.v1"]})

    assert nothing.rowcount == 0
    assert seen == ["INSERT", "SELECT"]
    assert take_written_tables(session) == {"platform_outbox_message"}


async def test_an_executemany_that_returns_rows_answers_every_row(session: AsyncSession) -> None:
    dialect = session.sync_session.get_bind().dialect.name
    statement = insert_ignore_rows(_messages, dialect).returning(_messages.c.name)
    rows = [_message("tests.returning_1.v1"), _message("tests.returning_2.v1")]

    answered = await direct.execute(session, statement, rows)

    assert sorted(answered.scalars().all()) == ["tests.returning_1.v1", "tests.returning_2.v1"]


async def test_rows_of_several_tables_go_together_with_their_defaults_and_parents_first(
    db: Database, session: AsyncSession
) -> None:
    message = transient(
        OutboxMessage,
        id=new_id("msg"),
        kind="event",
        name="tests.together.v1",
        payload={"n": 1},
        request_id=None,
        occurred_at=utcnow(),
    )
    now = utcnow()
    # status and attempts are left to their Python-side defaults.
    deliveries = [
        transient(
            Delivery,
            id=f"dlv_together_{i}",
            message_id=message.id,
            handler=f"h{i}",
            next_attempt_at=now,
            created_at=now,
        )
        for i in range(2)
    ]
    with _statements(db) as seen:
        await insert_objects(session, [*deliveries, message])

    assert seen == (["WITH"] if db.dialect == "postgresql" else ["INSERT", "INSERT"])
    stored = (await direct.execute(session, _DELIVERIES_OF, {"the_message": message.id})).all()
    assert [tuple(row) for row in stored] == [
        ("dlv_together_0", "pending", 0),
        ("dlv_together_1", "pending", 0),
    ]
    payload = await session.scalar(select(_messages.c.payload).where(_messages.c.id == message.id))
    assert payload == {"n": 1}
    assert take_written_tables(session) >= {"platform_delivery", "platform_outbox_message"}


async def test_an_orm_statement_answers_entities_through_the_session(
    session: AsyncSession,
) -> None:
    message = _message("tests.orm.v1")
    await direct.execute(session, _ADD_MESSAGE, message)

    found = (
        await direct.execute(
            session,
            select(OutboxMessage).where(OutboxMessage.id == bindparam("the_id")),
            {"the_id": message["id"]},
        )
    ).scalar()

    assert isinstance(found, OutboxMessage)
    assert found.name == "tests.orm.v1"


_STATUS_OF_KEYS_IN = (
    select(_keys.c.key)
    .where(_keys.c.scope == "usr_direct", _keys.c.status.in_(["completed", "failed"]))
    .order_by(_keys.c.key)
)


async def test_a_list_written_in_the_statement_keeps_its_values(session: AsyncSession) -> None:
    for name in ("k-open", "k-done"):
        await direct.execute(session, _ADD_KEY, _key(name))
    done = (await direct.execute(session, _keys.select().where(_keys.c.key == "k-done"))).one()
    await direct.execute(session, _COMPLETE_KEY, {"the_key": done.id})

    found = (await direct.execute(session, _STATUS_OF_KEYS_IN)).scalars().all()

    assert found == ["k-done"]


_LEASE_RETURNING = direct.returning_all(
    Delivery,
    update(_deliveries)
    .where(_deliveries.c.message_id == bindparam("the_message"), _deliveries.c.status == "pending")
    .values(attempts=_deliveries.c.attempts + 1, lock_token=bindparam("token")),
)


async def test_returning_objects_answers_the_changed_rows_as_they_now_are(
    session: AsyncSession,
) -> None:
    message = _message("tests.returning.v1")
    await direct.execute(session, _ADD_MESSAGE, message)
    now = utcnow()
    ids = [new_id("dlv"), new_id("dlv")]
    handlers = ("tests.pending_handler", "tests.done_handler")
    for delivery_id, status, handler in zip(ids, ("pending", "succeeded"), handlers, strict=True):
        await direct.execute(
            session,
            _ADD_DELIVERY,
            {
                "id": delivery_id,
                "message_id": message["id"],
                "handler": handler,
                "status": status,
                "attempts": 2,
                "next_attempt_at": now,
                "created_at": now,
            },
        )

    leased = await direct.returning_objects(
        session, Delivery, _LEASE_RETURNING, {"the_message": message["id"], "token": "lck_9"}
    )

    # Only the pending one moved; the object holds the row as the UPDATE left it, with
    # every column typed as the ORM would load it (a timezone-aware timestamp included).
    assert [(d.id, d.status, d.attempts, d.lock_token) for d in leased] == [
        (ids[0], "pending", 3, "lck_9")
    ]
    assert leased[0].next_attempt_at == now
    assert leased[0].next_attempt_at.tzinfo is not None
    assert leased[0] not in session
    assert (
        await direct.execute(session, _LEASE_RETURNING, {"the_message": "none", "token": "x"})
    ).all() == []
