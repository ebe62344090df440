"""The unit of work: one database transaction per use case, with its outbox messages.

Services receive a `UnitOfWork`, change state through `uow.session`, and record what
happened with `uow.publish(event)` / `uow.enqueue(job, ...)`. The boundary (HTTP middleware,
job runner, CLI) commits. Messages are written to the outbox inside the same transaction, so
a change and the news of it commit together or not at all; after-commit callbacks run only
when the commit succeeded and are dropped on rollback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database, take_written_tables, transient
from marketplace.platform.direct import insert_objects
from marketplace.platform.ids import new_id
from marketplace.platform.messaging import Event
from marketplace.platform.models import OutboxMessage

logger = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
BeforeCommit = Callable[["UnitOfWork"], Awaitable[None]]


class UnitOfWork:
    def __init__(
        self,
        db: Database,
        *,
        request_id: str | None = None,
        client_ip: str | None = None,
        on_messages_committed: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.request_id = request_id
        self.client_ip = client_ip
        self._session: AsyncSession | None = None
        self._messages: list[OutboxMessage] = []
        self._new_rows: list[Any] = []
        self._after_commit: list[AfterCommit] = []
        self._before_commit: dict[str, BeforeCommit] = {}
        self.extras: dict[str, object] = {}
        self._on_messages_committed = on_messages_committed
        self.rollback_only = False
        # Set while others' work shares this transaction (a batch of deliveries): a commit
        # part-way would commit theirs too, so it raises this instead.
        self.commits_refused: str | None = None

    @property
    def session(self) -> AsyncSession:
        # Opened on first use: requests that never touch the database never take a connection.
        if self._session is None:
            self._session = self.db.session()
        return self._session

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def publish(self, event: Event) -> str:
        return self._add("event", event.name, event.model_dump(mode="json"))

    def enqueue(self, job: str, payload: Mapping[str, Any] | None = None) -> str:
        return self._add("job", job, dict(payload or {}))

    def _add(self, kind: str, name: str, payload: dict[str, Any]) -> str:
        message = transient(
            OutboxMessage,
            id=new_id("msg"),
            kind=kind,
            name=name,
            payload=payload,
            request_id=self.request_id,
            occurred_at=utcnow(),
        )
        self._messages.append(message)
        return message.id

    def add_new(self, *rows: Any) -> None:
        """Insert `rows`, new mapped objects nobody changes or reads again in this transaction
        (event records, timeline and log lines), with the messages: one Core INSERT per table
        at the next `flush` or commit. The ORM does not track them (its flush costs more than
        the INSERT), so a query in the same transaction sees them only after `flush`."""
        self._new_rows.extend(rows)

    @property
    def pending_messages(self) -> list[OutboxMessage]:
        return list(self._messages)

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    def before_commit(self, key: str, callback: BeforeCommit) -> None:
        """Run `callback` inside the transaction just before it commits, once per `key`.

        For work that should hold locks as briefly as possible (appending to a hash chain),
        or be batched per transaction. Data for it can be kept in `extras[key]`.
        """
        self._before_commit.setdefault(key, callback)

    async def as_one_statement(self) -> None:
        """Declare the transaction about to start one statement (its new rows and messages,
        written by the commit): on PostgreSQL it then runs without BEGIN and COMMIT, a
        transaction of its own, in one round trip instead of three. Call it first, before
        anything of the transaction runs; elsewhere (SQLite, sessions that join a
        transaction held open by a test) it changes nothing."""
        if self.db.statement_transactions:
            await self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    def mark_rollback_only(self) -> None:
        """The request failed: whatever the handler changed must not be committed."""
        self.rollback_only = True

    async def _write_messages(self) -> None:
        # One Core INSERT per table for the transaction's new rows and messages (see
        # `insert_objects`).
        if self._messages or self._new_rows:
            rows, self._new_rows = self._new_rows, []
            messages, self._messages = self._messages, []
            await insert_objects(self.session, [*rows, *messages])

    async def flush(self) -> None:
        """Write what is pending, the messages included (they are not written again at
        commit; a savepoint rolled back after this takes them with it)."""
        await self._write_messages()
        if self._session is not None:
            await self._session.flush()

    async def commit(self) -> None:
        if self.rollback_only:
            raise RuntimeError("unit of work was marked rollback-only")
        if self.commits_refused is not None:
            raise RuntimeError(self.commits_refused)
        hooks, self._before_commit = self._before_commit, {}
        for hook in hooks.values():
            await hook(self)
        wrote_messages = bool(self._messages)
        await self._write_messages()
        written: set[str] = set()
        if self._session is not None:
            await self._session.flush()
            written = take_written_tables(self._session)
            await self._session.commit()
        callbacks, self._after_commit = self._after_commit, []
        if written:
            for listener in self.db.write_listeners:
                try:
                    await listener(written)
                except Exception:
                    logger.exception("write listener failed")
        if wrote_messages and self._on_messages_committed is not None:
            self._on_messages_committed()
        for callback in callbacks:
            try:
                await callback()
            except Exception:
                # The transaction is durable; a failed side effect must not turn it into an error.
                logger.exception("after-commit callback failed")

    async def rollback(self) -> None:
        self._messages = []
        self._new_rows = []
        self._after_commit = []
        self._before_commit = {}
        self.extras = {}
        if self._session is not None:
            await self._session.rollback()
            take_written_tables(self._session)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving the block without commit() means rollback: commits are explicit.
        try:
            await self.rollback()
        finally:
            await self.close()


class UnitOfWorkFactory:
    """Creates units of work wired to the process's database and outbox relay."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._listeners: list[Callable[[], None]] = []

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def __call__(
        self, *, request_id: str | None = None, client_ip: str | None = None
    ) -> UnitOfWork:
        return UnitOfWork(
            self.db,
            request_id=request_id,
            client_ip=client_ip,
            on_messages_committed=self._notify,
        )
