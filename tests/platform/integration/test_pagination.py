"""Cursor pagination: complete and duplicate-free over >100 rows, ties, concurrent inserts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.models import OutboxMessage
from support import probe_router


def _messages(count: int, *, name: str = "tests.row.v1") -> list[OutboxMessage]:
    base = utcnow()
    # Only 7 distinct timestamps: most rows tie on the first sort key.
    return [
        OutboxMessage(
            id=new_id("msg"),
            kind="event",
            name=name,
            payload={},
            occurred_at=base - timedelta(seconds=i % 7),
        )
        for i in range(count)
    ]


async def _walk(
    client: httpx.AsyncClient, limit: int, *, between_pages: Callable[[int], object] | None = None
) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    page = 0
    while True:
        params: dict[str, str | int] = {"limit": limit, "name": "tests.row.v1"}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/probe/messages", params=params)
        assert response.status_code == 200
        body = response.json()
        assert len(body["data"]) <= limit
        seen.extend(item["id"] for item in body["data"])
        cursor = body["next_cursor"]
        page += 1
        if between_pages is not None:
            result = between_pages(page)
            if hasattr(result, "__await__"):
                await result  # type: ignore[misc]
        if cursor is None:
            return seen


async def test_walking_250_rows_returns_each_exactly_once_in_order(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    rows = _messages(250)
    session.add_all(rows)
    await session.commit()
    expected = [m.id for m in sorted(rows, key=lambda m: (-m.occurred_at.timestamp(), m.id))]

    async with make_client([probe_router()]) as client:
        seen = await _walk(client, 37)

    assert seen == expected


async def test_rows_inserted_while_paging_cause_no_duplicates_or_gaps(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    original = _messages(120)
    session.add_all(original)
    await session.commit()

    async def insert_newer(page: int) -> None:
        # Newer rows sort before the cursor: they must neither shift nor repeat older rows.
        session.add_all(_messages(5))
        await session.commit()

    async with make_client([probe_router()]) as client:
        seen = await _walk(client, 25, between_pages=insert_newer)

    assert len(seen) == len(set(seen))
    assert {m.id for m in original} <= set(seen)


async def test_default_and_maximum_page_sizes(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    session.add_all(_messages(130))
    await session.commit()

    async with make_client([probe_router()]) as client:
        default = await client.get("/v1/probe/messages")
        maximum = await client.get("/v1/probe/messages", params={"limit": 100})
        too_big = await client.get("/v1/probe/messages", params={"limit": 101})

    assert len(default.json()["data"]) == 20
    assert len(maximum.json()["data"]) == 100
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["loc"] == ["query", "limit"]


async def test_tampered_cursor_is_a_422_naming_the_cursor(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client([probe_router()]) as client:
        garbage = await client.get("/v1/probe/messages", params={"cursor": "%%%not-base64"})
        wrong_shape = await client.get("/v1/probe/messages", params={"cursor": "WzFd"})  # [1]

    for response in (garbage, wrong_shape):
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["query", "cursor"]
