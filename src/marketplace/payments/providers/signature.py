"""Stripe's webhook signature scheme and event envelope, which the sandbox uses as they are.

The header is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` (several `v1`
entries are allowed while a secret rotates). The timestamp is signed with the body, so an
old captured request cannot be replayed after the tolerance (5 minutes) has passed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from marketplace.payments.providers.base import InvalidSignature

DEFAULT_TOLERANCE = timedelta(minutes=5)


def compute(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={compute(secret, body, timestamp)}"


def verify(
    secrets: Sequence[bytes],
    body: bytes,
    header: str | None,
    *,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> int:
    """Return the signed timestamp, or raise InvalidSignature."""
    if not header:
        raise InvalidSignature("missing signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("malformed timestamp") from None
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("the header needs t= and v1=")
    # Compare every candidate with every secret in constant time: no early exit reveals which.
    matched = False
    for secret in secrets:
        expected = compute(secret, body, timestamp)
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignature("no signature matches the body")
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        raise InvalidSignature("timestamp outside the tolerance")
    return timestamp


def event_envelope(body: bytes, *, who: str) -> tuple[str, str, dict[str, Any]]:
    """`(id, type, data.object)` of a Stripe-shaped event body (Stripe's and the sandbox's);
    ValueError naming `who` for a body that is not one."""
    try:
        payload = orjson.loads(body)
        event_id = str(payload["id"])
        type_ = str(payload["type"])
        obj = payload["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"not a {who} event") from None
    if not isinstance(obj, dict):
        raise ValueError(f"not a {who} event")
    return event_id, type_, obj
