"""Test harness: a migrated database per xdist worker, a rolled-back transaction per test.

Backends come from the environment, so the same suite runs on the embedded default and on
real services:

* `MARKETPLACE_TEST_POSTGRES_URL` (an admin URL such as
  `postgresql+asyncpg://postgres@127.0.0.1:5432/postgres`): each run creates its own fresh
  database per worker, built by the migrations, dropped at the end. Unset: a SQLite file.
* `MARKETPLACE_TEST_REDIS_URL`, `MARKETPLACE_TEST_RABBITMQ_URL`: tests of those adapters.

With `CI=true`, a service test whose service is not configured or not reachable fails; it
never skips silently.

Two ways to reach the database:
* `container` / `client` (default): every session of the test joins one connection's outer
  transaction through SAVEPOINTs and is rolled back at the end: fast and isolated.
* `live_container` / `live_client`: the real engine and real commits, for what must be seen
  from other connections (commit visibility, concurrency, brokers); tables are emptied after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from marketplace.app import create_app
from marketplace.bootstrap import Container, build_container
from marketplace.migrations import upgrade
from marketplace.migrations.metadata import target_metadata
from marketplace.platform.db import Database, create_engine
from marketplace.settings import Settings


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def backend() -> str:
    return "postgresql" if os.environ.get("MARKETPLACE_TEST_POSTGRES_URL") else "sqlite"


@pytest.fixture(scope="session")
async def database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / f"test-{_worker_id()}.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        yield url
        return
    import asyncpg

    admin = make_url(os.environ["MARKETPLACE_TEST_POSTGRES_URL"])
    name = f"mk_test_{uuid.uuid4().hex[:10]}_{_worker_id()}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except Exception as error:
        pytest.fail(f"PostgreSQL unreachable at {admin.host}:{admin.port}: {error}", pytrace=False)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = admin.set(database=name).render_as_string(hide_password=False)
    await upgrade(url)
    yield url
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        redis_url=None,
        broker_url=None,
        log_json=True,
        secret_key="test-secret-key-with-enough-entropy-0123456789",  # type: ignore[arg-type]
        # Cheap hashing keeps the suite fast; the production parameters have their own test.
        password_hash_memory_kib=1024,
        password_hash_time_cost=1,
        # Whether a burst holds work depends on timing: tests that need it set it up.
        job_burst_messages_per_second=0,
    )


@pytest.fixture(scope="session")
async def engine_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(create_engine(database_url, pool_size=5, max_overflow=20))
    yield db
    await db.dispose()


@pytest.fixture
async def connection(engine_db: Database) -> AsyncIterator[AsyncConnection]:
    async with engine_db.engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def db(connection: AsyncConnection) -> Database:
    """A Database whose sessions all join the test's outer transaction (rolled back after)."""
    return Database(
        connection.engine,
        async_sessionmaker(
            bind=connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=False,
        ),
    )


@pytest.fixture
async def container(settings: Settings, db: Database) -> AsyncIterator[Container]:
    built = build_container(settings, db=db, inline_jobs=True)
    await built.jobs.startup()
    yield built
    await built.jobs.stop()
    await built.cache.close()
    # The database outlives this container: drop the listeners it installed.
    db.write_listeners.clear()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.session() as s:
        yield s


AppFactory = Callable[..., FastAPI]


def _client(app: FastAPI, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
def make_client(container: Container) -> Callable[..., httpx.AsyncClient]:
    """An HTTP client over the ASGI app on the rolled-back connection, with extra routers."""

    def make(
        extra_routers: Sequence[APIRouter] = (), *, raise_app_exceptions: bool = True
    ) -> httpx.AsyncClient:
        app = create_app(container=container, extra_routers=extra_routers, run_jobs=False)
        return _client(app, raise_app_exceptions=raise_app_exceptions)

    return make


@pytest.fixture
async def client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c


async def _empty_tables(db: Database) -> None:
    async with db.engine.begin() as conn:
        for table in reversed(target_metadata.sorted_tables):
            await conn.execute(delete(table))


@pytest.fixture
async def live_container(settings: Settings, database_url: str) -> AsyncIterator[Container]:
    """Real engine, real commits; tables emptied afterwards."""
    db = Database.connect(database_url, pool_size=10, max_overflow=20)
    built = build_container(settings, db=db)
    await built.jobs.startup()
    try:
        yield built
    finally:
        await built.jobs.stop()
        await built.cache.close()
        await _empty_tables(db)
        await db.dispose()


@pytest.fixture
def make_live_client(live_container: Container) -> Callable[..., httpx.AsyncClient]:
    def make(extra_routers: Sequence[APIRouter] = ()) -> httpx.AsyncClient:
        app = create_app(container=live_container, extra_routers=extra_routers, run_jobs=False)
        return _client(app)

    return make


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return settings.data_dir


@pytest.fixture
async def second_connection(database_url: str) -> AsyncIterator[AsyncConnection]:
    """An independent connection, to observe what other connections have committed."""
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        yield conn
    await engine.dispose()
