"""reencrypt_column: re-wraps a whole column in keyset batches, idempotently, without clobbering.

Runs on the test's rolled-back connection: the scratch table is created inside the outer
transaction, so it disappears with it on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, Text, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from marketplace.platform.crypto import DecryptionError, FieldCipher, Keyring, reencrypt_column
from marketplace.platform.db import Database
from marketplace.platform.ids import new_id

KEY_OLD = b"o" * 32
KEY_NEW = b"n" * 32
PREFIX = "scratch_payout_account.iban"
OLD = FieldCipher(Keyring({"old": KEY_OLD}, "old"))
ROTATING = FieldCipher(Keyring({"old": KEY_OLD, "new": KEY_NEW}, "new"))
NEW_ONLY = FieldCipher(Keyring({"new": KEY_NEW}, "new"))

Rows = dict[str, str | None]


@pytest.fixture
async def scratch(db: Database) -> Table:
    table = Table(
        "scratch_reencrypt",
        MetaData(),
        Column("id", String(40), primary_key=True),
        Column("iban", Text, nullable=True),
    )
    async with db.session() as session, session.begin():
        connection = await session.connection()
        await connection.run_sync(table.metadata.create_all)
    return table


def _context(row_id: str) -> str:
    return f"{PREFIX}:{row_id}"


async def _seed(
    db: Database, table: Table, count: int, *, cipher: FieldCipher = OLD, null_every: int = 0
) -> Rows:
    """Insert ``count`` rows (every ``null_every``-th one NULL); return id -> plaintext."""
    plaintexts: Rows = {}
    rows: list[dict[str, Any]] = []
    for index in range(count):
        row_id = new_id("pac")
        value = None if null_every and index % null_every == 0 else f"DE{index:020d}"
        plaintexts[row_id] = value
        token = None if value is None else cipher.encrypt(value, context=_context(row_id))
        rows.append({"id": row_id, "iban": token})
    async with db.session() as session, session.begin():
        connection = await session.connection()
        await connection.execute(insert(table), rows)
    return plaintexts


async def _read(db: Database, table: Table) -> Rows:
    async with db.session() as session:
        result = await session.execute(select(table.c.id, table.c.iban).order_by(table.c.id))
        return dict(result.all())


async def _run(db: Database, table: Table, *, batch_size: int = 500) -> int:
    return await reencrypt_column(
        db,
        table=table,
        id_column="id",
        column="iban",
        context_prefix=PREFIX,
        cipher=ROTATING,
        batch_size=batch_size,
    )


async def test_rewraps_every_non_null_value_under_the_current_key(
    db: Database, scratch: Table
) -> None:
    plaintexts = await _seed(db, scratch, 1200, null_every=9)
    non_null = sum(value is not None for value in plaintexts.values())
    before = await _read(db, scratch)
    assert non_null == 1066

    assert await _run(db, scratch) == non_null

    after = await _read(db, scratch)
    assert after.keys() == plaintexts.keys()
    for row_id, plaintext in plaintexts.items():
        token = after[row_id]
        if plaintext is None:
            assert token is None
            continue
        assert token is not None
        assert NEW_ONLY.key_id(token) == "new"
        assert NEW_ONLY.decrypt(token, context=_context(row_id)) == plaintext
        old_token = before[row_id]
        assert old_token is not None
        assert token.split(".")[3] == old_token.split(".")[3]  # data not re-encrypted

    assert await _run(db, scratch) == 0
    assert await _read(db, scratch) == after


async def test_counts_only_values_not_yet_under_the_current_key(
    db: Database, scratch: Table
) -> None:
    old_rows = await _seed(db, scratch, 150, null_every=10)
    current_rows = await _seed(db, scratch, 70, cipher=NEW_ONLY)
    already_current = {
        row_id: token
        for row_id, token in (await _read(db, scratch)).items()
        if row_id in current_rows
    }

    # A batch size that divides nothing evenly exercises the keyset boundaries.
    assert await _run(db, scratch, batch_size=7) == 135

    after = await _read(db, scratch)
    assert {row_id: after[row_id] for row_id in current_rows} == already_current
    for row_id, plaintext in (old_rows | current_rows).items():
        token = after[row_id]
        assert token is None if plaintext is None else NEW_ONLY.key_id(token or "") == "new"
        if token is not None:
            assert NEW_ONLY.decrypt(token, context=_context(row_id)) == plaintext
    assert await _run(db, scratch, batch_size=7) == 0


async def test_a_value_changed_during_the_run_is_not_overwritten(
    db: Database, connection: AsyncConnection, scratch: Table
) -> None:
    plaintexts = await _seed(db, scratch, 10)
    ids = sorted(plaintexts)
    target = ids[4]
    concurrent = ROTATING.encrypt("written concurrently", context=_context(target))
    fired: list[str] = []

    def write_concurrently(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Just before the run's first UPDATE, another writer replaces a later row, which
        # the run has already read with its old token.
        if fired or not statement.lstrip().upper().startswith("UPDATE SCRATCH_REENCRYPT"):
            return
        fired.append(statement)
        conn.execute(update(scratch).where(scratch.c.id == target).values(iban=concurrent))

    sync_connection = connection.sync_connection
    assert sync_connection is not None
    event.listen(sync_connection, "before_cursor_execute", write_concurrently)
    try:
        count = await _run(db, scratch)
    finally:
        event.remove(sync_connection, "before_cursor_execute", write_concurrently)

    assert len(fired) == 1
    assert count == 9
    after = await _read(db, scratch)
    assert after[target] == concurrent
    for row_id in ids:
        token = after[row_id]
        assert token is not None
        expected = "written concurrently" if row_id == target else plaintexts[row_id]
        assert NEW_ONLY.decrypt(token, context=_context(row_id)) == expected


async def test_an_invalid_value_stops_the_run_naming_the_row_and_keeps_earlier_batches(
    db: Database, scratch: Table
) -> None:
    plaintexts = await _seed(db, scratch, 12)
    ids = sorted(plaintexts)
    bad = ids[9]
    async with db.session() as session, session.begin():
        await session.execute(
            update(scratch).where(scratch.c.id == bad).values(iban="DE-PLAINTEXT-IBAN")
        )

    with pytest.raises(DecryptionError, match=f"scratch_reencrypt.iban of row '{bad}'") as caught:
        await _run(db, scratch, batch_size=4)

    assert "DE-PLAINTEXT-IBAN" not in str(caught.value)
    after = await _read(db, scratch)
    # Batches [0-3] and [4-7] committed; the failing batch [8-11] rolled back entirely.
    assert [OLD.key_id(after[row_id] or "") for row_id in ids[:8]] == ["new"] * 8
    assert [OLD.key_id(after[row_id] or "") for row_id in ids[8:] if row_id != bad] == ["old"] * 3


async def test_a_token_moved_to_another_row_is_rejected(db: Database, scratch: Table) -> None:
    plaintexts = await _seed(db, scratch, 2)
    first, second = sorted(plaintexts)
    async with db.session() as session, session.begin():
        token = (
            await session.execute(select(scratch.c.iban).where(scratch.c.id == first))
        ).scalar_one()
        await session.execute(update(scratch).where(scratch.c.id == second).values(iban=token))

    with pytest.raises(DecryptionError, match=f"of row '{second}'.*wrong context"):
        await _run(db, scratch)


async def test_rejects_unknown_columns_and_bad_batch_sizes(db: Database, scratch: Table) -> None:
    with pytest.raises(ValueError, match="has no column 'nope'"):
        await reencrypt_column(
            db, table=scratch, id_column="id", column="nope", context_prefix=PREFIX, cipher=ROTATING
        )
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        await _run(db, scratch, batch_size=0)


async def test_key_ids_with_like_wildcards_are_matched_literally(
    db: Database, scratch: Table
) -> None:
    # "_" is a LIKE wildcard: unescaped, "v1.k_1.%" would also match kid "kx1" and skip it.
    wildcard_old = FieldCipher(Keyring({"kx1": KEY_OLD}, "kx1"))
    wildcard_rotating = FieldCipher(Keyring({"kx1": KEY_OLD, "k_1": KEY_NEW}, "k_1"))
    plaintexts = await _seed(db, scratch, 5, cipher=wildcard_old)

    count = await reencrypt_column(
        db,
        table=scratch,
        id_column="id",
        column="iban",
        context_prefix=PREFIX,
        cipher=wildcard_rotating,
    )

    assert count == 5
    after = await _read(db, scratch)
    for row_id, plaintext in plaintexts.items():
        token = after[row_id] or ""
        assert wildcard_rotating.key_id(token) == "k_1"
        assert wildcard_rotating.decrypt(token, context=_context(row_id)) == plaintext
