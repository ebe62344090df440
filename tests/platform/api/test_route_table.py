"""The application's route table is flat and serves the API the nested routers describe.

The reference is the same application with every router mounted by FastAPI's own
include_router() (what `create_app` did before `include_flat`): its OpenAPI document and its
answer to every operation must be the flat application's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from marketplace import app as app_module
from marketplace.app import create_app
from marketplace.bootstrap import Container

_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
_SAMPLE = {"int": "7", "path": "a/b", "str": "01JNOSUCHTHING"}


def _nested_app(container: Container, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    def include_nested(target: APIRouter, router: APIRouter) -> None:
        target.include_router(router)

    with monkeypatch.context() as patch:
        patch.setattr(app_module, "include_flat", include_nested)
        return create_app(container=container, run_jobs=False)


@pytest.fixture
async def apps(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, FastAPI, FastAPI]]:
    nested = _nested_app(container, monkeypatch)
    flat = create_app(container=container, run_jobs=False)
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=nested), base_url="http://test"
        ) as nested_client,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=flat), base_url="http://test"
        ) as flat_client,
    ):
        yield nested_client, flat_client, nested, flat


def _concrete(path: str) -> str:
    return _PARAM.sub(lambda m: _SAMPLE[m.group(2) or "str"], path)


def _answer(response: httpx.Response) -> tuple[int, str | None, str | None, bytes]:
    # A success creates something (a guest cart) with fresh ids: its body is not compared.
    body = response.content if response.status_code >= 300 else b""
    headers = response.headers
    return response.status_code, headers.get("content-type"), headers.get("allow"), body


async def test_the_route_table_holds_no_nested_router(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient, FastAPI, FastAPI],
) -> None:
    _, _, nested, flat = apps

    assert all(isinstance(route, APIRoute | Route | Mount) for route in flat.routes)
    assert [
        (c.path, c.methods, c.name, type(c.original_route))
        for c in iter_route_contexts(flat.routes)
    ] == [
        (c.path, c.methods, c.name, type(c.original_route))
        for c in iter_route_contexts(nested.routes)
    ]


async def test_the_openapi_document_is_the_nested_routers_byte_for_byte(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient, FastAPI, FastAPI],
) -> None:
    nested_client, flat_client, _, _ = apps

    nested = await nested_client.get("/openapi.json")
    flat = await flat_client.get("/openapi.json")

    assert flat.status_code == 200
    assert flat.content == nested.content


async def test_every_operation_answers_as_through_the_nested_routers(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient, FastAPI, FastAPI],
) -> None:
    nested_client, flat_client, nested, _ = apps
    requests = [
        (method, _concrete(context.path))
        for context in iter_route_contexts(nested.routes)
        if isinstance(context.original_route, APIRoute) and context.path != "/metrics"
        for method in sorted(context.methods or ())
    ]
    # Beyond the operations: an unknown path, a wrong method and a missing trailing slash.
    requests += [("GET", "/v1/no-such-thing"), ("DELETE", "/v1/me"), ("GET", "/v1/me/")]

    answers = []
    for method, path in requests:
        nested_answer = await nested_client.request(method, path, follow_redirects=False)
        flat_answer = await flat_client.request(method, path, follow_redirects=False)
        answers.append(_answer(flat_answer))
        assert (method, path, *answers[-1]) == (method, path, *_answer(nested_answer))

    assert len(requests) > 120
    assert answers[-3][:2] == (404, "application/problem+json")
    assert answers[-2][:3] == (405, "application/problem+json", "GET")
    assert answers[-1][0] == 307
