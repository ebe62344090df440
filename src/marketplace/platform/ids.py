"""Owns entity identifiers: opaque, prefixed, time-ordered ULIDs such as ``ord_01JD3X...``.

The prefix makes ids self-describing in logs and support tickets; the ULID body sorts by
creation time, which keeps B-tree inserts append-mostly and lets cursors paginate by id.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

__all__ = ["id_timestamp", "new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_DECODE = {char: value for value, char in enumerate(_ALPHABET)}
_ULID_LEN = 26
_TIME_LEN = 10
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
_TIME_MAX = (1 << 48) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_PREFIX_RE = re.compile(r"[a-z]{2,8}")
# 26 chars carry 130 bits, so a 128-bit ULID always starts with 0-7.
_ID_RE = re.compile(r"([a-z]{2,8})_([0-7][0-9A-HJKMNP-TV-Z]{25})")

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _reset_after_fork() -> None:
    # A forked worker inherits the parent's last random value; without a reset both
    # processes would produce the same "next" id within the same millisecond.
    global _last_ms, _last_random
    _last_ms = -1
    _last_random = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _next_ulid_parts() -> tuple[int, int]:
    global _last_ms, _last_random
    now_ms = _now_ms()
    with _lock:
        if now_ms > _last_ms:
            _last_ms = now_ms
            _last_random = secrets.randbits(_RANDOM_BITS)
        elif _last_random < _RANDOM_MAX:
            # Same millisecond, or the wall clock stepped backwards: keep the previous
            # timestamp and bump the random part so ids stay strictly increasing.
            _last_random += 1
        else:
            # 2**80 ids in one millisecond is only reachable from an unlucky draw near the
            # top of the range; borrowing the next millisecond keeps ordering intact.
            _last_ms += 1
            _last_random = secrets.randbits(_RANDOM_BITS)
        if _last_ms > _TIME_MAX:
            raise OverflowError("ULID timestamp exceeds 48 bits")
        return _last_ms, _last_random


# Ten bits to two characters: a ULID's 48-bit time is 10 characters (its top two bits zero)
# and its 80 random bits 16, five and eight table lookups. A checkout makes thirty ids: digit
# by digit this was a visible share of its CPU, and base64's base32 (a Python loop over
# 5-byte groups) still 2 µs an id. The time's characters change once a millisecond, and are
# kept for it.
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_time_text: tuple[int, str] = (-1, "")
# Prefixes already checked: a handful of constants in practice; the bound keeps odd callers
# from growing it.
_checked_prefixes: set[str] = set()
_CHECKED_PREFIXES_MAX = 256


def _encode_time(ms: int) -> str:
    global _time_text
    cached_ms, text = _time_text
    if cached_ms != ms:
        pairs = _PAIRS
        text = (
            pairs[ms >> 40]
            + pairs[(ms >> 30) & 1023]
            + pairs[(ms >> 20) & 1023]
            + pairs[(ms >> 10) & 1023]
            + pairs[ms & 1023]
        )
        _time_text = (ms, text)
    return text


def _encode_random(value: int) -> str:
    pairs = _PAIRS
    high, low = value >> 40, value & 0xFF_FFFF_FFFF
    return (
        pairs[high >> 30]
        + pairs[(high >> 20) & 1023]
        + pairs[(high >> 10) & 1023]
        + pairs[high & 1023]
        + pairs[low >> 30]
        + pairs[(low >> 20) & 1023]
        + pairs[(low >> 10) & 1023]
        + pairs[low & 1023]
    )


def _encode(value: int) -> str:
    """The 26 characters of a 128-bit ULID."""
    return _encode_time(value >> _RANDOM_BITS) + _encode_random(value & _RANDOM_MAX)


def new_id(prefix: str) -> str:
    """Return a new id ``<prefix>_<ULID>``; ids from one process sort in creation order.

    ``prefix`` must be 2-8 lowercase ASCII letters (``ord``, ``usr``, ``vnd``...).
    """
    if prefix not in _checked_prefixes:
        if not isinstance(prefix, str) or _PREFIX_RE.fullmatch(prefix) is None:
            raise ValueError(f"id prefix must be 2-8 lowercase ASCII letters, got {prefix!r}")
        if len(_checked_prefixes) < _CHECKED_PREFIXES_MAX:
            _checked_prefixes.add(prefix)
    ms, rand = _next_ulid_parts()
    return f"{prefix}_{_encode_time(ms)}{_encode_random(rand)}"


def id_timestamp(id_: str) -> datetime:
    """Return the (millisecond-precision, UTC) creation time embedded in an id."""
    match = _ID_RE.fullmatch(id_) if isinstance(id_, str) else None
    if match is None:
        raise ValueError(f"not a valid id: {id_!r}")
    ms = 0
    for char in match.group(2)[:_TIME_LEN]:
        ms = (ms << 5) | _DECODE[char]
    return _EPOCH + timedelta(milliseconds=ms)
