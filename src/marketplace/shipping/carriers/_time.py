"""Carrier timestamps: ISO 8601, with an offset or `Z`, sometimes without either."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime, or None when absent or unreadable. A time without an offset is
    taken as UTC (carriers that omit it report in UTC or close to it; ordering is what we
    need it for)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def join_place(*parts: object) -> str | None:
    words = [str(p).strip() for p in parts if isinstance(p, str) and p.strip()]
    return ", ".join(words)[:200] if words else None
