"""Alembic migrations for every context's tables, and the functions that apply them.

Migrations ship inside the package so `marketplace migrate` works from an installed wheel.
Each revision touches one context's tables (prefix `<context>_`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from marketplace.platform.db import create_engine

HERE = Path(__file__).parent


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("version_locations", str(HERE / "versions"))
    return config


def _apply(connection: Connection, direction: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    if direction == "up":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


async def _run(url: str, direction: str, revision: str) -> None:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
    else:
        engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_apply, direction, revision)
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (creating a SQLite file's folder first)."""
    await _run(url, "up", revision)


async def downgrade(url: str, revision: str) -> None:
    await _run(url, "down", revision)
