"""Admission: how many requests a serving process works on at once; the others wait their
turn, first come first served.

On a saturated host, working on every request at once makes each of them slower: they take
turns on the one event loop, statement by statement, and the database's backends compete for
the same cores. The median barely moves, but the tail spreads, as every request shares the
host with all the others for its whole life. With a few admitted at a time, an admitted
request runs nearly alone and is done soon, and a waiting one loses only its place in line.
In the checkout benchmark (32 customers, 2 cores), admitting 8 at a time turned a p99 of
1.8 x the median into 1.3 x at the same throughput (docs/benchmarks.md).

The gate hands a freed place to the longest-waiting request itself (a request arriving just
then cannot take it first). A request that waits on a remote service (a payment gateway's
answer) gives its place up meanwhile (`waiting_elsewhere`) and gets it back ahead of the
requests that have not started, so slow providers do not hold places that the host could use.
A request that waits longer than `max_wait` is answered 503 `overloaded` with `Retry-After`,
so a line longer than the host can serve sheds load instead of growing without bound.

A place is for the request's work, not for its client's pace: a request body (up to 1 MiB)
is read before the request queues, so a client sending its body slowly holds no place, and
the place is given back when the response starts (the unit of work has committed by then),
so a slow reader of a long response holds none either. Health, readiness and metrics are
never queued: an operator must see a busy process as busy, not as down.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.platform.errors import problem_response
from marketplace.platform.observability.metrics import (
    ADMISSION_REJECTED_TOTAL,
    ADMISSION_WAITING,
)

__all__ = ["AdmissionGate", "AdmissionMiddleware", "Overloaded", "waiting_elsewhere"]

EXEMPT_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
CODE: Final = "overloaded"
# Read before queueing; a larger body (an upload) streams in while its request holds a place.
BODY_READ_AHEAD: Final = 1024 * 1024


class Overloaded(Exception):
    """No place was free within the gate's `max_wait`."""


class AdmissionGate:
    """At most `limit` holders at once; waiters are served in order of arrival, those coming
    back from a remote wait (`returning=True`) before those that have not started."""

    def __init__(self, limit: int, *, max_wait: float) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.max_wait = max_wait
        self._free = limit
        self._new: deque[asyncio.Future[None]] = deque()
        self._returning: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._new) + len(self._returning)

    @property
    def free(self) -> int:
        return self._free

    async def enter(self, *, returning: bool = False) -> None:
        """Take a place; waits while all are taken. A new request waits at most `max_wait`
        seconds (then `Overloaded`); a returning one, first in line, as long as it takes."""
        if self._free > 0 and not self._new and not self._returning:
            self._free -= 1
            return
        place: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._returning if returning else self._new
        line.append(place)
        ADMISSION_WAITING.inc()
        try:
            if returning:
                await place
            else:
                async with asyncio.timeout(self.max_wait):
                    await place
        except (TimeoutError, asyncio.CancelledError) as error:
            if place.done() and not place.cancelled():
                # Handed a place just as the wait ended: pass it on rather than lose it.
                self.leave()
            elif place in line:
                line.remove(place)
            if isinstance(error, TimeoutError):
                raise Overloaded() from None
            raise
        finally:
            ADMISSION_WAITING.dec()

    def leave(self) -> None:
        """Give the place back: to the first in line if anyone waits."""
        for line in (self._returning, self._new):
            while line:
                place = line.popleft()
                if not place.done():
                    place.set_result(None)
                    return
        self._free += 1


class _Admission:
    """One request's place: held or given up for a remote wait."""

    __slots__ = ("gate", "held")

    def __init__(self, gate: AdmissionGate) -> None:
        self.gate = gate
        self.held = False


_current: contextvars.ContextVar[_Admission | None] = contextvars.ContextVar(
    "admission", default=None
)


@asynccontextmanager
async def waiting_elsewhere() -> AsyncIterator[None]:
    """Around a wait on a remote service: the request's place is free meanwhile, and taken
    back afterwards ahead of the requests that have not started. Outside an admitted
    request (jobs, tests, CLI) it does nothing."""
    admission = _current.get()
    if admission is None or not admission.held:
        yield
        return
    admission.held = False
    admission.gate.leave()
    try:
        yield
    finally:
        await admission.gate.enter(returning=True)
        admission.held = True


class AdmissionMiddleware:
    """Queues HTTP requests at the gate before anything else of theirs runs (transaction,
    idempotency key, handler); see the module."""

    def __init__(
        self, app: ASGIApp, *, gate: AdmissionGate, exempt: Collection[str] = EXEMPT_PATHS
    ) -> None:
        self.app = app
        self.gate = gate
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        receive = await _read_ahead(receive, limit=BODY_READ_AHEAD)
        admission = _Admission(self.gate)

        async def send_and_leave(message: Message) -> None:
            if message["type"] == "http.response.start" and admission.held:
                # The work is done (committed): what is left is the client's reading.
                admission.held = False
                self.gate.leave()
            await send(message)

        try:
            await self.gate.enter()
        except Overloaded:
            ADMISSION_REJECTED_TOTAL.inc()
            response = problem_response(
                503,
                CODE,
                detail="the service is busy; try again shortly",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        admission.held = True
        token = _current.set(admission)
        try:
            await self.app(scope, receive, send_and_leave)
        finally:
            _current.reset(token)
            if admission.held:
                admission.held = False
                self.gate.leave()


async def _read_ahead(receive: Receive, *, limit: int) -> Receive:
    """Read the request body's messages up to `limit` bytes now; the returned `receive`
    answers them first, then whatever the client still sends."""
    messages: deque[Message] = deque()
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # the client went away
        size += len(message.get("body", b""))
        if not message.get("more_body", False) or size > limit:
            break

    async def replay() -> Message:
        if messages:
            return messages.popleft()
        return await receive()

    return replay
