"""The read cache under load: a missing body is computed once however many requests want
it (in one process and across processes sharing the cache), an expired body is served stale
once and refreshed in the background by one request (across processes too), and a committed
write still invalidates at once, stale window or not. Run against MemoryCache always and
Redis when MARKETPLACE_TEST_REDIS_URL is set."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from starlette.types import Receive, Scope, Send

from marketplace.platform.cache import Cache, MemoryCache, RedisCache
from marketplace.platform.readcache import MAX_REFRESHES, CachedReadsMiddleware, ReadCache

TTL = 60
STALE = 60
KEY = "/r/hats"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Handler:
    """An application answering `{"version": ..., "call": n}`, held at `gate` so that
    requests overlap for as long as a test needs."""

    def __init__(self) -> None:
        self.calls = 0
        self.version = "v1"
        self.status = 200
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        call, version = self.calls, self.version  # the data, read when the request starts
        await self.gate.wait()
        body = f'{{"version":"{version}","call":{call}}}'.encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def key_of(scope: Scope) -> tuple[str, str] | None:
    path: str = scope["path"]
    return ("catalog", path) if path.startswith("/r/") else None


async def get(app: Callable[[Scope, Receive, Send], Awaitable[None]], path: str) -> tuple[int, str]:
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"].decode()


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition` holds (Redis round trips take real time)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    """What processes share: Redis, or (one process) its memory."""
    if request.param == "memory":
        yield MemoryCache(clock=CLOCK)
        return
    url = os.environ.get("MARKETPLACE_TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("MARKETPLACE_TEST_REDIS_URL is required in CI")
        pytest.skip("MARKETPLACE_TEST_REDIS_URL is not set")
    prefix = f"test:{uuid.uuid4().hex}:"
    cache = RedisCache.from_url(url, prefix=prefix)
    try:
        yield cache
    finally:
        await cache.close()
        client = redis_asyncio.from_url(url)
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


CLOCK = Clock()


@pytest.fixture
def clock() -> Clock:
    CLOCK.now = 1_000_000.0
    return CLOCK


@pytest.fixture
def read_cache(shared: Cache, clock: Clock) -> ReadCache:
    return ReadCache(shared, shared, ttl_seconds=TTL, stale_seconds=STALE, clock=clock)


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def app(read_cache: ReadCache, handler: Handler) -> CachedReadsMiddleware:
    middleware = CachedReadsMiddleware(handler, cache=read_cache, keys=[key_of])
    assert await read_cache.lookup("catalog", KEY) is None  # the generation starts here
    return middleware


async def test_concurrent_misses_of_one_key_run_the_handler_once(
    app: CachedReadsMiddleware, handler: Handler
) -> None:
    handler.gate.clear()
    requests = [asyncio.create_task(get(app, KEY)) for _ in range(20)]
    other = asyncio.create_task(get(app, "/r/scarves"))
    await until(lambda: handler.calls == 2)
    await asyncio.sleep(0.05)  # every request has looked the key up and is waiting
    assert handler.calls == 2
    handler.gate.set()
    answers = await asyncio.gather(*requests)

    assert (
        answers == [(200, '{"version":"v1","call":1}')] * 20
        or answers == [(200, '{"version":"v1","call":2}')] * 20
    )
    assert (await other)[0] == 200
    assert await get(app, KEY) == answers[0]  # stored: a hit
    assert handler.calls == 2


async def test_a_request_after_a_write_never_waits_for_an_answer_read_before_it(
    app: CachedReadsMiddleware, handler: Handler, read_cache: ReadCache
) -> None:
    handler.gate.clear()
    before = asyncio.create_task(get(app, KEY))
    await until(lambda: handler.calls == 1)
    await read_cache.bump("catalog")  # a write committed while the first answer is read
    handler.version = "v2"
    after = asyncio.create_task(get(app, KEY))
    await until(lambda: handler.calls == 2)
    handler.gate.set()

    assert await before == (200, '{"version":"v1","call":1}')
    assert await after == (200, '{"version":"v2","call":2}')
    assert await get(app, KEY) == (200, '{"version":"v2","call":2}')
    assert handler.calls == 2


async def test_an_answer_that_is_not_a_200_is_neither_shared_nor_stored(
    app: CachedReadsMiddleware, handler: Handler
) -> None:
    handler.status = 404
    handler.gate.clear()
    requests = [asyncio.create_task(get(app, KEY)) for _ in range(3)]
    await until(lambda: handler.calls == 1)
    handler.gate.set()
    answers = await asyncio.gather(*requests)

    assert sorted(answers) == [(404, f'{{"version":"v1","call":{n}}}') for n in (1, 2, 3)]
    assert (await get(app, KEY))[0] == 404
    assert handler.calls == 4


async def test_an_expired_body_is_served_stale_once_and_refreshed_in_the_background(
    app: CachedReadsMiddleware, handler: Handler, read_cache: ReadCache, clock: Clock
) -> None:
    assert await get(app, KEY) == (200, '{"version":"v1","call":1}')
    clock.now += TTL - 1
    assert await get(app, KEY) == (200, '{"version":"v1","call":1}')
    assert handler.calls == 1  # fresh: no refresh

    clock.now += 2  # past the TTL
    handler.version = "v2"
    handler.gate.clear()  # the refresh cannot finish: nobody may be waiting for it
    stale = [await get(app, KEY) for _ in range(5)]
    await until(lambda: handler.calls == 2)
    handler.gate.set()
    await read_cache.drain()

    assert stale == [(200, '{"version":"v1","call":1}')] * 5
    assert handler.calls == 2  # one refresh for five stale hits
    assert await get(app, KEY) == (200, '{"version":"v2","call":2}')
    clock.now += TTL - 1
    assert await get(app, KEY) == (200, '{"version":"v2","call":2}')
    await read_cache.drain()
    assert handler.calls == 2  # fresh again for a whole TTL after the refresh


async def test_past_the_stale_window_a_body_is_a_miss(
    app: CachedReadsMiddleware, handler: Handler, clock: Clock
) -> None:
    await get(app, KEY)
    clock.now += TTL + STALE
    handler.version = "v2"

    assert await get(app, KEY) == (200, '{"version":"v2","call":2}')


async def test_a_write_invalidates_a_stale_body_at_once(
    app: CachedReadsMiddleware, handler: Handler, read_cache: ReadCache, clock: Clock
) -> None:
    listener = read_cache.invalidate_on_writes("catalog", {"catalog_product"})
    await get(app, KEY)
    clock.now += TTL + 1
    await listener({"catalog_product"})
    handler.version = "v2"

    assert await get(app, KEY) == (200, '{"version":"v2","call":2}')
    await read_cache.drain()
    assert handler.calls == 2  # a miss, not a stale hit with a refresh


async def test_a_write_during_a_refresh_keeps_the_refreshed_body_out(
    app: CachedReadsMiddleware, handler: Handler, read_cache: ReadCache, clock: Clock
) -> None:
    await get(app, KEY)
    clock.now += TTL + 1
    handler.gate.clear()
    assert await get(app, KEY) == (200, '{"version":"v1","call":1}')  # stale; refresh starts
    await until(lambda: handler.calls == 2)
    await read_cache.bump("catalog")  # committed while the refresh reads
    handler.version = "v3"
    handler.gate.set()
    await read_cache.drain()

    # The refresh read before the write: stored under the old generation, never served.
    assert await get(app, KEY) == (200, '{"version":"v3","call":3}')


async def test_processes_sharing_the_cache_refresh_a_stale_body_once(
    shared: Cache, clock: Clock
) -> None:
    handlers = [Handler(), Handler()]
    caches = [ReadCache(shared, shared, ttl_seconds=TTL, clock=clock) for _ in handlers]
    apps = [
        CachedReadsMiddleware(h, cache=c, keys=[key_of])
        for h, c in zip(handlers, caches, strict=True)
    ]
    assert await caches[0].lookup("catalog", KEY) is None
    assert (await get(apps[0], KEY))[0] == 200
    assert await get(apps[1], KEY) == (200, '{"version":"v1","call":1}')  # shared body
    clock.now += TTL + 1
    for handler in handlers:
        handler.gate.clear()  # refreshes cannot finish while the stale hits arrive

    stale = [await get(app, KEY) for app in apps for _ in range(3)]
    for handler in handlers:
        handler.gate.set()
    for cache in caches:
        await cache.drain()

    assert stale == [(200, '{"version":"v1","call":1}')] * 6
    assert [h.calls for h in handlers] == [2, 0]
    assert await get(apps[1], KEY) == (200, '{"version":"v1","call":2}')


def two_processes(shared: Cache, clock: Clock) -> tuple[list[Handler], list[CachedReadsMiddleware]]:
    """Two application processes sharing one cache (Redis; or one memory standing in).
    A process waits for the other's answer up to 30 s here, not the deployed 1 s: on a
    loaded test machine a second can pass before the first process stores its body, and
    these tests are about who computes, not about giving up."""
    handlers = [Handler(), Handler()]
    apps = [
        CachedReadsMiddleware(
            h,
            cache=ReadCache(shared, shared, ttl_seconds=TTL, clock=clock, fill_wait_seconds=30),
            keys=[key_of],
        )
        for h in handlers
    ]
    return handlers, apps


async def test_processes_sharing_the_cache_compute_a_missing_body_once(
    shared: Cache, clock: Clock
) -> None:
    handlers, apps = two_processes(shared, clock)
    assert await apps[0].cache.lookup("catalog", KEY) is None
    handlers[0].gate.clear()
    first = [asyncio.create_task(get(apps[0], KEY)) for _ in range(3)]
    await until(lambda: handlers[0].calls == 1)
    second = [asyncio.create_task(get(apps[1], KEY)) for _ in range(3)]
    await asyncio.sleep(0.05)  # the second process has looked and is waiting
    handlers[0].gate.set()

    answers = await asyncio.gather(*first, *second)

    assert answers == [(200, '{"version":"v1","call":1}')] * 6
    assert [h.calls for h in handlers] == [1, 0]


async def test_a_missing_answer_that_is_not_stored_releases_the_other_processes(
    shared: Cache, clock: Clock
) -> None:
    handlers, apps = two_processes(shared, clock)
    assert await apps[0].cache.lookup("catalog", KEY) is None
    for handler in handlers:
        handler.status = 404
    handlers[0].gate.clear()
    first = asyncio.create_task(get(apps[0], KEY))
    await until(lambda: handlers[0].calls == 1)
    second = asyncio.create_task(get(apps[1], KEY))
    await asyncio.sleep(0.05)
    assert handlers[1].calls == 0  # waiting for the first process's answer
    handlers[0].gate.set()

    assert await first == (404, '{"version":"v1","call":1}')
    assert await second == (404, '{"version":"v1","call":1}')  # its own
    assert [h.calls for h in handlers] == [1, 1]


async def test_a_few_stale_bodies_are_refreshed_at_a_time_and_the_rest_later(
    app: CachedReadsMiddleware, handler: Handler, read_cache: ReadCache, clock: Clock
) -> None:
    keys = [f"/r/item-{n}" for n in range(MAX_REFRESHES + 3)]
    for key in keys:
        await get(app, key)
    clock.now += TTL + 1
    handler.version = "v2"
    handler.gate.clear()

    stale = [await get(app, key) for key in keys]
    await until(lambda: handler.calls == len(keys) + MAX_REFRESHES)
    await asyncio.sleep(0.05)
    refreshing = handler.calls - len(keys)
    handler.gate.set()
    await read_cache.drain()
    again = [await get(app, key) for key in keys]  # the rest are refreshed now
    await read_cache.drain()
    final = [await get(app, key) for key in keys]

    assert [body for _, body in stale] == [
        f'{{"version":"v1","call":{n}}}' for n in range(1, len(keys) + 1)
    ]
    assert refreshing == MAX_REFRESHES
    assert sum('"v2"' in body for _, body in again) == MAX_REFRESHES
    assert all('"v2"' in body for _, body in final)
    assert handler.calls == 2 * len(keys)
