"""The ASGI application: mounts the enabled contexts on the platform's HTTP boundary.

`create_app()` is the uvicorn factory (`marketplace serve`). Middleware, outermost first:
request context (request id, access log, metrics) → card-number guard (JSON bodies carrying
a card number are refused before anything else sees them) → unit of work (transaction per
request, idempotency) → FastAPI's routing and problem+json error handlers.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.responses import Response

from marketplace.bootstrap import Container, build_container, enabled_contexts
from marketplace.platform.admission import AdmissionGate, AdmissionMiddleware
from marketplace.platform.errors import install_problem_handlers
from marketplace.platform.health import Check, health_router
from marketplace.platform.heap import freeze_startup_heap
from marketplace.platform.http import UnitOfWorkMiddleware
from marketplace.platform.observability import (
    RequestContextMiddleware,
    configure_logging,
    init_sentry,
    metrics_response,
)
from marketplace.platform.openapi import install_openapi
from marketplace.platform.pan_guard import CardNumberGuardMiddleware
from marketplace.platform.readcache import CachedReadsMiddleware
from marketplace.platform.routing import include_flat
from marketplace.platform.storage import LocalStorage, MediaFiles, local_upload_router
from marketplace.platform.worker import ping_broker
from marketplace.settings import Settings

API_PREFIX = "/v1"


def _readiness_checks(container: Container) -> dict[str, Check]:
    checks: dict[str, Check] = {"database": container.db.ping}
    settings = container.settings
    if settings.redis_url:
        checks["redis"] = container.cache.ping
    if settings.broker_url:
        broker_url = settings.broker_url

        async def broker() -> None:
            await ping_broker(broker_url)

        checks["broker"] = broker
    return checks


def request_concurrency(settings: Settings) -> int:
    """The admission limit: as configured, or 4 per CPU core. A request spends much of its
    life waiting on the database, so a few per core keep the cores busy."""
    if settings.request_concurrency is not None:
        return settings.request_concurrency
    return 4 * (os.cpu_count() or 1)


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    contexts: Sequence[str] | None = None,
    extra_routers: Sequence[APIRouter] = (),
    run_jobs: bool | None = None,
    freeze_heap: bool = False,
    admission: bool = False,
) -> FastAPI:
    """The application. A serving process (`marketplace serve`) also freezes its start-up
    heap (`freeze_heap`) and queues requests at its admission gate (`admission`, see
    `platform.admission`); applications built for tests and tools do neither."""
    settings = settings or (container.settings if container else Settings())
    container = container or build_container(settings, contexts=enabled_contexts(contexts))
    jobs_here = settings.jobs_in_process if run_jobs is None else run_jobs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if jobs_here:
            await container.jobs.start(loops=True)
        if freeze_heap:
            freeze_startup_heap()
        try:
            yield
        finally:
            await container.jobs.stop()
            await container.cache.close()
            await container.db.dispose()

    configure_logging(level=settings.log_level, json=settings.log_json)
    init_sentry(
        settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None,
        environment=settings.env,
        release=settings.release,
    )
    app = FastAPI(
        title="Marketplace API",
        version="1.0.0",
        description="Multi-vendor marketplace backend: vendors, catalog, checkout, split "
        "payments, payouts, shipping, reviews and disputes.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.identity = container.identity
    app.state.cipher = container.cipher
    app.state.storage = container.storage
    app.state.read_cache = container.read_cache
    app.state.payment_gateways = container.payment_gateways
    install_problem_handlers(app)
    install_openapi(app)

    # Flat, not include_router(): a nested router costs its matching on every request.
    include_flat(app.router, health_router(_readiness_checks(container)))

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return metrics_response()

    v1 = APIRouter(prefix=API_PREFIX)
    for context in container.contexts:
        for router in context.routers():
            v1.include_router(router)
    for router in extra_routers:
        v1.include_router(router)
    include_flat(app.router, v1)
    if isinstance(container.storage, LocalStorage):
        # The embedded default serves its own files and direct uploads; S3 does both itself.
        include_flat(app.router, local_upload_router(container.storage))
        app.mount(
            container.storage.mount_path,
            MediaFiles(directory=container.storage.root, check_dir=False),
            name="media",
        )

    # Starlette wraps in reverse order of addition: the last added is the outermost.
    app.add_middleware(
        UnitOfWorkMiddleware,
        uow_factory=container.uow_factory,
        idempotency=container.idempotency,
        scope_resolver=container.idempotency_scope,
    )
    # Outside the unit of work: a body with a card number never reaches a transaction, an
    # idempotency record or a handler.
    app.add_middleware(CardNumberGuardMiddleware)
    limit = request_concurrency(settings)
    if admission and limit:
        # Inside the cached reads: a body served from the cache never waits in line.
        app.add_middleware(
            AdmissionMiddleware,
            gate=AdmissionGate(limit, max_wait=settings.request_queue_seconds),
        )
    app.add_middleware(
        CachedReadsMiddleware,
        cache=container.read_cache,
        keys=[key for context in container.contexts for key in context.cached_reads()],
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Idempotent-Replayed", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware)
    return app


def create_app_from_env() -> FastAPI:
    """uvicorn factory for `marketplace serve` (each worker process builds its own app)."""
    names = [n for n in os.environ.get("MARKETPLACE_SERVE_CONTEXTS", "").split(",") if n]
    return create_app(contexts=names or None, freeze_heap=True, admission=True)
