"""Cache behaviour, run against MemoryCache always and RedisCache when Redis is configured.

Set MARKETPLACE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15) to include Redis. In CI
(CI=true) a missing URL fails the run instead of skipping: services are never silently
left out there.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from marketplace.platform.cache import Cache, MemoryCache, RedisCache, build_cache

REDIS_URL_ENV = "MARKETPLACE_TEST_REDIS_URL"
EXPIRY_DEADLINE_SECONDS = 10.0
POLL_SECONDS = 0.1


def _redis_url_or_skip() -> str:
    url = os.environ.get(REDIS_URL_ENV)
    if url:
        return url
    reason = f"{REDIS_URL_ENV} is not set; RedisCache tests need a Redis server"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required services may not be skipped)")
    pytest.skip(reason)


async def _purge(url: str, prefix: str) -> None:
    client = redis_asyncio.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def cache(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Cache]:
    if request.param == "memory":
        memory = MemoryCache(prefix=prefix)
        yield memory
        await memory.close()
        return
    url = _redis_url_or_skip()
    backend = RedisCache.from_url(url, prefix=prefix)
    try:
        yield backend
    finally:
        await backend.close()
        await _purge(url, prefix)


@pytest.fixture
async def redis_url(prefix: str) -> AsyncIterator[str]:
    url = _redis_url_or_skip()
    yield url
    await _purge(url, prefix)


async def _eventually_gone(cache: Cache, key: str) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EXPIRY_DEADLINE_SECONDS
    while loop.time() < deadline:
        if await cache.get(key) is None:
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False


# --- behaviour shared by every backend ------------------------------------------------


async def test_protocol_is_implemented(cache: Cache) -> None:
    assert isinstance(cache, Cache)


async def test_get_missing_is_none(cache: Cache) -> None:
    assert await cache.get("missing") is None


async def test_set_get_round_trips_binary(cache: Cache) -> None:
    value = bytes(range(256))
    await cache.set("k", value)
    assert await cache.get("k") == value


async def test_set_overwrites(cache: Cache) -> None:
    await cache.set("k", b"one")
    await cache.set("k", b"two")
    assert await cache.get("k") == b"two"


async def test_empty_value_is_not_missing(cache: Cache) -> None:
    await cache.set("k", b"")
    assert await cache.get("k") == b""


async def test_delete_reports_existence(cache: Cache) -> None:
    await cache.set("k", b"v")
    assert await cache.delete("k") is True
    assert await cache.get("k") is None
    assert await cache.delete("k") is False


async def test_ttl_missing_and_persistent_keys_are_none(cache: Cache) -> None:
    assert await cache.ttl("missing") is None
    await cache.set("k", b"v")
    assert await cache.ttl("k") is None


async def test_set_with_ttl_reports_remaining_seconds(cache: Cache) -> None:
    await cache.set("k", b"v", ttl_seconds=100)
    remaining = await cache.ttl("k")
    assert remaining is not None
    assert 1 <= remaining <= 100


async def test_set_without_ttl_clears_previous_ttl(cache: Cache) -> None:
    await cache.set("k", b"v", ttl_seconds=100)
    await cache.set("k", b"w")
    assert await cache.ttl("k") is None


async def test_incr_creates_and_adds(cache: Cache) -> None:
    assert await cache.incr("n") == 1
    assert await cache.incr("n") == 2
    assert await cache.incr("n", 10) == 12
    assert await cache.incr("n", -15) == -3
    assert await cache.get("n") == b"-3"


async def test_incr_continues_an_integer_set_as_bytes(cache: Cache) -> None:
    await cache.set("n", b"41")
    assert await cache.incr("n") == 42


@pytest.mark.parametrize("value", [b"abc", b"1.5", b" 1", b""])
async def test_incr_on_non_integer_raises_value_error(cache: Cache, value: bytes) -> None:
    await cache.set("n", value)
    with pytest.raises(ValueError, match="not an integer"):
        await cache.incr("n")
    assert await cache.get("n") == value


async def test_incr_overflow_raises_value_error(cache: Cache) -> None:
    await cache.set("n", str(2**63 - 1).encode())
    with pytest.raises(ValueError, match="overflow"):
        await cache.incr("n")


async def test_incr_ttl_is_set_on_create(cache: Cache) -> None:
    await cache.incr("n", ttl_seconds=100)
    remaining = await cache.ttl("n")
    assert remaining is not None
    assert 1 <= remaining <= 100


async def test_incr_ttl_is_not_extended_by_later_hits(cache: Cache) -> None:
    await cache.incr("n", ttl_seconds=100)
    await cache.incr("n", ttl_seconds=10_000)
    await cache.incr("n")
    remaining = await cache.ttl("n")
    assert remaining is not None
    assert remaining <= 100


async def test_incr_without_ttl_keeps_existing_ttl(cache: Cache) -> None:
    await cache.incr("n", ttl_seconds=100)
    await cache.incr("n")
    assert await cache.ttl("n") is not None


async def test_incr_ttl_is_applied_to_a_key_that_has_none(cache: Cache) -> None:
    # A counter that somehow lost its TTL must not live forever and lock a user out.
    await cache.incr("n")
    await cache.incr("n", ttl_seconds=100)
    remaining = await cache.ttl("n")
    assert remaining is not None
    assert 1 <= remaining <= 100


async def test_concurrent_incr_is_atomic(cache: Cache) -> None:
    results = await asyncio.gather(*(cache.incr("n", ttl_seconds=60) for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await cache.get("n") == b"200"


async def test_set_with_ttl_eventually_expires(cache: Cache) -> None:
    await cache.set("k", b"v", ttl_seconds=1)
    assert await _eventually_gone(cache, "k")
    assert await cache.ttl("k") is None
    assert await cache.delete("k") is False


async def test_expired_counter_restarts(cache: Cache) -> None:
    await cache.incr("n", 5, ttl_seconds=1)
    assert await _eventually_gone(cache, "n")
    assert await cache.incr("n") == 1


@pytest.mark.parametrize("ttl", [0, -1])
async def test_non_positive_ttl_is_rejected(cache: Cache, ttl: int) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        await cache.set("k", b"v", ttl_seconds=ttl)
    with pytest.raises(ValueError, match="ttl_seconds"):
        await cache.incr("n", ttl_seconds=ttl)


async def test_argument_types_are_checked(cache: Cache) -> None:
    with pytest.raises(TypeError):
        await cache.set("k", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await cache.set("k", b"v", ttl_seconds=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await cache.incr("n", True)
    with pytest.raises(TypeError):
        await cache.incr("n", 1.5)  # type: ignore[arg-type]
    assert await cache.get("k") is None
    assert await cache.get("n") is None


async def test_ping(cache: Cache) -> None:
    assert await cache.ping() is True


# --- Redis specifics ------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_keys_are_namespaced_by_prefix(redis_url: str, prefix: str) -> None:
    first = RedisCache.from_url(redis_url, prefix=f"{prefix}a:")
    second = RedisCache.from_url(redis_url, prefix=f"{prefix}b:")
    raw = redis_asyncio.from_url(redis_url)
    try:
        await first.set("k", b"from-a")
        assert await second.get("k") is None
        assert await raw.get(f"{prefix}a:k") == b"from-a"
        await second.incr("k")
        assert await first.get("k") == b"from-a"
    finally:
        await first.close()
        await second.close()
        await raw.aclose()


async def test_redis_ping_is_false_when_unreachable() -> None:
    # Port 1 is reserved (tcpmux) and closed on any sane host: connection refused.
    unreachable = RedisCache.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=2.0)
    try:
        assert await unreachable.ping() is False
    finally:
        await unreachable.close()


# --- MemoryCache specifics ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_expiry_follows_the_monotonic_clock() -> None:
    clock = FakeClock()
    memory = MemoryCache(clock=clock)
    await memory.set("k", b"v", ttl_seconds=10)
    clock.now += 9.5
    assert await memory.get("k") == b"v"
    assert await memory.ttl("k") == 1
    clock.now += 0.5
    assert await memory.get("k") is None


async def test_memory_ttl_rounds_up() -> None:
    clock = FakeClock()
    memory = MemoryCache(clock=clock)
    await memory.incr("n", ttl_seconds=60)
    clock.now += 0.25
    assert await memory.ttl("n") == 60
    clock.now += 59.5
    assert await memory.ttl("n") == 1


async def test_memory_evicts_least_recently_used() -> None:
    memory = MemoryCache(max_keys=3)
    await memory.set("a", b"1")
    await memory.set("b", b"2")
    await memory.set("c", b"3")
    assert await memory.get("a") == b"1"  # "b" is now the least recently used
    await memory.set("d", b"4")
    assert await memory.get("b") is None
    assert [await memory.get(key) for key in ("a", "c", "d")] == [b"1", b"3", b"4"]
    await memory.incr("c")  # counters count as use too
    await memory.set("e", b"5")
    assert await memory.get("a") is None
    assert await memory.get("c") == b"4"


def test_memory_max_keys_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        MemoryCache(max_keys=0)


async def test_build_cache_picks_the_backend() -> None:
    memory = build_cache(None, prefix="p:")
    remote = build_cache("redis://127.0.0.1:1/0", prefix="p:")
    try:
        assert isinstance(memory, MemoryCache)
        assert isinstance(remote, RedisCache)
    finally:
        await memory.close()
        await remote.close()
