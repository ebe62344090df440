"""Events, jobs and the registry that says who handles what.

Contexts declare their events as `Event` subclasses with a versioned name
(`orders.order_placed.v1`), subscribe idempotent handlers to other contexts' events, and
declare jobs (`catalog.generate_thumbnails`) and periodic schedules. The registry is built
once by the composition root; the outbox relay and the delivery runner read it.

A handler or job that can wait is registered `deferrable`: during a burst its deliveries
are held until the burst is over (`platform.burst`). Mark only work whose lateness nobody
is waiting on, such as documents and order e-mails, never money movement or account
security.

A subscriber may also say which of an event's messages it has no use for (`unless`, a test
on the payload): the relay writes no delivery for those, so nothing runs, is logged or
retried for them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from marketplace.platform.uow import UnitOfWork


class Event(BaseModel):
    """A fact that happened, published through the outbox. Subclasses set `name`."""

    model_config = ConfigDict(frozen=True)
    name: ClassVar[str]


@dataclass(frozen=True, slots=True)
class Message:
    """What a handler or job receives: the outbox row's identity and payload."""

    id: str
    kind: Literal["event", "job"]
    name: str
    payload: Mapping[str, Any]
    occurred_at: datetime
    attempt: int
    request_id: str | None = None


Handler = Callable[["UnitOfWork", Message], Awaitable[None]]
# A subscriber's test on a message's payload: true when the subscriber has no use for it.
Skip = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    job: str
    every: timedelta
    payload: Mapping[str, Any] = field(default_factory=dict)


class UnknownHandler(LookupError):
    pass


class Registry:
    """Subscribers per event name, job functions per job name, and periodic schedules."""

    def __init__(self) -> None:
        self._events: dict[str, type[Event]] = {}
        self._subscribers: dict[str, list[str]] = {}
        self._handlers: dict[str, Handler] = {}
        self._jobs: set[str] = set()
        self._deferrable: frozenset[str] = frozenset()
        self._batched: frozenset[str] = frozenset()
        self._unless: dict[str, Skip] = {}
        self.periodic: list[PeriodicJob] = []

    def event(self, event_type: type[Event]) -> type[Event]:
        self._events[event_type.name] = event_type
        return event_type

    def subscribe(
        self,
        event_type: type[Event],
        *,
        name: str,
        deferrable: bool = False,
        unless: Skip | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register `handler` under a stable `name` (the deduplication key with the event id).
        `unless(payload)` true: the handler has no use for that message and gets no delivery.

        Renaming a handler makes in-flight deliveries unknown: keep names stable.
        """

        def decorator(handler: Handler) -> Handler:
            self._add_handler(name, handler, deferrable=deferrable)
            self._events.setdefault(event_type.name, event_type)
            self._subscribers.setdefault(event_type.name, []).append(name)
            if unless is not None:
                self._unless[name] = unless
            return handler

        return decorator

    def job(
        self, name: str, *, deferrable: bool = False, batched: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register the job `name`. `batched`: its deliveries may share one transaction with
        others kicked together (`jobs.run_batch`); only for a handler that never commits
        itself, waits on nothing slow, and keeps nothing of its own in `uow.extras`."""

        def decorator(handler: Handler) -> Handler:
            self._add_handler(name, handler, deferrable=deferrable)
            self._jobs.add(name)
            if batched:
                self._batched = self._batched | {name}
            return handler

        return decorator

    def every(self, interval: timedelta, job: str, **payload: Any) -> None:
        if job not in self._jobs:
            raise UnknownHandler(f"periodic job {job!r} is not a registered job")
        self.periodic.append(PeriodicJob(job=job, every=interval, payload=payload))

    def _add_handler(self, name: str, handler: Handler, *, deferrable: bool) -> None:
        if name in self._handlers:
            raise ValueError(f"handler name {name!r} registered twice")
        self._handlers[name] = handler
        if deferrable:
            self._deferrable = self._deferrable | {name}

    @property
    def deferrable(self) -> frozenset[str]:
        """Handlers whose deliveries wait while the marketplace is in a burst (asked for every
        delivery a worker runs during one: built at registration, not per call)."""
        return self._deferrable

    @property
    def batched(self) -> frozenset[str]:
        """Jobs whose deliveries may run in one transaction with others (`jobs.run_batch`)."""
        return self._batched

    def handlers_for(
        self, kind: str, name: str, payload: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Who gets a delivery of this message (with its `payload`: less those subscribers
        that have no use for it)."""
        if kind == "job":
            return [name] if name in self._jobs else []
        subscribers = self._subscribers.get(name, ())
        if payload is None:
            return list(subscribers)
        return [h for h in subscribers if h not in self._unless or not self._unless[h](payload)]

    def is_job(self, name: str) -> bool:
        return name in self._jobs

    def handler(self, name: str) -> Handler:
        try:
            return self._handlers[name]
        except KeyError:
            raise UnknownHandler(name) from None

    def event_type(self, name: str) -> type[Event] | None:
        return self._events.get(name)
