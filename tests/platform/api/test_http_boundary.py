"""The HTTP boundary: problem+json everywhere, health probes, OpenAPI, commit-before-response."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support import count_notes, probe_router

PROBLEM = "application/problem+json"


async def test_unknown_path_answers_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/does-not-exist")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body == {
        "type": "/problems/not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "no resource at /v1/does-not-exist",
        "code": "not_found",
    }


async def test_wrong_method_answers_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "method_not_allowed"


async def test_validation_error_names_the_field_and_writes_nothing(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    async with make_client([probe_router()]) as client:
        response = await client.post("/v1/probe/notes", json={"text": ""})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == [
        {
            "loc": ["body", "text"],
            "msg": "String should have at least 1 character",
            "code": "string_too_short",
        }
    ]
    assert "body.text" in body["detail"]
    assert await count_notes(session) == 0


async def test_malformed_json_is_a_422_problem(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client([probe_router()]) as client:
        response = await client.post(
            "/v1/probe/notes", content=b"{not json", headers={"content-type": "application/json"}
        )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "json_invalid"


async def test_app_error_rolls_back_what_the_handler_wrote(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    async with make_client([probe_router()]) as client:
        response = await client.post("/v1/probe/failing-notes", json={"text": "x"})

    assert response.status_code == 409
    assert response.json() == {
        "type": "/problems/note_conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "the note conflicts",
        "code": "note_conflict",
    }
    assert await count_notes(session) == 0


async def test_crash_answers_500_problem_without_internals_and_rolls_back(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    async with make_client([probe_router()], raise_app_exceptions=False) as client:
        response = await client.post("/v1/probe/crashing-notes", json={"text": "x"})

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "internal_error"
    assert "secret internal detail" not in response.text
    assert await count_notes(session) == 0


async def test_liveness_and_readiness(client: httpx.AsyncClient) -> None:
    live = await client.get("/healthz")
    ready = await client.get("/readyz")

    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "checks": {"database": "ok"}},
    )


async def test_request_id_is_returned(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})

    assert response.headers["x-request-id"] == "abc-123"


async def test_metrics_count_requests_per_route_template(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client([probe_router()]) as client:
        await client.get("/healthz")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert 'route="/healthz"' in response.text
    assert "http_request_duration_seconds_bucket" in response.text


async def test_openapi_documents_problems_and_idempotency_key(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client([probe_router()]) as client:
        schema = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")

    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    post = schema["paths"]["/v1/probe/notes"]["post"]
    assert post["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    assert docs.status_code == 200


async def test_write_is_committed_before_the_response_arrives(
    make_live_client: Callable[..., httpx.AsyncClient], second_connection: AsyncConnection
) -> None:
    async with make_live_client([probe_router()]) as client:
        response = await client.post("/v1/probe/notes", json={"text": "durable"})
        # Read from an independent connection immediately, before anything else happens.
        seen = await count_notes(second_connection)

    assert response.status_code == 201
    assert seen == 1
