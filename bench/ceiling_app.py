"""The ceiling for the catalog benchmarks: the app's own stack doing one indexed query.

`GET /ceiling` runs one 20-row index scan of the catalog (the newest visible products,
served by `ix_catalog_product_browse_newest`) on an engine built exactly like the
application's (`marketplace.platform.db.create_engine`: asyncpg, same pool size, pre-ping),
inside one transaction as the app's unit of work does, and returns the rows through FastAPI
and a Pydantic response model. No middleware, no ORM, no other query. Whatever the real
endpoints reach, as a fraction of this, is what the application's own work costs.

`GET /ceiling/raw` is the same query on a bare asyncpg pool (no SQLAlchemy), printed for
information: how much of the ceiling is SQLAlchemy's engine and pool.

Served by one uvicorn worker (`catalog_browse.py` starts it):

    BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/mk_bench_x \\
        uvicorn ceiling_app:create_app --factory --app-dir bench --port 8001
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from marketplace.platform.db import create_engine
from marketplace.settings import Settings

QUERY = (
    "SELECT id, title FROM catalog_product WHERE visible ORDER BY created_at DESC, id DESC LIMIT 20"
)


class Row(BaseModel):
    id: str
    title: str


def create_app() -> FastAPI:
    url = os.environ["BENCH_DATABASE_URL"]
    defaults = Settings(database_url=url)
    engine = create_engine(
        url, pool_size=defaults.database_pool_size, max_overflow=defaults.database_max_overflow
    )
    statement = text(QUERY)
    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(
            url.replace("postgresql+asyncpg://", "postgresql://"),
            min_size=defaults.database_pool_size,
            max_size=defaults.database_pool_size + defaults.database_max_overflow,
        )
        try:
            yield
        finally:
            await state["pool"].close()
            await engine.dispose()

    app = FastAPI(title="bench ceiling", lifespan=lifespan, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ceiling")
    async def ceiling() -> list[Row]:
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            return [Row(id=r.id, title=r.title) for r in result]

    @app.get("/ceiling/raw")
    async def ceiling_raw() -> list[Row]:
        async with state["pool"].acquire() as conn, conn.transaction():
            rows = await conn.fetch(QUERY)
        return [Row(id=r["id"], title=r["title"]) for r in rows]

    return app
