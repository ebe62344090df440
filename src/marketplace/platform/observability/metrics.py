"""The HTTP and platform Prometheus metrics, their bounded labels (method, route template),
and the exposition endpoint, single- or multi-process.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response

if TYPE_CHECKING:
    from starlette.types import Scope


_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Label values must come from a bounded set: a client sending "FOO" methods or random paths
# must not be able to create unbounded time series.
_KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
UNMATCHED_ROUTE: Final = "unmatched"

HTTP_REQUESTS_TOTAL: Final = Counter(
    "http_requests_total",
    "HTTP requests handled, by method, route template and status code.",
    ("method", "route", "status"),
)
HTTP_REQUEST_DURATION_SECONDS: Final = Histogram(
    "http_request_duration_seconds",
    "Time from receiving an HTTP request to the application returning, by route template.",
    ("method", "route"),
    buckets=_LATENCY_BUCKETS,
)
HTTP_REQUESTS_IN_PROGRESS: Final = Gauge(
    "http_requests_in_progress",
    "HTTP requests currently being handled.",
    ("method",),
    # Summed over live workers only; a dead worker's in-flight count must not stick around.
    multiprocess_mode="livesum",
)
OUTBOX_MESSAGES_PUBLISHED_TOTAL: Final = Counter(
    "outbox_messages_published_total",
    "Outbox messages handed to the broker.",
)
JOB_DELIVERIES_TOTAL: Final = Counter(
    "job_deliveries_total",
    "Background job deliveries, by handler and outcome (succeeded, failed, dead).",
    ("handler", "outcome"),
)
JOB_BURST_ACTIVE: Final = Gauge(
    "job_burst_active",
    "1 while this worker holds deferrable deliveries because the marketplace is in a burst.",
    multiprocess_mode="livemax",
)
ADMISSION_WAITING: Final = Gauge(
    "http_requests_waiting_admission",
    "HTTP requests waiting for one of the process's places (see platform.admission).",
    multiprocess_mode="livesum",
)
ADMISSION_REJECTED_TOTAL: Final = Counter(
    "http_requests_overloaded_total",
    "HTTP requests answered 503 overloaded after waiting longer than the admission limit.",
)
IDEMPOTENT_REPLAYS_TOTAL: Final = Counter(
    "idempotent_replays_total",
    "Requests answered from a stored idempotent response instead of being executed again.",
)

JobOutcome = Literal["succeeded", "failed", "dead"]
_JOB_OUTCOMES: Final = frozenset({"succeeded", "failed", "dead"})


def record_job_delivery(handler: str, outcome: JobOutcome) -> None:
    """Count one job delivery; ``outcome`` is validated because it is a metric label."""
    if outcome not in _JOB_OUTCOMES:
        raise ValueError(f"unknown job outcome {outcome!r}")
    JOB_DELIVERIES_TOTAL.labels(handler=handler, outcome=outcome).inc()


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def metrics_response() -> Response:
    """Prometheus text exposition of all metrics, aggregated across workers if multiprocess."""
    if _multiprocess_dir() is not None:
        # Each uvicorn worker writes its own mmap files; a fresh registry per scrape merges
        # them. The default registry would only show the worker that happened to answer.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live-gauge files (call from the process manager's child-exit hook)."""
    if _multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _method_label(method: str) -> str:
    return method if method in _KNOWN_METHODS else "OTHER"


def _mount_prefix(scope: Scope) -> str:
    # Starlette's Mount appends the matched prefix to root_path and remembers the original in
    # app_root_path; the difference is the mount prefix the inner route template lacks.
    app_root_path = scope.get("app_root_path")
    root_path = scope.get("root_path", "")
    if isinstance(app_root_path, str) and isinstance(root_path, str):
        return root_path.removeprefix(app_root_path)
    return ""


def _route_template(scope: Scope) -> str:
    """The matched route template for labels, e.g. ``/v1/products/{pid}``, never the raw path."""
    # FastAPI >= 0.137 no longer flattens include_router(): scope["route"] is the leaf APIRoute
    # *without* the router prefixes. The full template only lives in FastAPI's (private)
    # effective route context, so read it duck-typed and fall back to scope["route"].
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        context = fastapi_scope.get("effective_route_context")
        path_format = getattr(context, "path_format", None)
        if isinstance(path_format, str) and path_format:
            return _mount_prefix(scope) + path_format
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    if isinstance(path_format, str) and path_format:
        return _mount_prefix(scope) + path_format
    return UNMATCHED_ROUTE
