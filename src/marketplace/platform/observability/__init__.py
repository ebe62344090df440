"""Observability: JSON logging with secret redaction, request ids, Prometheus metrics, Sentry.

This package owns how the process talks about itself: the structlog/stdlib logging pipeline
(one JSON object per line), the per-request id (contextvar + ``X-Request-ID`` header), the HTTP
and platform Prometheus metrics with their exposition endpoint, and Sentry error reporting.
It is deliberately self-contained (third-party libraries only) so every other module can
import it without creating cycles.

The modules: `redaction` (secrets out of logs and reports), `logs` (the logging pipeline),
`metrics` (Prometheus metrics and their endpoint), `request_context` (request ids and the
request middleware), `sentry` (error reporting).
"""

from marketplace.platform.observability.logs import configure_logging
from marketplace.platform.observability.metrics import (
    HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS_IN_PROGRESS,
    HTTP_REQUESTS_TOTAL,
    IDEMPOTENT_REPLAYS_TOTAL,
    JOB_DELIVERIES_TOTAL,
    OUTBOX_MESSAGES_PUBLISHED_TOTAL,
    UNMATCHED_ROUTE,
    JobOutcome,
    mark_process_dead,
    metrics_response,
    record_job_delivery,
)
from marketplace.platform.observability.redaction import REDACTED, redact_processor, redact_value
from marketplace.platform.observability.request_context import (
    REQUEST_ID_HEADER,
    RequestContextMiddleware,
    get_request_id,
    request_id_var,
)
from marketplace.platform.observability.sentry import init_sentry

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
