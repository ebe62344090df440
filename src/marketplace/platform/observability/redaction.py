"""Secret redaction for everything the process logs or reports: sensitive keys by name,
bearer tokens, JWTs, API keys and Luhn-valid card numbers in values, nested structures and
exception text, as a structlog processor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from structlog.typing import EventDict, WrappedLogger


REDACTED: Final = "[REDACTED]"


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
