"""Cached bodies of public read endpoints, invalidated by generation.

A group (say "catalog") has a generation number kept in the process's cache (Redis when
configured, so every process sees it); a cached body is stored under the generation that
was current *before* its data was read, and a committed write to any of the group's tables
bumps the generation after the commit (`Database.on_committed_writes`). So a body read
before a write is never served after it: readers that started earlier store under the old
generation, which nobody asks for any more. Entries also expire after `ttl_seconds`, which
bounds staleness where the generation cannot be shared (several processes without Redis).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from marketplace.platform.cache import Cache
from marketplace.platform.db import WriteListener


@dataclass(frozen=True, slots=True)
class Lookup:
    """The generation read before the data, and the body if one was cached under it."""

    generation: int
    body: bytes | None


class ReadCache:
    """`generations` is the shared cache; `bodies` may be the same one (Redis) or a small
    in-process one, so a memory cache is not filled with large bodies."""

    def __init__(
        self, generations: Cache, bodies: Cache, *, ttl_seconds: int, enabled: bool = True
    ) -> None:
        self._generations = generations
        self._bodies = bodies
        self._ttl = ttl_seconds
        self.enabled = enabled and ttl_seconds > 0

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
        return Lookup(generation, await self._bodies.get(f"rc:{group}:{generation}:{key}"))

    async def store(self, group: str, lookup: Lookup | None, key: str, body: bytes) -> None:
        if lookup is not None:
            await self._bodies.set(f"rc:{group}:{lookup.generation}:{key}", body, self._ttl)

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


class CachedReadsMiddleware:
    """Answers a GET from the read cache before routing, dependencies and the unit of work:
    a hit then costs a cache lookup. The handlers store the bodies (under the same keys, which
    the contexts' `ReadKey` functions compute from the raw request); only 200 answers are
    stored, so a hit is always a request the handler accepted."""

    def __init__(self, app: ASGIApp, *, cache: ReadCache, keys: Sequence[ReadKey]) -> None:
        self.app = app
        self.cache = cache
        self.keys = tuple(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and self.cache.enabled:
            for key_of in self.keys:
                found = key_of(scope)
                if found is None:
                    continue
                lookup = await self.cache.lookup(*found)
                if lookup is not None and lookup.body is not None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(lookup.body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": lookup.body})
                    return
                break
        await self.app(scope, receive, send)
