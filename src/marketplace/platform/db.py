"""Database engine, sessions and the declarative base every context's models derive from.

One `Database` per process owns the async engine and the session factory. SQLite (the embedded
default) and PostgreSQL differ in a few places that are handled here once: connection pragmas,
savepoint-capable transactions on SQLite, "insert or ignore", and row-locking.
"""

from __future__ import annotations

import time
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias, TypeVar

import orjson
from sqlalchemy import DateTime, MetaData, any_, bindparam, event, inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapper, ORMExecuteState, Session, UOWTransaction
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql.schema import Table
from sqlalchemy.types import TypeDecorator

# Stable constraint names make Alembic migrations reproducible and SQLite batch mode work.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type; storing naive UTC and re-attaching UTC on read keeps
    comparisons and serialisation identical to PostgreSQL's timestamptz.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 - SQLAlchemy reads a dict


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit transactions break SAVEPOINT; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


# A connection back from the pool after this long is checked before use (see below).
PING_IDLE_AFTER: Final = 1.0  # seconds
_CHECKED_IN_AT: Final = "checked_in_at"


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    ping_idle_after: float = PING_IDLE_AFTER,
) -> AsyncEngine:
    """Build the async engine for `url` with the settings each backend needs."""
    if url.startswith("sqlite"):
        # SQLite allows one writer; a single pooled connection serialises this process's
        # transactions instead of failing them with "database is locked". WAL keeps other
        # processes (CLI, a second reader) unblocked.
        engine = create_async_engine(
            url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )
    ping_when_idle(engine, after=ping_idle_after)
    return engine


def ping_when_idle(engine: AsyncEngine, *, after: float = PING_IDLE_AFTER) -> None:
    """Check a pooled connection before use if it sat unused for `after` seconds or more.

    SQLAlchemy's `pool_pre_ping` checks every checkout, and asyncpg's ping is three round
    trips (BEGIN, `;`, ROLLBACK): a request that commits twice and a job that calls a provider
    paid 12 of them per checkout. A connection in steady use was just proven alive by the
    request before; the ones that may have died with a restarted or failed-over server are
    those that sat idle. A dead one is replaced before anyone uses it (the pool retries the
    checkout); a server lost in the second after a connection's last use still fails that
    one request, which the client retries with its Idempotency-Key.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN_AT)
        if since is None or time.monotonic() - since < after:
            return  # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("pooled connection is dead") from error


def _json_dumps(value: Any) -> str:
    # JSON columns (translations, attributes, payloads) are read on every catalog page: the
    # standard library's json was a tenth of a browse request's time.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


WriteListener = Callable[[set[str]], Awaitable[None]]


class Database:
    """The process's engine and session factory; tests swap the factory for a rolled-back one."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker or async_sessionmaker(
            engine, expire_on_commit=False, autoflush=False
        )
        self.write_listeners: list[WriteListener] = []
        # Whether a single statement may run as a transaction of its own (no BEGIN, no
        # COMMIT): on PostgreSQL, unless sessions join a connection's open transaction.
        self.statement_transactions = engine.dialect.name == "postgresql" and not isinstance(
            self.sessionmaker.kw.get("bind"), AsyncConnection
        )

    def on_committed_writes(self, listener: WriteListener) -> None:
        """Call `listener` with the names of the tables a unit of work wrote, after it
        committed (cache invalidation); a failing listener does not fail the commit."""
        self.write_listeners.append(listener)

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
        return cls(create_engine(url, pool_size=pool_size, max_overflow=max_overflow))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


_T = TypeVar("_T")
# A row of a Core SELECT, read by column name (`row.sku`) or by position: what hot-path reads
# return instead of entities. SQLAlchemy's `Row` from `session.execute`, or the named tuple
# `platform.direct` answers with on PostgreSQL; both read alike, so the type says only that.
AnyRow: TypeAlias = Any
_built: dict[Hashable, Any] = {}


def built_once(shape: Hashable, build: Callable[[], _T]) -> _T:
    """The statement of `shape`, built by `build` on first use and reused by every later
    call: building an UPDATE … RETURNING (its expression tree and cache key) costs about
    0.1 ms of CPU, as much as executing it. `shape` names everything the statement's text
    depends on (a use case's fixed status lists, the columns it sets); values are bound at
    execution. Shapes come from the code, not from data, so the cache stays small."""
    statement = _built.get(shape)
    if statement is None:
        statement = _built[shape] = build()
    return statement


def insert_ignore(table: Table, dialect: str, rows: Sequence[Mapping[str, Any]]) -> Any:
    """An INSERT that skips rows violating a unique constraint (at-most-once guards)."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(list(rows))
    return stmt.on_conflict_do_nothing()


def insert_ignore_rows(table: Table, dialect: str) -> Any:
    """`insert_ignore` without its rows: execute it with the list of rows
    (`session.execute(stmt, rows)`). SQLAlchemy compiles it once and caches it, and sends
    the rows as one multi-row INSERT ("insertmanyvalues"), RETURNING included; a statement
    with the rows in its VALUES has no cache key and is compiled again on every call."""
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table).on_conflict_do_nothing()


_column_keys: dict[type, dict[str, str]] = {}


def columns_of(cls: type) -> dict[str, str]:
    """A mapped class's column attributes: attribute key -> column key."""
    found = _column_keys.get(cls)
    if found is None:
        mapper: Mapper[Any] = inspect(cls)
        found = _column_keys[cls] = {p.key: p.columns[0].key for p in mapper.column_attrs}
    return found


def row_of(obj: Any) -> dict[str, Any]:
    """The column values set on a mapped object, keyed by column (what its INSERT writes)."""
    columns = columns_of(type(obj))
    return {columns[key]: value for key, value in inspect(obj).dict.items() if key in columns}


def transient(cls: type[_T], **values: Any) -> _T:
    """A new mapped object holding `values`, for `insert_objects` and `UnitOfWork.add_new`:
    the same object the constructor makes, without the ORM's event for every attribute set
    (a tenth of the CPU: a checkout builds some thirty of them). Unknown names are refused
    as the constructor refuses them."""
    columns = columns_of(cls)
    if not columns.keys() >= values.keys():
        unknown = ", ".join(sorted(values.keys() - columns.keys()))
        raise TypeError(f"{cls.__name__} has no column attribute {unknown}")
    obj: _T = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(values)
    return obj


def is_unique_violation(error: IntegrityError) -> bool:
    message = str(error.orig).lower()
    return "unique" in message or "duplicate key" in message


def one_of(column: Any, values: Collection[Any], dialect: str) -> Any:
    """`column IN values`, sent to PostgreSQL as one array parameter (`= ANY($1)`).

    An IN list of N placeholders is not a constant to PostgreSQL, so where it cannot be an
    index condition it is checked value by value against every row (N comparisons each);
    a single array parameter is hashed, and is one plan whatever N is. SQLite gets IN.
    """
    if dialect == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)
    return column.in_(list(values))


async def refresh_statistics(session: AsyncSession, tables: Sequence[str]) -> None:
    """Refresh PostgreSQL's planner statistics of tables a bulk load just grew.

    Autovacuum analyzes a table only after a fraction of it changed and up to a minute later;
    meanwhile a table that grew from a few rows to tens of thousands is planned as if it were
    tiny (an index scan on the vendor alone, then every one of its rows filtered), which makes
    each further batch of the load slower than the one before. SQLite plans without them.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:  # model table names, never input
        await session.execute(text(f'ANALYZE "{table}"'))


# --- which tables a transaction wrote ------------------------------------------------------
# Caches of derived reads (see `platform.readcache`) must hear of every committed write to
# the tables they derive from, including bulk statements that bypass the ORM's unit of work;
# noting the table names on the session here, for every session, means no writer can forget.
# `UnitOfWork.commit` hands them to the database's write listeners after the commit.
WRITTEN_TABLES: Final = "written_tables"


def note_written_tables(session: Session, names: Iterable[str]) -> None:
    """Note that the session's transaction wrote these tables (for `take_written_tables`)."""
    written = session.info.get(WRITTEN_TABLES)
    if written is None:
        written = session.info[WRITTEN_TABLES] = set()
    written.update(names)


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _flush: UOWTransaction) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if changed:
        note_written_tables(session, {getattr(o, "__tablename__", "") for o in changed} - {""})


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        if name:
            note_written_tables(state.session, (name,))


def take_written_tables(session: AsyncSession) -> set[str]:
    """The tables written since the last call (and forget them)."""
    written: set[str] | None = session.info.pop(WRITTEN_TABLES, None)
    return written or set()
