"""The per-request id (contextvar + ``X-Request-ID`` header), bound to every log line of the
request, and the middleware that also counts and times each request and logs its access line.
"""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

import structlog
from starlette.datastructures import MutableHeaders

from marketplace.platform.observability.metrics import (
    HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS_IN_PROGRESS,
    HTTP_REQUESTS_TOTAL,
    _method_label,
    _route_template,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


REQUEST_ID_HEADER: Final = "X-Request-ID"

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
