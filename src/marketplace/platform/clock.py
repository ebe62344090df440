"""Owns the notion of "now": every timestamp in the system is timezone-aware UTC.

Naive datetimes are ambiguous (local time? UTC?) and compare unequal to aware ones at
runtime, so the kernel hands out aware values only and normalises anything it is given.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["ensure_utc", "utcnow"]


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def ensure_utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime.

    Naive values are taken to already be UTC (that is how SQLite and most drivers hand
    back ``timestamp without time zone`` columns); aware values are converted.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
