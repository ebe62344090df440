"""Observability: JSON logging with secret redaction, request ids, Prometheus metrics, Sentry.

This module owns how the process talks about itself: the structlog/stdlib logging pipeline
(one JSON object per line), the per-request id (contextvar + ``X-Request-ID`` header), the HTTP
and platform Prometheus metrics with their exposition endpoint, and Sentry error reporting.
It is deliberately self-contained (third-party libraries only) so every other module can
import it without creating cycles.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Literal, cast
from urllib.parse import parse_qsl, urlencode

import sentry_sdk
import structlog
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
from starlette.datastructures import MutableHeaders
from starlette.responses import Response

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "HTTP_REQUESTS_IN_PROGRESS",
    "HTTP_REQUESTS_TOTAL",
    "HTTP_REQUEST_DURATION_SECONDS",
    "IDEMPOTENT_REPLAYS_TOTAL",
    "JOB_DELIVERIES_TOTAL",
    "OUTBOX_MESSAGES_PUBLISHED_TOTAL",
    "REDACTED",
    "REQUEST_ID_HEADER",
    "UNMATCHED_ROUTE",
    "JobOutcome",
    "RequestContextMiddleware",
    "configure_logging",
    "get_request_id",
    "init_sentry",
    "mark_process_dead",
    "metrics_response",
    "record_job_delivery",
    "redact_processor",
    "redact_value",
    "request_id_var",
]

REDACTED: Final = "[REDACTED]"
REQUEST_ID_HEADER: Final = "X-Request-ID"

# ---------------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------------

# Keys are compared after lower-casing and dropping separators, and by substring, so that
# "X-Api-Key", "apiKey", "db_password" and "stripe_client_secret" are all caught. Redacting a
# harmless "token_type" now and then is the accepted price of never leaking a real one.
_SENSITIVE_KEY_PARTS: Final = (
    "password",
    "passwd",
    "secret",
    "token",
    "accesstoken",
    "refreshtoken",
    "authorization",
    "apikey",
    "cardnumber",
    "iban",
    "accountnumber",
    "cvc",
    "cvv",
    "cookie",
)
_KEY_NORMALIZE_RE: Final = re.compile(r"[^a-z0-9]")

_BEARER_RE: Final = re.compile(r"\b(bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE)
_JWT_RE: Final = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_API_KEY_RE: Final = re.compile(r"(?<![A-Za-z0-9])mk_[A-Za-z0-9_-]{20,}")
# A run of digit groups joined by single spaces/dashes. PANs are searched *within* a run
# (over whole groups) because a greedy 13-19 digit regex would split "order 1234... 4242..."
# at the wrong place and miss the card. [0-9], not \d: \d also matches non-ASCII digits.
_DIGIT_RUN_RE: Final = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])")
_DIGIT_GROUP_RE: Final = re.compile(r"[0-9]+")
_PAN_MIN_DIGITS: Final = 13
_PAN_MAX_DIGITS: Final = 19

# Nested structures in log calls are shallow in practice; the cap only guards against cycles.
_MAX_REDACTION_DEPTH: Final = 8
# Values structlog/ProcessorFormatter use for bookkeeping; rewriting them would break rendering.
_SKIP_KEYS: Final = frozenset({"exc_info", "_record", "_from_structlog"})


def _is_sensitive_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    normalized = _KEY_NORMALIZE_RE.sub("", key.lower())
    return any(part in normalized for part in _SENSITIVE_KEY_PARTS)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _redact_pans_in_run(match: re.Match[str]) -> str:
    run = match.group(0)
    groups = [(g.start(), g.end()) for g in _DIGIT_GROUP_RE.finditer(run)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        digits = ""
        found = False
        for j in range(i, len(groups)):
            digits += run[groups[j][0] : groups[j][1]]
            if len(digits) > _PAN_MAX_DIGITS:
                break
            if len(digits) >= _PAN_MIN_DIGITS and _luhn_valid(digits):
                spans.append((groups[i][0], groups[j][1]))
                i = j + 1
                found = True
                break
        if not found:
            i += 1
    if not spans:
        return run
    pieces: list[str] = []
    cursor = 0
    for start, end in spans:
        pieces.append(run[cursor:start])
        pieces.append(REDACTED)
        cursor = end
    pieces.append(run[cursor:])
    return "".join(pieces)


def redact_value(value: str) -> str:
    """Replace bearer tokens, JWTs, ``mk_`` API keys and Luhn-valid card numbers in *value*."""
    value = _BEARER_RE.sub(rf"\1 {REDACTED}", value)
    value = _JWT_RE.sub(REDACTED, value)
    value = _API_KEY_RE.sub(REDACTED, value)
    return _DIGIT_RUN_RE.sub(_redact_pans_in_run, value)


def _redact(value: object, depth: int = 0) -> object:
    if isinstance(value, str):
        return redact_value(value)
    if depth >= _MAX_REDACTION_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _is_sensitive_key(key) else _redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, depth + 1) for item in value)
    return value


def redact_processor(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor applying key- and pattern-based redaction to every value."""
    for key, value in list(event_dict.items()):
        if key in _SKIP_KEYS:
            continue
        event_dict[key] = REDACTED if _is_sensitive_key(key) else _redact(value)
    return event_dict


def _redact_exception(
    _logger: WrappedLogger, _method_name: str, event_dict: EventDict
) -> EventDict:
    # Tracebacks are rendered after the shared chain ran; their text can quote secrets too.
    exception = event_dict.get("exception")
    if isinstance(exception, str):
        event_dict["exception"] = redact_value(exception)
    return event_dict


# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------

# Marks the handler configure_logging installs so a second call replaces it instead of
# stacking a duplicate (and leaves handlers installed by others, e.g. pytest, alone).
_HANDLER_MARKER: Final = "_marketplace_observability_handler"
# Libraries that install their own handlers or stop propagation; routing them to the root
# handler is what makes *every* line JSON.
_ROUTED_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "taskiq", "sqlalchemy")


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and stdlib logging through one handler on stdout.

    ``json=True`` renders one JSON object per line; ``json=False`` a human console format.
    Safe to call repeatedly: the previously installed handler is replaced. uvicorn re-applies
    its own logging config at startup unless run with ``log_config=None``.
    """
    numeric_level = logging.getLevelNamesMapping().get(level.upper())
    if numeric_level is None:
        raise ValueError(f"unknown log level {level!r}")

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            # Redact before handing over to stdlib so that any other handler on the record
            # (Sentry's logging integration, pytest's caplog) only ever sees redacted values.
            redact_processor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Caching would freeze the chain into module-level loggers on first use, so a later
        # reconfiguration (or structlog.testing.capture_logs in tests) would be ignored.
        cache_logger_on_first_use=False,
    )

    stream = sys.stdout
    renderer_chain: list[Processor]
    if json:
        renderer_chain = [
            structlog.processors.format_exc_info,
            _redact_exception,
            structlog.processors.JSONRenderer(),
        ]
    else:
        renderer_chain = [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), redact_processor],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer_chain],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARKER, True)

    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARKER, False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric_level)

    for name in _ROUTED_LOGGERS:
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True
    # The middleware's "http_request" line carries route template, duration and request id;
    # uvicorn's access line would be a less useful duplicate of every request.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Request context middleware
# ---------------------------------------------------------------------------------------------

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_REQUEST_ID_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
_REQUEST_ID_HEADER_RAW: Final = REQUEST_ID_HEADER.lower().encode("latin-1")
_access_log = structlog.stdlib.get_logger("marketplace.access")


def get_request_id() -> str | None:
    """The id of the HTTP request being handled in this context, if any."""
    return request_id_var.get()


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_HEADER_RAW:
            candidate = value.decode("latin-1")
            # Only ids that are safe to echo into headers, logs and metrics exemplars.
            return candidate if _REQUEST_ID_RE.fullmatch(candidate) else None
    return None


class RequestContextMiddleware:
    """Pure ASGI middleware: request id, structlog context, access log and HTTP metrics.

    Metrics live here rather than in a separate middleware so that the access log line and the
    Prometheus series share one clock and one observed status, and each request pays for one
    wrapper instead of two. Added with ``app.add_middleware`` it runs inside Starlette's
    ServerErrorMiddleware, so an unhandled exception is recorded as status 500 here while the
    500 response itself is produced further out (without the ``X-Request-ID`` header).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        method = _method_label(scope["method"])
        status_code = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])  # optional in the ASGI spec
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        # Restored afterwards instead of cleared outright: under an in-process transport (tests,
        # ASGITransport) the request shares the caller's context and must not wipe its bindings.
        outer_context = structlog.contextvars.get_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        token = request_id_var.set(request_id)
        in_progress = HTTP_REQUESTS_IN_PROGRESS.labels(method=method)
        in_progress.inc()
        error: Exception | None = None
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            error = exc
            raise
        finally:
            duration = time.perf_counter() - started
            in_progress.dec()
            route = _route_template(scope)
            HTTP_REQUESTS_TOTAL.labels(method=method, route=route, status=str(status_code)).inc()
            HTTP_REQUEST_DURATION_SECONDS.labels(method=method, route=route).observe(duration)
            access_fields: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status_code,
                "duration_ms": round(duration * 1000, 3),
            }
            if error is None:
                _access_log.info("http_request", **access_fields)
            else:
                # Logged here, inside the request context, so the traceback carries request_id.
                _access_log.error("http_request", exc_info=error, **access_fields)
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(**outer_context)
            request_id_var.reset(token)


# ---------------------------------------------------------------------------------------------
# Sentry
# ---------------------------------------------------------------------------------------------

_REQUEST_KEYS_TO_REDACT: Final = ("headers", "data", "cookies", "env")


def _redact_query_string(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        return redact_value(query)
    return urlencode(
        [(key, REDACTED if _is_sensitive_key(key) else redact_value(val)) for key, val in pairs]
    )


def _sentry_before_send(event: Event, _hint: Hint) -> Event | None:
    data = cast(dict[str, Any], event)
    request = data.get("request")
    if isinstance(request, dict):
        for key in _REQUEST_KEYS_TO_REDACT:
            if key in request:
                request[key] = _redact(request[key])
        query = request.get("query_string")
        if isinstance(query, str):
            request["query_string"] = _redact_query_string(query)
    if "extra" in data:
        data["extra"] = _redact(data["extra"])
    # Exception messages and log breadcrumbs routinely quote the offending token or card.
    exception = data.get("exception")
    if isinstance(exception, dict):
        for value in exception.get("values") or ():
            if isinstance(value, dict) and isinstance(value.get("value"), str):
                value["value"] = redact_value(value["value"])
    breadcrumbs = data.get("breadcrumbs")
    if isinstance(breadcrumbs, dict) and isinstance(breadcrumbs.get("values"), list):
        breadcrumbs["values"] = _redact(breadcrumbs["values"])
    logentry = data.get("logentry")
    if isinstance(logentry, dict):
        data["logentry"] = _redact(logentry)
    return event


def init_sentry(
    dsn: str | None,
    *,
    environment: str,
    release: str | None,
    traces_sample_rate: float = 0.0,
) -> bool:
    """Initialise Sentry; returns False (and does nothing) when no DSN is configured."""
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        before_send=_sentry_before_send,
    )
    return True
