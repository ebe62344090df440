"""Owns rate limiting: fixed-window hit counters on the shared :class:`Cache`.

One atomic ``incr`` per hit keeps the limiter correct across workers when the cache is
Redis. The cost of a fixed window is that a client may spend up to twice its limit
around a window boundary; for abuse protection (logins, password resets, writes) that
bound is good enough and far cheaper than a sliding log.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from marketplace.platform.cache import Cache
from marketplace.platform.errors import RateLimited

__all__ = ["Decision", "RateLimit", "RateLimiter", "enforce"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` hits per key in each aligned window of ``window_seconds``."""

    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        for name, value in (("limit", self.limit), ("window_seconds", self.window_seconds)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of a hit; ``retry_after_seconds`` is 0 when allowed, else >= 1."""

    allowed: bool
    remaining: int
    retry_after_seconds: int


class RateLimiter:
    """Counts hits per key and window; keys are stored as ``rl:<key>:<window index>``.

    Windows are aligned to the epoch, so every worker sharing a Redis cache agrees on
    them; that is why the default clock is wall-clock time, not a per-process monotonic
    one. Give each rule its own key: two rules sharing a key would share counters.
    """

    def __init__(self, cache: Cache, *, clock: Callable[[], float] = time.time) -> None:
        self._cache = cache
        self._clock = clock

    def _window(self, key: str, rule: RateLimit) -> tuple[str, int]:
        now = self._clock()
        index = math.floor(now / rule.window_seconds)
        left = (index + 1) * rule.window_seconds - now
        retry_after = min(rule.window_seconds, max(1, math.ceil(left)))
        return f"rl:{key}:{index}", retry_after

    async def hit(self, key: str, rule: RateLimit) -> Decision:
        """Count one hit against ``key`` and say whether it is within the limit."""
        cache_key, retry_after = self._window(key, rule)
        # The TTL only applies when the counter is created, so hits never extend it.
        count = await self._cache.incr(cache_key, ttl_seconds=rule.window_seconds)
        allowed = count <= rule.limit
        return Decision(
            allowed=allowed,
            remaining=max(0, rule.limit - count),
            retry_after_seconds=0 if allowed else retry_after,
        )

    async def peek(self, key: str, rule: RateLimit) -> Decision:
        """Whether a hit now would be allowed, without counting one."""
        cache_key, retry_after = self._window(key, rule)
        raw = await self._cache.get(cache_key)
        count = 0 if raw is None else int(raw)
        allowed = count < rule.limit
        return Decision(
            allowed=allowed,
            remaining=max(0, rule.limit - count),
            retry_after_seconds=0 if allowed else retry_after,
        )

    async def reset(self, key: str, rule: RateLimit) -> None:
        """Forget the hits of ``key`` in the current window (e.g. after a successful login)."""
        cache_key, _ = self._window(key, rule)
        await self._cache.delete(cache_key)


async def enforce(limiter: RateLimiter, key: str, rule: RateLimit) -> Decision:
    """Count a hit; raise :class:`RateLimited` (429 with ``Retry-After``) when over the limit."""
    decision = await limiter.hit(key, rule)
    if not decision.allowed:
        raise RateLimited(decision.retry_after_seconds)
    return decision
