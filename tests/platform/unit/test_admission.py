"""The admission gate: a limit on requests worked on at once, a first-come line for the rest,
a place given up while a request waits on a remote service, and 503 for a line too long."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from marketplace.app import request_concurrency
from marketplace.platform.admission import (
    AdmissionGate,
    AdmissionMiddleware,
    Overloaded,
    waiting_elsewhere,
)
from marketplace.settings import Settings


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_places_up_to_the_limit_are_taken_at_once_and_the_next_waits() -> None:
    gate = AdmissionGate(2, max_wait=5)
    await gate.enter()
    await gate.enter()
    third = asyncio.create_task(gate.enter())
    await _settle()
    assert not third.done()
    assert gate.waiting == 1

    gate.leave()
    await asyncio.wait_for(third, 1)
    assert gate.waiting == 0
    assert gate.free == 0


async def test_waiting_requests_are_let_in_in_order_of_arrival() -> None:
    gate = AdmissionGate(1, max_wait=5)
    await gate.enter()
    order: list[int] = []

    async def arrive(n: int) -> None:
        await gate.enter()
        order.append(n)

    waiting = []
    for n in range(5):
        waiting.append(asyncio.create_task(arrive(n)))
        await _settle()
    for _ in range(5):
        gate.leave()
        await _settle()
    await asyncio.wait_for(asyncio.gather(*waiting), 1)
    assert order == [0, 1, 2, 3, 4]


async def test_a_freed_place_goes_to_the_one_in_line_not_to_a_newcomer() -> None:
    gate = AdmissionGate(1, max_wait=5)
    await gate.enter()
    in_line = asyncio.create_task(gate.enter())
    await _settle()

    gate.leave()  # handed to the one in line before it even runs
    newcomer = asyncio.create_task(gate.enter())
    await _settle()

    assert in_line.done()
    assert not newcomer.done()
    gate.leave()
    await asyncio.wait_for(newcomer, 1)


async def test_a_request_back_from_a_remote_wait_goes_ahead_of_new_ones() -> None:
    gate = AdmissionGate(1, max_wait=5)
    await gate.enter()
    order: list[str] = []

    async def enter(name: str, *, returning: bool) -> None:
        await gate.enter(returning=returning)
        order.append(name)

    new = asyncio.create_task(enter("new", returning=False))
    await _settle()
    back = asyncio.create_task(enter("back", returning=True))
    await _settle()
    gate.leave()
    await _settle()
    gate.leave()
    await asyncio.wait_for(asyncio.gather(new, back), 1)
    assert order == ["back", "new"]


async def test_a_new_request_that_waits_too_long_is_refused_and_leaves_the_line() -> None:
    gate = AdmissionGate(1, max_wait=0.05)
    await gate.enter()
    with pytest.raises(Overloaded):
        await gate.enter()
    assert gate.waiting == 0
    gate.leave()
    assert gate.free == 1


async def test_a_cancelled_waiter_leaves_the_line_and_a_place_handed_to_it_passes_on() -> None:
    gate = AdmissionGate(1, max_wait=5)
    await gate.enter()
    gone = asyncio.create_task(gate.enter())
    await _settle()
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert gate.waiting == 0

    # Handed a place and cancelled before it could run: the place goes to the next in line.
    handed = asyncio.create_task(gate.enter())
    after = asyncio.create_task(gate.enter())
    await _settle()
    gate.leave()
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await asyncio.wait_for(after, 1)
    assert gate.free == 0
    gate.leave()
    assert gate.free == 1


def _app(gate: AdmissionGate, release: asyncio.Event, entered: asyncio.Event) -> Starlette:
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(await request.body())

    async def stream(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first "
            entered.set()
            await release.wait()
            yield b"last"

        return StreamingResponse(body())

    async def slow(request: Request) -> PlainTextResponse:
        entered.set()
        await release.wait()
        return PlainTextResponse("done")

    async def remote(request: Request) -> PlainTextResponse:
        entered.set()
        async with waiting_elsewhere():
            await release.wait()
        return PlainTextResponse("done")

    async def quick(request: Request) -> JSONResponse:
        return JSONResponse({"free": gate.free})

    app = Starlette(
        routes=[
            Route("/slow", slow),
            Route("/remote", remote),
            Route("/echo", echo, methods=["POST"]),
            Route("/stream", stream),
            Route("/quick", quick),
            Route("/healthz", quick),
        ]
    )
    app.add_middleware(AdmissionMiddleware, gate=gate)
    return app


async def test_a_full_gate_answers_503_overloaded_with_retry_after_but_health_passes() -> None:
    gate = AdmissionGate(1, max_wait=0.05)
    release, entered = asyncio.Event(), asyncio.Event()
    transport = httpx.ASGITransport(app=_app(gate, release, entered))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        slow = asyncio.create_task(client.get("/slow"))
        await asyncio.wait_for(entered.wait(), 1)

        refused = await client.get("/quick")
        health = await client.get("/healthz")

        release.set()
        assert (await slow).status_code == 200
        after = await client.get("/quick")

    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["code"] == "overloaded"
    assert health.status_code == 200
    assert after.status_code == 200
    assert after.json() == {"free": 0}  # its own place, the only one
    assert gate.free == 1


async def test_a_request_waiting_on_a_remote_service_frees_its_place_meanwhile() -> None:
    gate = AdmissionGate(1, max_wait=0.5)
    release, entered = asyncio.Event(), asyncio.Event()
    transport = httpx.ASGITransport(app=_app(gate, release, entered))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        remote = asyncio.create_task(client.get("/remote"))
        await asyncio.wait_for(entered.wait(), 1)

        meanwhile = await client.get("/quick")

        release.set()
        finished = await remote

    assert meanwhile.status_code == 200
    assert finished.status_code == 200
    assert gate.free == 1
    assert gate.waiting == 0


async def test_outside_an_admitted_request_a_remote_wait_changes_nothing() -> None:
    gate = AdmissionGate(1, max_wait=5)
    async with waiting_elsewhere():
        pass
    assert gate.free == 1


def test_the_limit_is_as_configured_or_four_requests_per_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert request_concurrency(Settings(request_concurrency=3)) == 3
    assert request_concurrency(Settings(request_concurrency=0)) == 0
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert request_concurrency(Settings()) == 8


async def test_a_client_still_sending_its_body_holds_no_place() -> None:
    gate = AdmissionGate(1, max_wait=0.05)
    release, entered = asyncio.Event(), asyncio.Event()
    rest = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"half "
        entered.set()
        await rest.wait()
        yield b"and the rest"

    transport = httpx.ASGITransport(app=_app(gate, release, entered))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        slow = asyncio.create_task(client.post("/echo", content=body()))
        await asyncio.wait_for(entered.wait(), 1)

        meanwhile = await client.get("/quick")

        rest.set()
        sent = await slow

    assert meanwhile.status_code == 200
    assert (sent.status_code, sent.text) == (200, "half and the rest")
    assert gate.free == 1


async def test_the_place_is_given_back_when_the_response_starts() -> None:
    gate = AdmissionGate(1, max_wait=0.05)
    release, entered = asyncio.Event(), asyncio.Event()
    transport = httpx.ASGITransport(app=_app(gate, release, entered))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        streaming = asyncio.create_task(client.get("/stream"))
        await asyncio.wait_for(entered.wait(), 1)

        meanwhile = await client.get("/quick")

        release.set()
        streamed = await streaming

    assert meanwhile.status_code == 200
    assert (streamed.status_code, streamed.text) == (200, "first last")
    assert gate.free == 1
