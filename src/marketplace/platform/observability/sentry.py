"""Sentry error reporting: request data, extras, exception messages, breadcrumbs and log
entries are redacted before an event leaves the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import parse_qsl, urlencode

import sentry_sdk

from marketplace.platform.observability.redaction import (
    REDACTED,
    _is_sensitive_key,
    _redact,
    redact_value,
)

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint


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
