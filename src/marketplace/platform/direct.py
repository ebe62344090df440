"""Hot statements run on PostgreSQL's driver directly, inside the session's transaction.

A statement executed through the ORM session passes a dozen layers before asyncpg sees it:
the session's execution options and events, a compiled-cache lookup keyed by the statement's
hash, an execution context, parameter construction, the DBAPI adapter with its greenlet
switch, a cursor, and a result built around it. For the checkout's thirty-odd small
statements that path costs more CPU than asyncpg's own work (about 90 µs against 40 µs per
statement, measured on one core). `execute` compiles a Core statement once per dialect
(SQLAlchemy's compiler, its bind casts and bind processors), then hands the SQL text and the
processed values straight to the asyncpg connection of the session's transaction.

What stays the same as `session.execute`: the transaction (the statement runs on the
session's connection after its BEGIN), the errors (asyncpg's are translated to the same
`sqlalchemy.exc` classes, so `IntegrityError` handlers keep working), the engine's
`before_cursor_execute` listeners (tests count statements), and the written-tables note that
invalidates derived read caches. IN lists of expanding parameters run as `= ANY(array)`. On
SQLite, and for a statement this path does not cover (ORM statements, which answer entities;
values or defaults computed at execution; `onupdate`; an executemany that returns rows), it is
`session.execute` itself.
"""

from __future__ import annotations

import re
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Literal, Protocol, TypeVar, cast

from sqlalchemy import Table, all_, any_, bindparam, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable, operators, visitors
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import BinaryExpression, BindParameter

from marketplace.platform.db import AnyRow, built_once, columns_of, note_written_tables, row_of

Params = Mapping[str, Any]
_T = TypeVar("_T")
_Processor = Callable[[Any], Any]
_REQUIRED: Final = object()
_STATUS_COUNT: Final = re.compile(r"(?:UPDATE|DELETE|INSERT \d+|SELECT) (\d+)")


@dataclass(frozen=True, slots=True)
class _Plan:
    """A statement compiled for one dialect and one set of given keys."""

    sql: str
    # Per positional parameter: its name, its fixed value (literals in the statement; _REQUIRED
    # when the caller must give it), its bind processor, and a Python default to use when
    # the caller did not give it.
    names: tuple[str, ...]
    fixed: tuple[Any, ...]
    processors: tuple[_Processor | None, ...]
    defaults: tuple[Callable[[], Any] | None, ...]
    row: type[tuple[Any, ...]] | None
    result_processors: tuple[_Processor | None, ...]
    written_table: str | None


class Answer(Protocol):
    """What `execute` answers: SQLAlchemy's result or `Rows`, read the same way."""

    @property
    def rowcount(self) -> int: ...

    def all(self) -> Sequence[AnyRow]: ...

    def first(self) -> AnyRow | None: ...

    def one(self) -> AnyRow: ...

    def one_or_none(self) -> AnyRow | None: ...

    def scalar(self) -> Any: ...

    def scalars(self) -> Any: ...


class Unsupported(Exception):
    """The statement needs SQLAlchemy's execution context: run it through the session."""


class Rows:
    """The answer of a directly run statement, with the parts of SQLAlchemy's `Result` that
    the callers use: rows (named tuples: by position or by column name), `scalar()`,
    `scalars()` and `rowcount`."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[AnyRow]:
        return self._rows

    def first(self) -> AnyRow | None:
        return self._rows[0] if self._rows else None

    def one(self) -> AnyRow:
        if len(self._rows) != 1:
            from sqlalchemy.exc import MultipleResultsFound, NoResultFound

            raise (NoResultFound if not self._rows else MultipleResultsFound)(
                f"expected one row, got {len(self._rows)}"
            )
        return self._rows[0]

    def one_or_none(self) -> AnyRow | None:
        if len(self._rows) > 1:
            from sqlalchemy.exc import MultipleResultsFound

            raise MultipleResultsFound(f"expected at most one row, got {len(self._rows)}")
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> Rows:
        return Rows([row[0] for row in self._rows], self.rowcount)


# Plans per dialect, keyed by the statement's identity and the keys an INSERT was given; the
# statement is kept in the entry, so its id cannot be reused while the plan is cached. Hot
# statements are built once at import, so the cache stays small; statements built per call
# would fill it, and past the bound it starts over rather than grow.
_PLANS_PER_DIALECT: Final = 1024
_Entry = tuple[Executable, _Plan | None]
_plans: weakref.WeakKeyDictionary[Dialect, dict[tuple[int, tuple[str, ...] | None], _Entry]] = (
    weakref.WeakKeyDictionary()
)


def _plan(statement: Executable, dialect: Dialect, keys: tuple[str, ...] | None) -> _Plan | None:
    """The statement's plan, or None when it must run through the session."""
    by_statement = _plans.get(dialect)
    if by_statement is None:
        by_statement = _plans[dialect] = {}
    cache_key = (id(statement), keys)
    entry = by_statement.get(cache_key)
    if entry is None:
        if len(by_statement) >= _PLANS_PER_DIALECT:
            by_statement.clear()
        try:
            plan: _Plan | None = _compile(statement, dialect, keys)
        except Unsupported:
            plan = None
        entry = by_statement[cache_key] = (statement, plan)
    return entry[1]


def _arrays_for_lists(statement: Executable) -> Executable:
    """`column IN (expanding list)` as `column = ANY(array)`: one parameter, so one SQL text
    and one server-side plan whatever the list's length (PostgreSQL hashes the array where
    an IN list is compared value by value), and nothing left to render at execution."""

    def replace(element: Any) -> Any:
        if not isinstance(element, BinaryExpression):
            return None
        right = element.right
        if not (isinstance(right, BindParameter) and right.expanding):
            return None
        # A list written in the statement (`status.in_([...])`) keeps its values.
        array = bindparam(
            right.key,
            right.value,
            type_=postgresql.ARRAY(element.left.type),
            required=right.required,
        )
        if element.operator is operators.in_op:
            return element.left == any_(array)
        if element.operator is operators.not_in_op:
            return element.left != all_(array)
        return None

    traverse: Any = visitors.replacement_traverse
    replaced: Executable = traverse(statement, {}, replace)
    return replaced


def _compile(statement: Executable, dialect: Dialect, keys: tuple[str, ...] | None) -> _Plan:
    if statement._propagate_attrs.get("compile_state_plugin") == "orm":
        raise Unsupported("an ORM statement: it answers entities, loaded by the session")
    statement = _arrays_for_lists(statement)
    compiled: Any = statement.compile(  # type: ignore[attr-defined]
        dialect=dialect, column_keys=list(keys) if keys is not None else None
    )
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise Unsupported("parameters that expand at execution")
    if compiled.update_prefetch:
        raise Unsupported("onupdate defaults")
    prefetch = {column.key: _default_of(column) for column in compiled.insert_prefetch}
    names = tuple(compiled.positiontup or ())
    fixed = []
    for name in names:
        bind = compiled.binds[name]
        if bind.callable is not None:
            raise Unsupported(f"the value of {name} is computed at execution")
        if name in prefetch or bind.required:
            fixed.append(_REQUIRED)
        else:
            fixed.append(bind.value)
    processors = compiled._bind_processors
    result_columns = compiled._result_columns
    row: type[tuple[Any, ...]] | None = None
    result_processors: tuple[_Processor | None, ...] = ()
    if result_columns:
        # Rows answer by position and by column name, as SQLAlchemy's rows do.
        row = _row_type([c[0] for c in result_columns])
        result_processors = tuple(
            c[3]._cached_result_processor(dialect, None) for c in result_columns
        )
    written = None
    if isinstance(statement, Insert | Update | Delete):
        written = getattr(statement.table, "name", None)
    return _Plan(
        sql=compiled.string,
        names=names,
        fixed=tuple(fixed),
        processors=tuple(processors.get(name) for name in names),
        defaults=tuple(prefetch.get(name) for name in names),
        row=row,
        result_processors=result_processors,
        written_table=written,
    )


def _row_type(fields: list[str]) -> type[tuple[Any, ...]]:
    """A named tuple of these columns that also answers `_mapping` (column name -> value),
    as SQLAlchemy's rows do."""
    make: Any = namedtuple  # the fields are known only at run time
    base = make("Row", fields, rename=True)
    names = tuple(fields)

    def mapping(row: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(names, row, strict=True))

    row_type: type[tuple[Any, ...]] = type(
        "Row", (base,), {"__slots__": (), "_mapping": property(mapping)}
    )
    return row_type


def _constant(value: Any) -> Any:
    return value


def _default_of(column: Any) -> Callable[[], Any]:
    """What makes the Python-side default of `column`, as SQLAlchemy's execution would:
    a constant, or a function (called without a context, which ours never use)."""
    default = column.default
    if default is not None and default.is_scalar:
        return partial(_constant, default.arg)
    if default is not None and default.is_callable:
        return partial(default.arg, None)
    raise Unsupported(f"the default of {column}")


def _arguments(plan: _Plan, params: Params) -> list[Any]:
    values = []
    for name, fixed, process, default in zip(
        plan.names, plan.fixed, plan.processors, plan.defaults, strict=True
    ):
        if name in params:
            value = params[name]
        elif default is not None:
            value = default()
        elif fixed is _REQUIRED:
            raise KeyError(f"a value is required for bind parameter {name!r}")
        else:
            value = fixed
        values.append(value if process is None else process(value))
    return values


def _shaped(plan: _Plan, records: list[Any]) -> list[Any]:
    make = plan.row
    assert make is not None
    processors = plan.result_processors
    if not any(processors):
        return [make(*record) for record in records]
    return [
        make(*[v if p is None else p(v) for v, p in zip(record, processors, strict=True)])
        for record in records
    ]


async def execute(
    session: AsyncSession, statement: Executable, params: Params | Sequence[Params] | None = None
) -> Answer:
    """Run `statement` with `params` (one mapping, or a list of them for an executemany)
    in the session's transaction. Returns `Rows` on PostgreSQL and SQLAlchemy's `Result`
    elsewhere; both answer `first()`, `one()`, `all()`, `scalar()`, `scalars()` and
    `rowcount`."""
    bind = session.bind
    dialect = (bind if bind is not None else session.sync_session.get_bind()).dialect
    if params is None:
        params = {}
    batch: Sequence[Params] = [params] if isinstance(params, Mapping) else params
    # One set of parameters given as a list runs as one statement: its RETURNING rows come
    # back the same way, and the driver's single-statement path is the cheaper one.
    many = len(batch) > 1
    if not batch:
        return Rows([], 0)  # run once for each of no parameter sets: nothing to do
    if dialect.name != "postgresql":
        return cast(Answer, await session.execute(statement, params))
    # An INSERT writes the columns it is given, and an UPDATE also sets the columns named by
    # its parameters (as `session.execute` does): their text depends on the keys.
    keys = tuple(batch[0]) if isinstance(statement, Insert | Update) else None
    plan = _plan(statement, dialect, keys)
    if plan is None or (many and plan.row is not None):
        # An executemany that returns rows is SQLAlchemy's "insertmanyvalues": left to it.
        return cast(Answer, await session.execute(statement, params))
    arguments = [_arguments(plan, one) for one in batch]
    if plan.written_table is not None:
        note_written_tables(session.sync_session, (plan.written_table,))
    if many:
        await _send(session, dialect, plan.sql, arguments, "many")
        return Rows([], -1)  # the driver does not count an executemany's rows
    if plan.row is None:
        status = await _send(session, dialect, plan.sql, arguments[0], "status")
        counted = _STATUS_COUNT.match(status or "")
        return Rows([], int(counted.group(1)) if counted else -1)
    records = await _send(session, dialect, plan.sql, arguments[0], "rows")
    return Rows(_shaped(plan, records), len(records))


async def _send(
    session: AsyncSession,
    dialect: Dialect,
    sql: str,
    arguments: list[Any],
    answer: Literal["many", "status", "rows"],
) -> Any:
    """Send `sql` to the driver in the session's transaction: an executemany over the
    argument lists (`many`), or one execution answering its status line or its records."""
    sync_connection = await _connection_of(session)
    if sync_connection._has_events or sync_connection.engine._has_events:
        sync_connection.dispatch.before_cursor_execute(
            sync_connection, None, sql, arguments, None, answer == "many"
        )
    # SQLAlchemy's adapter around the driver's connection: its BEGIN is lazy (sent with the
    # first statement), and a statement sent past it must not run outside the transaction.
    adapter: Any = sync_connection.connection.dbapi_connection
    driver: Any = adapter._connection
    async with adapter._execute_mutex:
        if adapter._transaction is None:
            await adapter._start_transaction()
        try:
            if answer == "many":
                return await driver.executemany(sql, arguments)
            if answer == "status":
                return await driver.execute(sql, *arguments)
            return await driver.fetch(sql, *arguments)
        except Exception as error:
            driver_module: Any = dialect.loaded_dbapi.asyncpg
            if isinstance(error, driver_module.PostgresError | driver_module.InterfaceError):
                raise _translated(error, sql, arguments, dialect) from error
            raise


# The session's connection for its current transaction, noted on the session: asking the
# session for it (`await session.connection()`) costs a greenlet switch and a third of a
# direct statement's CPU. The note names the transaction it holds for, so a commit, which
# may hand the session another connection next time, makes it stale.
_HELD_CONNECTION: Final = "direct_connection"


async def _connection_of(session: AsyncSession) -> Connection:
    sync_session = session.sync_session
    held = sync_session.info.get(_HELD_CONNECTION)
    if held is not None and held[0] is sync_session.get_transaction():
        connection: Connection = held[1]
        return connection
    connection = (await session.connection()).sync_connection  # type: ignore[assignment]
    sync_session.info[_HELD_CONNECTION] = (sync_session.get_transaction(), connection)
    return connection


def _translated(error: Exception, sql: str, arguments: list[Any], dialect: Dialect) -> DBAPIError:
    """The `sqlalchemy.exc` error `session.execute` would have raised for `error`."""
    dbapi: Any = dialect.loaded_dbapi
    for kind in type(error).__mro__:
        translated_kind = dbapi._asyncpg_error_translate.get(kind)
        if translated_kind is not None:
            translated = translated_kind(error.args[0] if error.args else str(error), error)
            break
    else:
        translated = dbapi.Error(str(error))
    wrapped: DBAPIError = DBAPIError.instance(
        sql, arguments, translated, dbapi.Error, dialect=dialect
    )
    return wrapped


def returning_all(cls: type[Any], statement: Update) -> Update:
    """`statement` answering every column of `cls`'s table, in table order: what
    `returning_objects` reads."""
    return statement.returning(*_table_of(cls).c)


def _table_of(cls: type[Any]) -> Table:
    return cast(Table, cls.__table__)


async def returning_objects(
    session: AsyncSession, cls: type[_T], statement: Update, params: Params
) -> list[_T]:
    """Run an UPDATE built by `returning_all(cls, …)` and answer the rows it changed as `cls`
    objects, as the rows now are. For a use case that moves rows and reads them once: the
    ORM would load them into the session at about four times the CPU (an order's 23 columns:
    410 µs against 90 µs per statement, measured). The objects stay outside the session, as
    `insert_objects`' do: a change made to one is not written, and an object of the same row
    that the session loaded earlier is not refreshed."""
    return [object_of(cls, row) for row in (await execute(session, statement, params)).all()]


def object_of(cls: type[_T], values: Sequence[Any]) -> _T:
    """A `cls` object outside the session from the values of all its table's columns, in
    table order (a row of `returning_all`, or that part of a wider row)."""
    obj: _T = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(zip(_attribute_keys(cls), values, strict=True))
    return obj


_keys_of: dict[type, tuple[str, ...]] = {}


def _attribute_keys(cls: type) -> tuple[str, ...]:
    """`cls`'s attribute names in its table's column order."""
    found = _keys_of.get(cls)
    if found is None:
        by_column = {column: key for key, column in columns_of(cls).items()}
        found = _keys_of[cls] = tuple(by_column[c.key] for c in _table_of(cls).c)
    return found


async def insert_objects(session: AsyncSession, objects: Iterable[Any]) -> None:
    """INSERT new mapped objects with Core statements, rows of a table in one round trip.

    For hot paths that write rows they do not change again in the same transaction: the
    ORM's flush (identity map, change tracking, a RETURNING per autoincrement key) costs
    more CPU than the statements themselves. The objects stay transient: the session does
    not track them, so later changes to them are not written.

    On PostgreSQL the rows of several tables go in one statement (`_TogetherPlan`); elsewhere
    one INSERT per table and set of columns, in the order the tables first appear (parents
    first).
    """
    groups: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
    for obj in objects:
        row = row_of(obj)
        groups.setdefault((obj.__table__, tuple(row)), []).append(row)
    if len(groups) > 1:
        bind = session.bind
        dialect = (bind if bind is not None else session.sync_session.get_bind()).dialect
        if dialect.name == "postgresql":
            counts = tuple(len(rows) for rows in groups.values())
            together = _together_plan(dialect, tuple(groups), counts)
            if together is not None:
                await _insert_together(session, dialect, together, list(groups.values()))
                return
    for (table, _columns), rows in groups.items():
        # One INSERT object per table: SQLAlchemy keys its compiled forms by the columns
        # given, and a statement built once skips building and hashing it on every call.
        await execute(session, built_once(("insert", table), partial(insert, table)), rows)


@dataclass(frozen=True, slots=True)
class _TogetherPlan:
    """The rows of several tables in one INSERT statement: the tables but the last written
    by data-modifying CTEs, each with a multi-row VALUES list. One round trip instead of one
    per table; foreign keys are checked at the end of the statement, when every table's rows
    are in. The text depends on the row counts, so a plan is per (tables, columns, counts):
    a use case's counts vary little (a checkout's lines and vendors), and the driver keeps
    each text prepared. (Arrays unnested would make one text, but the driver inspects every
    element of an array parameter, which cost more than the statements saved.)"""

    sql: str
    given: tuple[tuple[str, ...], ...]
    # Per table: its given columns' bind processors, then the bind processor and the maker
    # of each column it was not given but has a Python-side default for.
    processors: tuple[tuple[_Processor | None, ...], ...]
    defaults: tuple[tuple[tuple[_Processor | None, Callable[[], Any]], ...], ...]
    tables: frozenset[str]


_Shape = tuple[tuple[Table, tuple[str, ...]], ...]
_together: dict[tuple[int, _Shape, tuple[int, ...]], _TogetherPlan | None] = {}


def _together_plan(
    dialect: Dialect, shape: _Shape, counts: tuple[int, ...]
) -> _TogetherPlan | None:
    key = (id(dialect), shape, counts)
    if key not in _together:
        if len(_together) >= _PLANS_PER_DIALECT:
            _together.clear()
        try:
            _together[key] = _build_together(dialect, shape, counts)
        except Unsupported:
            _together[key] = None
    return _together[key]


def _build_together(dialect: Dialect, shape: _Shape, counts: tuple[int, ...]) -> _TogetherPlan:
    quote = dialect.identifier_preparer.quote
    statements = []
    processors = []
    defaults = []
    number = 0
    for (table, given), count in zip(shape, counts, strict=True):
        filled = []
        for column in table.columns:
            if column.key not in given and column.default is not None:
                filled.append((column, _default_of(column)))
        columns = [table.columns[key] for key in given] + [c for c, _ in filled]
        casts = [c.type.compile(dialect=dialect) for c in columns]
        rows = []
        for _ in range(count):
            rows.append(
                "(" + ", ".join(f"${number + i + 1}::{t}" for i, t in enumerate(casts)) + ")"
            )
            number += len(columns)
        names = ", ".join(quote(c.name) for c in columns)
        statements.append(f"INSERT INTO {quote(table.name)} ({names}) VALUES {', '.join(rows)}")
        processors.append(
            tuple(table.columns[key].type._cached_bind_processor(dialect) for key in given)
        )
        defaults.append(tuple((c.type._cached_bind_processor(dialect), make) for c, make in filled))
    *firsts, last = statements
    ctes = ", ".join(f"written_{i} AS ({sql})" for i, sql in enumerate(firsts))
    return _TogetherPlan(
        sql=f"WITH {ctes} {last}",
        given=tuple(given for _, given in shape),
        processors=tuple(processors),
        defaults=tuple(defaults),
        tables=frozenset(table.name for table, _ in shape),
    )


async def _insert_together(
    session: AsyncSession,
    dialect: Dialect,
    plan: _TogetherPlan,
    groups: Sequence[Sequence[Params]],
) -> None:
    arguments: list[Any] = []
    append = arguments.append
    for rows, given, processors, defaults in zip(
        groups, plan.given, plan.processors, plan.defaults, strict=True
    ):
        for row in rows:
            for key, process in zip(given, processors, strict=True):
                append(row[key] if process is None else process(row[key]))
            for process, make in defaults:
                append(make() if process is None else process(make()))
    note_written_tables(session.sync_session, plan.tables)
    await _send(session, dialect, plan.sql, arguments, "status")
