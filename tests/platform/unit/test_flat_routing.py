"""Tests for marketplace.platform.routing: a router tree mounted flat serves and documents
exactly what the same tree mounted with include_router() does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from starlette.routing import Mount

from marketplace.platform.routing import include_flat


class TaggedRoute(APIRoute):
    """A custom route class, as the catalog's image uploads use one: it must survive."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tagged(request: Request) -> Response:
            response = await handler(request)
            response.headers["X-Route-Class"] = "tagged"
            return response

        return tagged


def _tree(calls: list[str]) -> APIRouter:
    """Three levels with something to inherit at each: prefixes, tags, dependencies,
    responses, a default response class, a route class and a body limit."""

    async def outer_guard() -> None:
        calls.append("outer")

    async def inner_guard() -> None:
        calls.append("inner")

    leaf = APIRouter(
        prefix="/items",
        tags=["items"],
        dependencies=[Depends(inner_guard)],
        responses={409: {"description": "Conflict"}},
        route_class=TaggedRoute,
        max_body_size=16,
        default_response_class=JSONResponse,
    )

    @leaf.get("/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @leaf.post("/{item_id}", status_code=201)
    async def write_item(item_id: int, body: dict[str, str]) -> dict[str, str]:
        return body

    @leaf.get("/special", deprecated=True)
    async def special() -> dict[str, str]:
        return {"shadowed": "never: /{item_id} comes first and rejects the path by validation"}

    middle = APIRouter(default_response_class=PlainTextResponse, tags=["middle"])

    @middle.get("/ping")
    async def ping() -> str:
        return "pong"

    middle.include_router(leaf)
    outer = APIRouter(prefix="/v1", dependencies=[Depends(outer_guard)])

    @outer.get("/top", name="top_level")
    async def top() -> dict[str, str]:
        return {"at": "top"}

    outer.include_router(middle)
    return outer


def _apps() -> tuple[FastAPI, FastAPI, list[str]]:
    calls: list[str] = []
    nested = FastAPI()
    nested.include_router(_tree(calls))
    flat = FastAPI()
    include_flat(flat.router, _tree(calls))
    return nested, flat, calls


async def _both(
    method: str, path: str, **kwargs: Any
) -> tuple[httpx.Response, httpx.Response, list[str]]:
    """The nested and the flat application's answers, and the dependencies each ran."""
    nested, flat, calls = _apps()
    answers: list[httpx.Response] = []
    ran: list[list[str]] = []
    for app in (nested, flat):
        calls.clear()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers.append(await client.request(method, path, **kwargs))
        ran.append(list(calls))
    assert ran[1] == ran[0]
    return answers[0], answers[1], ran[1]


def test_the_route_table_is_flat_and_in_the_nested_order() -> None:
    nested, flat, _ = _apps()

    paths = [(r.path, sorted(r.methods or ())) for r in flat.routes if isinstance(r, APIRoute)]

    assert all(isinstance(r, APIRoute) for r in flat.router.routes[4:])  # after the docs routes
    assert paths == [
        ("/v1/top", ["GET"]),
        ("/v1/ping", ["GET"]),
        ("/v1/items/{item_id}", ["GET"]),
        ("/v1/items/{item_id}", ["POST"]),
        ("/v1/items/special", ["GET"]),
    ]
    assert [type(r).__name__ for r in flat.routes[-3:]] == ["TaggedRoute"] * 3
    assert flat.openapi() == nested.openapi()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "calls"),
    [
        ("GET", "/v1/top", None, 200, ["outer"]),
        ("GET", "/v1/ping", None, 200, ["outer"]),
        ("GET", "/v1/items/7", None, 200, ["outer", "inner"]),
        ("POST", "/v1/items/7", {"a": "b"}, 201, ["outer", "inner"]),
        ("POST", "/v1/items/7", {"a": "a long body"}, 413, []),
        ("GET", "/v1/items/special", None, 422, ["outer", "inner"]),
        ("DELETE", "/v1/items/7", None, 405, []),
        ("DELETE", "/v1/top", None, 405, []),
        ("GET", "/v1/nothing", None, 404, []),
        ("GET", "/v1/top/", None, 307, []),
    ],
)
async def test_every_answer_is_the_nested_trees_answer(
    method: str, path: str, body: dict[str, str] | None, status: int, calls: list[str]
) -> None:
    nested, flat, ran = await _both(method, path, json=body, follow_redirects=False)

    assert (flat.status_code, flat.content) == (nested.status_code, nested.content)
    assert flat.status_code == status
    assert ran == calls
    assert flat.headers.get("content-type") == nested.headers.get("content-type")
    assert flat.headers.get("allow") == nested.headers.get("allow")
    assert flat.headers.get("x-route-class") == nested.headers.get("x-route-class")


async def test_inherited_response_class_and_route_class_apply() -> None:
    nested, flat, _ = await _both("GET", "/v1/ping")
    _, items, _ = await _both("GET", "/v1/items/3")

    assert (flat.headers["content-type"], flat.text) == ("text/plain; charset=utf-8", "pong")
    assert nested.headers["content-type"] == flat.headers["content-type"]
    assert items.headers["x-route-class"] == "tagged"


async def test_the_matched_route_carries_the_full_path_template() -> None:
    _, flat, _ = _apps()
    seen: list[str] = []

    @flat.middleware("http")
    async def remember(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        seen.append(request.scope["route"].path_format)
        return response

    transport = httpx.ASGITransport(app=flat)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/v1/items/3")

    assert seen == ["/v1/items/{item_id}"]


def test_route_names_resolve_to_the_full_path() -> None:
    nested, flat, _ = _apps()

    for app in (nested, flat):
        assert app.url_path_for("top_level") == "/v1/top"
        assert app.url_path_for("read_item", item_id=5) == "/v1/items/5"


async def test_the_trees_lifespan_and_handlers_run_as_when_included() -> None:
    events: dict[str, list[str]] = {"nested": [], "flat": []}

    def router(name: str) -> APIRouter:
        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
            events[name].append("lifespan started")
            yield {"from_router": "yes"}
            events[name].append("lifespan stopped")

        inner = APIRouter(on_startup=[lambda: events[name].append("inner startup")])
        outer = APIRouter(lifespan=lifespan)
        outer.include_router(inner)
        return outer

    nested = FastAPI(on_startup=[lambda: events["nested"].append("app startup")])
    nested.include_router(router("nested"))
    flat = FastAPI(on_startup=[lambda: events["flat"].append("app startup")])
    include_flat(flat.router, router("flat"))

    states = []
    for app in (nested, flat):
        async with app.router.lifespan_context(app) as state:
            states.append(state)

    assert states == [{"from_router": "yes"}] * 2
    # FastAPI's own order (and its running the inner handler twice) is kept, not pinned here.
    assert events["flat"] == events["nested"]
    assert set(events["flat"]) == {
        "app startup",
        "inner startup",
        "lifespan started",
        "lifespan stopped",
    }


def test_a_mount_in_the_tree_is_refused_not_dropped() -> None:
    router = APIRouter()
    router.routes.append(Mount("/files", app=PlainTextResponse("x")))
    app = FastAPI()

    with pytest.raises(TypeError, match="Mount '/files' is not a path operation"):
        include_flat(app.router, router)


def test_router_form_limits_are_refused_not_dropped() -> None:
    inner = APIRouter(prefix="/forms", form_limits={"max_fields": 3})
    outer = APIRouter()
    outer.include_router(inner)
    app = FastAPI()

    with pytest.raises(ValueError, match="'/forms' sets form limits"):
        include_flat(app.router, outer)
