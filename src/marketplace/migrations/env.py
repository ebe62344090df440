"""Alembic environment: runs on the connection `marketplace migrate` hands it."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from marketplace.migrations.metadata import include_object, target_metadata
from marketplace.platform.db import UTCDateTime

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations use plain SQLAlchemy types: UTCDateTime is timestamptz in the database.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_standalone() -> None:
    """`alembic revision --autogenerate` from a shell: connect to MARKETPLACE_DATABASE_URL."""
    from marketplace.platform.db import create_engine
    from marketplace.settings import Settings

    async def go() -> None:
        engine = create_engine(Settings().resolved_database_url)
        async with engine.begin() as conn:
            await conn.run_sync(run_on)
        await engine.dispose()

    asyncio.run(go())


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    run_standalone()
