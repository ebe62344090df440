"""Migrations: build the schema the models describe, and tear it down again."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import make_url

from marketplace.migrations import downgrade, upgrade
from marketplace.migrations.metadata import include_object, target_metadata
from marketplace.platform.db import create_engine


@pytest.fixture
async def scratch_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
        return
    import asyncpg

    admin = make_url(os.environ["MARKETPLACE_TEST_POSTGRES_URL"])
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"mk_scratch_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(database=name).render_as_string(hide_password=False)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include_object}
    )
    return list(compare_metadata(context, target_metadata))


def _tables(connection: Connection) -> set[str]:
    names = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return {n for n in names if include_object(None, n, "table", True, None)}


async def test_migrations_build_exactly_the_models_and_downgrade_cleanly(scratch_url: str) -> None:
    engine = create_engine(scratch_url)
    try:
        await upgrade(scratch_url)
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
            tables = await conn.run_sync(_tables)
        assert differences == []
        assert tables == set(target_metadata.tables)

        await downgrade(scratch_url, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()

        await upgrade(scratch_url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(target_metadata.tables)
    finally:
        await engine.dispose()
