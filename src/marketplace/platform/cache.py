"""Owns the async key/value cache and atomic counters behind rate limits, lockouts, hot reads.

Two interchangeable backends implement :class:`Cache`: :class:`MemoryCache` for a single
process (development, tests) and :class:`RedisCache` for anything with more than one
worker. Both follow Redis semantics so code tested against one behaves the same on the
other: values are bytes, counters are stored as decimal-ASCII bytes, ``set`` without a
TTL clears any previous TTL, and an ``incr`` TTL is only applied to a key that has none.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError, ResponseError

__all__ = ["Cache", "MemoryCache", "RedisCache", "build_cache"]

# Redis counters are signed 64-bit; the memory backend enforces the same range so an
# overflow bug shows up in tests rather than only in production.
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INTEGER_RE = re.compile(rb"-?[1-9][0-9]*|0")


@runtime_checkable
class Cache(Protocol):
    """Async cache and counter store; every key is namespaced by the backend's prefix."""

    async def get(self, key: str) -> bytes | None:
        """Return the value, or None if the key is missing or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store ``value``; without ``ttl_seconds`` the key never expires (any old TTL goes)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the key; return whether it existed."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl_seconds: int | None = None) -> int:
        """Atomically add ``amount`` (missing keys count as 0) and return the new value.

        ``ttl_seconds`` is applied only if the key has no TTL yet (in practice: when the
        counter is created), so a fixed rate-limit window is never pushed back by hits.
        A value that is not an integer raises ValueError.
        """
        ...

    async def ttl(self, key: str) -> int | None:
        """Seconds until expiry rounded up (>= 1), or None if missing or never expiring."""
        ...

    async def ping(self) -> bool:
        """Return whether the backend is reachable; never raises."""
        ...

    async def close(self) -> None:
        """Release connections; the cache must not be used afterwards."""
        ...


def _check_ttl(ttl_seconds: int | None) -> None:
    if ttl_seconds is None:
        return
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int):
        raise TypeError(f"ttl_seconds must be an int or None, got {type(ttl_seconds).__name__}")
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int, got {type(amount).__name__}")


def _check_value(value: bytes) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"value must be bytes, got {type(value).__name__}")


class MemoryCache:
    """In-process cache with monotonic-clock expiry and LRU eviction beyond ``max_keys``.

    Each operation runs without awaiting, so it is atomic with respect to other
    coroutines; the lock additionally makes it safe to share across threads and loops.
    Expired keys are dropped lazily on access or pushed out by LRU eviction.
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        self._prefix = prefix
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()

    def _live(self, key: str, now: float) -> tuple[bytes, float | None] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires_at = entry[1]
        if expires_at is not None and expires_at <= now:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry

    def _store(self, key: str, value: bytes, expires_at: float | None) -> None:
        self._data[key] = (value, expires_at)
        self._data.move_to_end(key)
        while len(self._data) > self._max_keys:
            self._data.popitem(last=False)

    async def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._live(self._prefix + key, self._clock())
            return None if entry is None else entry[0]

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        _check_value(value)
        _check_ttl(ttl_seconds)
        with self._lock:
            now = self._clock()
            expires_at = None if ttl_seconds is None else now + ttl_seconds
            self._store(self._prefix + key, value, expires_at)

    async def delete(self, key: str) -> bool:
        with self._lock:
            full_key = self._prefix + key
            existed = self._live(full_key, self._clock()) is not None
            self._data.pop(full_key, None)
            return existed

    async def incr(self, key: str, amount: int = 1, ttl_seconds: int | None = None) -> int:
        _check_amount(amount)
        _check_ttl(ttl_seconds)
        with self._lock:
            now = self._clock()
            full_key = self._prefix + key
            entry = self._live(full_key, now)
            if entry is None:
                current, expires_at = 0, None
            else:
                raw, expires_at = entry
                if _INTEGER_RE.fullmatch(raw) is None:
                    raise ValueError(f"value of {key!r} is not an integer")
                current = int(raw)
            value = current + amount
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise ValueError(f"incrementing {key!r} would overflow a 64-bit integer")
            if expires_at is None and ttl_seconds is not None:
                expires_at = now + ttl_seconds
            self._store(full_key, str(value).encode("ascii"), expires_at)
            return value

    async def ttl(self, key: str) -> int | None:
        with self._lock:
            now = self._clock()
            entry = self._live(self._prefix + key, now)
            if entry is None or entry[1] is None:
                return None
            return max(1, math.ceil(entry[1] - now))

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        with self._lock:
            self._data.clear()


# One round trip and atomic: the key can never be observed (or left behind by a crash)
# without its TTL, which a separate INCR then EXPIRE would allow.
_INCR_SCRIPT = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('EXPIRE', KEYS[1], ttl)
end
return value
"""


class RedisCache:
    """Cache backed by Redis through ``redis.asyncio``; safe across processes and hosts."""

    def __init__(self, client: redis_asyncio.Redis, *, prefix: str = "") -> None:
        self._client = client
        self._prefix = prefix
        self._incr_script = client.register_script(_INCR_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "",
        max_connections: int = 50,
        pool_timeout: float = 5.0,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 5.0,
    ) -> RedisCache:
        """Create a lazily-connecting cache.

        redis-py's default pool raises "Too many connections" once a burst exceeds its
        size; a blocking pool makes the burst queue for up to ``pool_timeout`` instead.
        Socket timeouts keep a dead Redis from hanging requests.
        """
        pool = redis_asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
        )
        return cls(redis_asyncio.Redis.from_pool(pool), prefix=prefix)

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(self._prefix + key)
        if isinstance(value, str):
            raise TypeError("RedisCache needs a client created with decode_responses=False")
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        _check_value(value)
        _check_ttl(ttl_seconds)
        await self._client.set(self._prefix + key, value, ex=ttl_seconds)

    async def delete(self, key: str) -> bool:
        removed = await self._client.delete(self._prefix + key)
        return bool(removed)

    async def incr(self, key: str, amount: int = 1, ttl_seconds: int | None = None) -> int:
        _check_amount(amount)
        _check_ttl(ttl_seconds)
        try:
            value = await self._incr_script(
                keys=[self._prefix + key], args=[amount, ttl_seconds or 0]
            )
        except ResponseError as exc:
            message = str(exc)
            if "not an integer" in message or "overflow" in message:
                raise ValueError(f"cannot increment {key!r}: {message}") from exc
            raise
        return int(value)

    async def ttl(self, key: str) -> int | None:
        millis = await self._client.pttl(self._prefix + key)
        if millis < 0:  # -2: missing, -1: no expiry
            return None
        return max(1, math.ceil(millis / 1000))

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()


def build_cache(redis_url: str | None, *, prefix: str = "", max_keys: int = 100_000) -> Cache:
    """Return a :class:`RedisCache` for ``redis_url``, or a :class:`MemoryCache` if None."""
    if redis_url is None:
        return MemoryCache(prefix=prefix, max_keys=max_keys)
    return RedisCache.from_url(redis_url, prefix=prefix)
