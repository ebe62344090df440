"""Cached bodies of public read endpoints: invalidated by generation, filled once per key,
refreshed in the background so that nobody waits for them at expiry.

A group (say "catalog") has a generation number kept in the process's cache (Redis when
configured, so every process sees it); a cached body is stored under the generation that
was current *before* its data was read, and a committed write to any of the group's tables
bumps the generation after the commit (`Database.on_committed_writes`). So a body read
before a write is never served after it: readers that started earlier store under the old
generation, which nobody asks for any more.

A body is fresh for `ttl_seconds`; for `stale_seconds` more it is still served, stale, while
one background request refreshes it (stale-while-revalidate: claimed through the shared
cache, so once across processes), so a popular read never falls off a cliff at expiry. Stale
is only ever "older than the TTL", never "older than a write": the body is still under the
current generation. The TTL (plus the stale window) bounds staleness where the generation
cannot be shared (several processes without Redis).

A miss is filled once: concurrent requests for the same missing body (same generation,
same key) wait for the first one's answer instead of all computing it; in one process
through a future, between processes through a claim in the shared cache that the other
processes' first requests poll for the stored body.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.platform.cache import Cache
from marketplace.platform.db import WriteListener

logger = logging.getLogger(__name__)

# A stored entry is this header, the wall-clock millisecond its body stops being fresh
# (wall clock, not monotonic: processes sharing Redis compare it), then the body.
_FRESH_UNTIL: Final = struct.Struct(">Q")
# A refresh claim that was not followed by a new body (the request failed) lets another
# request try again after this long, or at the end of the stale window if that is sooner.
_CLAIM_SECONDS: Final = 10
# A process waiting for another's answer to a miss checks every few milliseconds, and
# computes the answer itself if it has not come after a second (the other process is slow
# or gone: its claim lapses after a few seconds).
_FILL_POLL_SECONDS: Final = 0.005
_FILL_WAIT_SECONDS: Final = 1.0
_FILL_SECONDS: Final = 5
# Background refreshes running at once in a process. Many bodies go stale together (they were
# stored together); refreshing them all at once would queue foreground requests behind them
# for database connections. A stale hit beyond the limit is answered and not refreshed: a
# later hit refreshes it, within the stale window.
MAX_REFRESHES: Final = 4


@dataclass(frozen=True, slots=True)
class Lookup:
    """The generation read before the data, and the body if one was cached under it."""

    generation: int
    body: bytes | None
    stale: bool = False
    """Past its fresh lifetime (still under the current generation): serve and refresh."""
    fresh_until_ms: int = field(default=0, compare=False)


class ReadCache:
    """`generations` is the shared cache; `bodies` may be the same one (Redis) or a small
    in-process one, so a memory cache is not filled with large bodies."""

    def __init__(
        self,
        generations: Cache,
        bodies: Cache,
        *,
        ttl_seconds: int,
        stale_seconds: int | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        fill_wait_seconds: float = _FILL_WAIT_SECONDS,
    ) -> None:
        self._generations = generations
        self._bodies = bodies
        self._ttl = ttl_seconds
        # As long again as the TTL by default: a body is never served more than twice the
        # TTL after it was read, and only if no write to its group happened since.
        self._stale = max(0, ttl_seconds if stale_seconds is None else stale_seconds)
        self._clock = clock
        self._fill_wait = fill_wait_seconds
        self.enabled = enabled and ttl_seconds > 0
        self._background: set[asyncio.Task[None]] = set()

    async def lookup(self, group: str, key: str) -> Lookup | None:
        """None when nothing can be cached now (caching off, or the generation was lost)."""
        if not self.enabled:
            return None
        raw = await self._generations.get(f"gen:{group}")
        if raw is None:
            # Lost (evicted, flushed) or never set: start again from a number above any
            # earlier one, so no body stored under an old generation can match. Bumps add 1
            # and take far longer than a nanosecond, so the clock in ns is always ahead.
            await self._generations.incr(f"gen:{group}", time.time_ns())
            return None
        generation = int(raw)
        entry = await self._bodies.get(f"rc:{group}:{generation}:{key}")
        if entry is None or len(entry) < _FRESH_UNTIL.size:
            return Lookup(generation, None)
        (fresh_until_ms,) = _FRESH_UNTIL.unpack_from(entry)
        now_ms = self._clock() * 1000
        if now_ms >= fresh_until_ms + self._stale * 1000:
            # Past the stale window by our clock, whatever the store's own expiry says.
            return Lookup(generation, None)
        return Lookup(
            generation, entry[_FRESH_UNTIL.size :], now_ms >= fresh_until_ms, fresh_until_ms
        )

    async def store(self, group: str, lookup: Lookup | None, key: str, body: bytes) -> None:
        if lookup is None:
            return
        fresh_until_ms = int((self._clock() + self._ttl) * 1000)
        await self._bodies.set(
            f"rc:{group}:{lookup.generation}:{key}",
            _FRESH_UNTIL.pack(fresh_until_ms) + body,
            self._ttl + self._stale,
        )

    async def claim_fill(self, group: str, lookup: Lookup, key: str) -> bool:
        """True for one caller among the processes sharing the cache (in one process: always
        the first, as the middleware lets one request per key ask); the others may wait for
        its body (`await_fill`)."""
        claim = f"fl:{group}:{lookup.generation}:{key}"
        return await self._generations.incr(claim, 1, ttl_seconds=_FILL_SECONDS) == 1

    async def release_fill(self, group: str, lookup: Lookup, key: str) -> None:
        """The claimed computation is over (stored or not): nobody need wait any more."""
        await self._generations.delete(f"fl:{group}:{lookup.generation}:{key}")

    async def await_fill(self, group: str, lookup: Lookup, key: str) -> bytes | None:
        """The body another process is computing under `lookup`'s generation, once stored;
        None as soon as it will not come (its answer was not a 200, a write bumped the
        generation, the claim expired) or after `fill_wait_seconds` (1 s by default)."""
        claim = f"fl:{group}:{lookup.generation}:{key}"
        deadline = time.monotonic() + self._fill_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(_FILL_POLL_SECONDS)
            found = await self.lookup(group, key)
            if found is None or found.generation != lookup.generation:
                return None
            if found.body is not None:
                return found.body
            if await self._generations.get(claim) is None:
                return None
        return None

    async def claim_refresh(self, group: str, lookup: Lookup, key: str) -> bool:
        """True for one caller only, in every process sharing the cache, per stale body."""
        claim = f"rf:{group}:{lookup.generation}:{key}:{lookup.fresh_until_ms}"
        seconds = max(1, min(_CLAIM_SECONDS, self._stale))
        return await self._generations.incr(claim, 1, ttl_seconds=seconds) == 1

    def in_background(self, refresh: Coroutine[None, None, None]) -> None:
        """Run a refresh after the answer was sent, keeping a reference so it is not lost."""
        task = asyncio.get_running_loop().create_task(refresh)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for the background refreshes started so far (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def bump(self, group: str) -> None:
        await self._generations.incr(f"gen:{group}")

    def invalidate_on_writes(self, group: str, tables: Collection[str]) -> WriteListener:
        """A write listener (`Database.on_committed_writes`) bumping `group` when any of
        `tables` was written."""
        watched = frozenset(tables)

        async def listener(written: set[str]) -> None:
            if not watched.isdisjoint(written):
                await self.bump(group)

        return listener


ReadKey = Callable[[Scope], tuple[str, str] | None]
"""(group, key) of a GET request whose answer may come from the read cache, or None."""

# Headers a background refresh does not repeat: cached reads are public, so the body must
# not depend on them, and a refresh should not carry one client's credentials.
_PRIVATE_HEADERS: Final = frozenset({b"authorization", b"cookie"})


async def _answer(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class CachedReadsMiddleware:
    """Answers a GET from the read cache before routing, dependencies and the unit of work:
    a hit then costs a cache lookup. On a miss it runs the application once per key and
    stores its answer if it is a 200 (so a hit is always a request the handler accepted),
    under the generation read before the handler read anything; requests for the same key
    arriving meanwhile wait for that answer. A stale hit is answered at once and refreshed
    by one background request through the same application."""

    def __init__(self, app: ASGIApp, *, cache: ReadCache, keys: Sequence[ReadKey]) -> None:
        self.app = app
        self.cache = cache
        self.keys = tuple(keys)
        self._flights: dict[str, asyncio.Future[bytes | None]] = {}
        self._refreshing: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = None
        if scope["type"] == "http" and scope["method"] == "GET" and self.cache.enabled:
            for key_of in self.keys:
                found = key_of(scope)
                if found is not None:
                    break
        if found is None:
            await self.app(scope, receive, send)
            return
        group, key = found
        lookup = await self.cache.lookup(group, key)
        if lookup is None:
            await self.app(scope, receive, send)
            return
        if lookup.body is not None:
            await _answer(send, lookup.body)
            if lookup.stale:
                self._refresh_later(scope, group, key, lookup)
            return
        await self._fill(scope, receive, send, group, key, lookup)

    async def _fill(
        self, scope: Scope, receive: Receive, send: Send, group: str, key: str, lookup: Lookup
    ) -> None:
        # The generation is part of the flight: a request that began after a write never
        # waits for an answer read before it.
        flight = f"{group}:{lookup.generation}:{key}"
        leader = self._flights.get(flight)
        if leader is not None:
            # Shielded: a waiter whose client goes away must not cancel the others' answer.
            body = await asyncio.shield(leader)
            if body is not None:
                await _answer(send, body)
            else:  # not an answer to keep (an error, a 404): every request gets its own
                await self.app(scope, receive, send)
            return
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._flights[flight] = future
        body = None
        try:
            if not await self.cache.claim_fill(group, lookup, key):
                # Another process sharing the cache computes it: wait for its body.
                body = await self.cache.await_fill(group, lookup, key)
                if body is not None:
                    await _answer(send, body)
                    return
            try:
                body = await self._run(scope, receive, send)
                if body is not None:
                    await self.cache.store(group, lookup, key, body)
            finally:
                await self.cache.release_fill(group, lookup, key)
        finally:
            future.set_result(body)
            del self._flights[flight]

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """Run the application, passing its answer on; its body if it was a 200."""
        status = 0
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        return b"".join(chunks) if status == 200 else None

    def _refresh_later(self, scope: Scope, group: str, key: str, lookup: Lookup) -> None:
        flight = f"{group}:{lookup.generation}:{key}"
        if flight in self._refreshing or len(self._refreshing) >= MAX_REFRESHES:
            return
        self._refreshing.add(flight)
        background = {
            **scope,
            "headers": [(n, v) for n, v in scope["headers"] if n not in _PRIVATE_HEADERS],
            "state": dict(scope.get("state", {})),
        }
        self.cache.in_background(self._refresh(background, group, key, lookup, flight))

    async def _refresh(
        self, scope: Scope, group: str, key: str, stale: Lookup, flight: str
    ) -> None:
        try:
            if not await self.cache.claim_refresh(group, stale, key):
                return  # another request (maybe in another process) refreshes this body
            # Read again, before the data: a write since the stale hit makes this a plain
            # miss for the next request, and the refreshed body must not outlive the write.
            current = await self.cache.lookup(group, key)
            if current is None or current.generation != stale.generation:
                return
            body = await self._run(scope, _request_without_body(), _discard)
            if body is not None:
                await self.cache.store(group, current, key, body)
        except Exception:
            logger.exception("refreshing a cached read failed", extra={"key": key})
        finally:
            self._refreshing.discard(flight)


def _request_without_body() -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _discard(message: Message) -> None:
    return None
