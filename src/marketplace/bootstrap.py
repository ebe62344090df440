"""Composition root: builds the process's parts for its deployment shape.

Settings decide the implementations (SQLite or PostgreSQL, memory cache or Redis, in-process
or RabbitMQ/Redis Streams broker); the enabled bounded contexts contribute routers, event
handlers, jobs and demo data. Nothing else in the code base chooses an implementation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter

from marketplace.platform import maintenance
from marketplace.platform.cache import Cache, build_cache
from marketplace.platform.db import Database
from marketplace.platform.idempotency import IdempotencyStore
from marketplace.platform.messaging import Registry
from marketplace.platform.uow import UnitOfWorkFactory
from marketplace.platform.worker import JobRuntime
from marketplace.settings import Settings


@dataclass(frozen=True)
class ContextSpec:
    """What a bounded context plugs into the process."""

    name: str
    routers: Callable[[], Sequence[APIRouter]] = lambda: ()
    register: Callable[[Registry], None] | None = None
    seed_demo: Callable[[Container], Awaitable[None]] | None = None


# Contexts in dependency order (seeding runs in this order).
CONTEXTS: tuple[ContextSpec, ...] = ()


@dataclass
class Container:
    settings: Settings
    db: Database
    cache: Cache
    registry: Registry
    uow_factory: UnitOfWorkFactory
    jobs: JobRuntime
    idempotency: IdempotencyStore
    contexts: tuple[ContextSpec, ...] = field(default=())


def enabled_contexts(names: Sequence[str] | None) -> tuple[ContextSpec, ...]:
    if not names:
        return CONTEXTS
    unknown = set(names) - {c.name for c in CONTEXTS}
    if unknown:
        raise ValueError(f"unknown contexts: {', '.join(sorted(unknown))}")
    return tuple(c for c in CONTEXTS if c.name in names)


def build_container(
    settings: Settings,
    *,
    contexts: Sequence[ContextSpec] | None = None,
    db: Database | None = None,
    inline_jobs: bool = False,
) -> Container:
    """Wire the parts; `db` and `inline_jobs` let tests run everything on one connection."""
    chosen = tuple(contexts) if contexts is not None else CONTEXTS
    db = db or Database.connect(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    registry = Registry()
    maintenance.register(registry)
    for context in chosen:
        if context.register is not None:
            context.register(registry)
    uow_factory = UnitOfWorkFactory(db)
    jobs = JobRuntime(
        uow_factory,
        registry,
        broker_url=settings.broker_url,
        broker_queue=settings.broker_queue,
        relay_interval=settings.relay_interval_seconds,
        max_attempts=settings.job_max_attempts,
        inline=inline_jobs,
    )
    return Container(
        settings=settings,
        db=db,
        cache=build_cache(settings.redis_url, prefix="mk:"),
        registry=registry,
        uow_factory=uow_factory,
        jobs=jobs,
        idempotency=IdempotencyStore(
            db,
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
            lease=timedelta(seconds=settings.idempotency_lock_seconds),
        ),
        contexts=chosen,
    )
