"""The structlog/stdlib logging pipeline: one handler on stdout, one JSON object per line
(or a console format), third-party loggers routed through it, secrets redacted.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Final

import structlog

from marketplace.platform.observability.redaction import _redact_exception, redact_processor

if TYPE_CHECKING:
    from structlog.typing import Processor


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
