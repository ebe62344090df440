"""Pooled connections are checked before use only after sitting idle: a connection killed
while idle is replaced before anyone uses it, and one in steady use is not pinged (the
round trips that `pool_pre_ping` paid on every checkout)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from marketplace.platform.db import create_engine


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT pg_backend_pid()")))


async def _kill(second_connection: AsyncConnection, pid: int) -> None:
    killed = await second_connection.scalar(text(f"SELECT pg_terminate_backend({int(pid)})"))
    assert killed is True


@pytest.fixture
def postgres(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("needs a server whose connections can be killed (PostgreSQL)")


@pytest.mark.usefixtures("postgres")
async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    database_url: str, second_connection: AsyncConnection
) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0, ping_idle_after=0.0)
    try:
        first = await _backend_pid(engine)
        await _kill(second_connection, first)

        replaced = await _backend_pid(engine)

        assert replaced != first
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("postgres")
async def test_a_connection_in_steady_use_is_not_pinged(
    database_url: str, second_connection: AsyncConnection
) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0, ping_idle_after=60.0)
    try:
        first = await _backend_pid(engine)
        await _kill(second_connection, first)

        # Not checked (it was used a moment ago): the statement meets the dead connection,
        # which the pool then drops, so the next checkout gets a new one.
        with pytest.raises(DBAPIError) as error:
            await _backend_pid(engine)
        assert error.value.connection_invalidated is True
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()
