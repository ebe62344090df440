"""Fixed-window rate limiting on MemoryCache, with a manual clock instead of sleeping."""

from __future__ import annotations

import asyncio
import time

import pytest

from marketplace.platform.cache import MemoryCache
from marketplace.platform.errors import RateLimited
from marketplace.platform.ratelimit import Decision, RateLimit, RateLimiter, enforce

# 1_000_020 is a multiple of 60, so this instant is 20 s before a window ends.
START = 1_000_000.0
LOGIN = RateLimit(limit=3, window_seconds=60)


class ManualClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cache(clock: ManualClock) -> MemoryCache:
    return MemoryCache(clock=clock)


@pytest.fixture
def limiter(cache: MemoryCache, clock: ManualClock) -> RateLimiter:
    return RateLimiter(cache, clock=clock)


async def test_exactly_limit_hits_are_allowed_then_denied(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("login:ada", LOGIN) for _ in range(5)]

    assert decisions == [
        Decision(allowed=True, remaining=2, retry_after_seconds=0),
        Decision(allowed=True, remaining=1, retry_after_seconds=0),
        Decision(allowed=True, remaining=0, retry_after_seconds=0),
        Decision(allowed=False, remaining=0, retry_after_seconds=20),
        Decision(allowed=False, remaining=0, retry_after_seconds=20),
    ]
    assert 1 <= decisions[-1].retry_after_seconds <= LOGIN.window_seconds


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0.0, 20), (19.0, 1), (19.999, 1), (0.5, 20), (-39.5, 60), (-40.0, 60)],
)
async def test_retry_after_is_the_time_left_in_the_window_rounded_up(
    limiter: RateLimiter, clock: ManualClock, offset: float, expected: int
) -> None:
    clock.advance(offset)
    for _ in range(LOGIN.limit):
        await limiter.hit("k", LOGIN)

    denied = await limiter.hit("k", LOGIN)

    assert denied.allowed is False
    assert denied.retry_after_seconds == expected


async def test_counter_key_and_ttl_follow_the_window(
    limiter: RateLimiter, cache: MemoryCache
) -> None:
    await limiter.hit("login:ada", LOGIN)
    await limiter.hit("login:ada", LOGIN)

    window_index = int(START // 60)
    assert await cache.get(f"rl:login:ada:{window_index}") == b"2"
    assert await cache.ttl(f"rl:login:ada:{window_index}") == 60


async def test_separate_keys_are_independent(limiter: RateLimiter) -> None:
    for _ in range(LOGIN.limit):
        assert (await limiter.hit("login:ada", LOGIN)).allowed

    assert (await limiter.hit("login:ada", LOGIN)).allowed is False
    assert await limiter.hit("login:bob", LOGIN) == Decision(True, 2, 0)


async def test_a_new_window_allows_again(limiter: RateLimiter, clock: ManualClock) -> None:
    for _ in range(LOGIN.limit + 2):
        await limiter.hit("k", LOGIN)
    assert (await limiter.hit("k", LOGIN)).allowed is False

    clock.advance(19.9)
    assert (await limiter.hit("k", LOGIN)).allowed is False

    clock.advance(0.1)  # exactly on the boundary: the next window has begun
    assert await limiter.hit("k", LOGIN) == Decision(True, 2, 0)


async def test_peek_does_not_count(limiter: RateLimiter) -> None:
    assert await limiter.peek("k", LOGIN) == Decision(True, 3, 0)
    assert await limiter.peek("k", LOGIN) == Decision(True, 3, 0)

    await limiter.hit("k", LOGIN)
    assert await limiter.peek("k", LOGIN) == Decision(True, 2, 0)

    await limiter.hit("k", LOGIN)
    await limiter.hit("k", LOGIN)
    assert await limiter.peek("k", LOGIN) == Decision(False, 0, 20)
    assert await limiter.peek("k", LOGIN) == Decision(False, 0, 20)


async def test_reset_clears_the_current_window(limiter: RateLimiter) -> None:
    for _ in range(LOGIN.limit + 1):
        await limiter.hit("k", LOGIN)
    await limiter.hit("other", LOGIN)

    await limiter.reset("k", LOGIN)

    assert await limiter.peek("k", LOGIN) == Decision(True, 3, 0)
    assert await limiter.hit("k", LOGIN) == Decision(True, 2, 0)
    assert await limiter.peek("other", LOGIN) == Decision(True, 2, 0)


async def test_reset_of_an_unknown_key_is_a_no_op(limiter: RateLimiter) -> None:
    await limiter.reset("never-seen", LOGIN)

    assert await limiter.peek("never-seen", LOGIN) == Decision(True, 3, 0)


async def test_concurrent_hits_allow_exactly_the_limit(limiter: RateLimiter) -> None:
    rule = RateLimit(limit=10, window_seconds=60)

    decisions = await asyncio.gather(*(limiter.hit("burst", rule) for _ in range(100)))

    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))
    assert all(d.retry_after_seconds == 20 for d in decisions if not d.allowed)


async def test_enforce_returns_the_decision_while_allowed(limiter: RateLimiter) -> None:
    assert await enforce(limiter, "k", LOGIN) == Decision(True, 2, 0)


async def test_enforce_raises_rate_limited_with_retry_after(limiter: RateLimiter) -> None:
    for _ in range(LOGIN.limit):
        await enforce(limiter, "k", LOGIN)

    with pytest.raises(RateLimited) as caught:
        await enforce(limiter, "k", LOGIN)

    assert caught.value.instance_status == 429
    assert caught.value.instance_code == "rate_limited"
    assert caught.value.headers == {"Retry-After": "20"}


async def test_default_clock_is_wall_clock_time(cache: MemoryCache) -> None:
    # Epoch-aligned windows are what lets workers sharing Redis agree on the window.
    limiter = RateLimiter(cache)
    rule = RateLimit(limit=1, window_seconds=86_400)

    before = int(time.time() // rule.window_seconds)
    await limiter.hit("k", rule)
    after = int(time.time() // rule.window_seconds)

    assert [await cache.get(f"rl:k:{index}") for index in {before, after}].count(b"1") == 1


@pytest.mark.parametrize(
    ("limit", "window", "error", "message"),
    [
        (0, 60, ValueError, "limit must be at least 1, got 0"),
        (5, 0, ValueError, "window_seconds must be at least 1, got 0"),
        (-1, 60, ValueError, "limit must be at least 1"),
        (True, 60, TypeError, "limit must be an int"),
        (5, 1.5, TypeError, "window_seconds must be an int"),
    ],
)
def test_rate_limit_validation(
    limit: int, window: int, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        RateLimit(limit=limit, window_seconds=window)
