"""The application's route table: routers are mounted as one flat list of path operations.

Contexts own their routers and compose them with `include_router()` (a context may nest
sub-routers, the application groups them all under `/v1`). Since FastAPI 0.137,
`include_router()` no longer copies the included routes into the parent: the parent keeps the
router nested and, on every request, walks the tree level by level, recomputing each level's
routes version recursively and swapping per-level state in and out of the scope for every
candidate it tries. With our ~126 routes that is several hundred microseconds of CPU per
request on every endpoint, before any handler runs (measured 2026-12-04 in process: an
unauthenticated `POST /v1/orders` 820 µs against 170 µs for `/healthz`, first in the table;
`bench/route_matching.py`).

`include_flat()` mounts a router tree the way FastAPI did before: every path operation of the
tree is registered once on the target with everything the tree gives it (combined prefix,
tags, dependencies, responses, callbacks, response class, body limit, route class, ...), so a
request tries plain routes in the same order as before and nothing else. FastAPI computes what
each operation inherits (`iter_route_contexts()`, which also builds the OpenAPI document), so
the flat operations are the ones the nested tree documents and serves: same OpenAPI, same
names for `url_for`, and `scope["route"]` carries the full path template.

A router tree holding anything but FastAPI path operations (a mount, a plain Starlette route,
a websocket, a frontend, router-level form limits) is refused: mount those with
`include_router()` or directly on the application.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

from fastapi import APIRouter
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.types import Lifespan


def include_flat(target: APIRouter, router: APIRouter) -> None:
    """Register every path operation of `router` and the routers it includes on `target`."""
    _refuse_what_a_flat_table_cannot_carry(router)
    for context in iter_route_contexts(router.routes):
        route, path = context.original_route, context.path
        if not isinstance(route, APIRoute) or path is None:
            raise TypeError(
                f"{type(route).__name__} {path!r} is not a path operation: mount it "
                "with include_router() or on the application"
            )
        # Every value as FastAPI resolved it for the nested route; `target` adds its own
        # prefix, tags, dependencies and defaults exactly as include_router() would have.
        target.add_api_route(
            path,
            route.endpoint,
            route_class_override=type(route),
            response_model=route.response_model,
            status_code=route.status_code,
            tags=context.tags,
            dependencies=context.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=context.responses,
            deprecated=context.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=context.include_in_schema,
            response_class=context.response_class,
            name=route.name,
            callbacks=context.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=context.generate_unique_id_function,
            strict_content_type=context.strict_content_type,
            max_body_size=context.max_body_size,
            form_limits=route.form_limits or None,
        )
    # What include_router() does besides the routes: the tree's startup and shutdown handlers
    # and its lifespan run with the application's.
    for handler in router.on_startup:
        target.add_event_handler("startup", handler)
    for handler in router.on_shutdown:
        target.add_event_handler("shutdown", handler)
    target.lifespan_context = _merged_lifespan(target.lifespan_context, router.lifespan_context)


def _included_routers(router: APIRouter) -> Iterator[APIRouter]:
    yield router
    for route in router.routes:
        # FastAPI's private wrapper of an included router; read duck-typed, only to refuse.
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from _included_routers(included)


def _refuse_what_a_flat_table_cannot_carry(router: APIRouter) -> None:
    for included in _included_routers(router):
        # Router-level form limits and frontends are applied by the nested router itself
        # while it handles the request; a flat table has no such step.
        if included.form_limits:
            raise ValueError(f"router {included.prefix!r} sets form limits: include_router() it")
        if getattr(included, "_low_priority_routes", None):
            raise ValueError(f"router {included.prefix!r} serves a frontend: include_router() it")


def _merged_lifespan(outer: Lifespan[Any], inner: Lifespan[Any]) -> Lifespan[Any]:
    # As FastAPI merges an included router's lifespan: the inner one runs inside the outer one
    # and the outer one's state wins on a clash.
    @asynccontextmanager
    async def merged(app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        async with outer(app) as outer_state, inner(app) as inner_state:
            if outer_state is None and inner_state is None:
                yield None
            else:
                yield {**(inner_state or {}), **(outer_state or {})}

    # Lifespan is "yields state" or "yields None"; the merge yields what the two yield.
    return cast(Lifespan[Any], merged)
