"""A transaction declared to be one statement (`UnitOfWork.as_one_statement`) runs on
PostgreSQL without BEGIN and COMMIT: the statement is its own transaction. Where sessions
join a transaction held open elsewhere (the tests' rolled-back database) or on SQLite, the
declaration changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from marketplace.platform.db import Database
from marketplace.platform.uow import UnitOfWork

_XID = text("SELECT txid_current()")


@pytest.fixture
def postgres(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("statement transactions are PostgreSQL's (SQLite keeps its transactions)")


@pytest.mark.usefixtures("postgres")
async def test_each_statement_of_a_one_statement_unit_of_work_is_its_own_transaction(
    database_url: str,
) -> None:
    db = Database.connect(database_url, pool_size=1, max_overflow=0)
    try:
        assert db.statement_transactions
        async with UnitOfWork(db) as uow:
            await uow.as_one_statement()
            first = await uow.session.scalar(_XID)
            second = await uow.session.scalar(_XID)
            await uow.commit()
        async with UnitOfWork(db) as uow:  # the pooled connection is back to transactions
            again = await uow.session.scalar(_XID)
            still = await uow.session.scalar(_XID)
            await uow.commit()
    finally:
        await db.dispose()

    assert first != second
    assert again == still


async def test_a_database_whose_sessions_join_a_held_transaction_keeps_transactions(
    db: Database,
) -> None:
    assert db.statement_transactions is False
    async with UnitOfWork(db) as uow:
        await uow.as_one_statement()
        first = await uow.session.scalar(text("SELECT 1"))
        await uow.commit()
    assert first == 1
