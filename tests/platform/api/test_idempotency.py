"""Idempotency-Key: replay, reuse with another body, concurrent duplicates, failures, crashes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.identity.models import User
from marketplace.platform.clock import utcnow
from marketplace.platform.models import IdempotencyKey
from support import count_notes, probe_router


@pytest.fixture
async def customer(container: Container) -> User:
    return await create_user(container)


@pytest.fixture
def token(container: Container, customer: User) -> dict[str, str]:
    return auth_headers(container, customer)


@pytest.fixture
async def live_token(live_container: Container) -> dict[str, str]:
    return auth_headers(live_container, await create_user(live_container))


async def test_retry_with_same_key_and_body_replays_without_running_again(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession, token: dict[str, str]
) -> None:
    async with make_client([probe_router()]) as client:
        headers = {**token, "Idempotency-Key": "key-1"}
        first = await client.post("/v1/probe/notes", json={"text": "a"}, headers=headers)
        # Same JSON object serialised differently is still the same request.
        second = await client.post(
            "/v1/probe/notes",
            content=b'{ "text" :  "a" }',
            headers={**headers, "content-type": "application/json"},
        )

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert await count_notes(session) == 1


async def test_same_key_with_another_body_is_refused_and_changes_nothing(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession, token: dict[str, str]
) -> None:
    async with make_client([probe_router()]) as client:
        headers = {**token, "Idempotency-Key": "key-2"}
        first = await client.post("/v1/probe/notes", json={"text": "a"}, headers=headers)
        reused = await client.post("/v1/probe/notes", json={"text": "b"}, headers=headers)

    assert first.status_code == 201
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["code"] == "idempotency_key_reused"
    assert await count_notes(session) == 1


async def test_keys_belong_to_their_caller(
    make_client: Callable[..., httpx.AsyncClient],
    session: AsyncSession,
    container: Container,
    token: dict[str, str],
) -> None:
    other = await create_user(container)
    async with make_client([probe_router()]) as client:
        a = await client.post(
            "/v1/probe/notes", json={"text": "a"}, headers={**token, "Idempotency-Key": "k"}
        )
        b = await client.post(
            "/v1/probe/notes",
            json={"text": "b"},
            headers={**auth_headers(container, other), "Idempotency-Key": "k"},
        )

    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["message_id"] != b.json()["message_id"]
    assert await count_notes(session) == 2


async def test_required_key_missing_answers_400_and_changes_nothing(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession, token: dict[str, str]
) -> None:
    async with make_client([probe_router()]) as client:
        response = await client.post("/v1/probe/required-notes", json={"text": "a"}, headers=token)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert await count_notes(session) == 0


async def test_oversized_key_is_rejected(
    make_client: Callable[..., httpx.AsyncClient], token: dict[str, str]
) -> None:
    async with make_client([probe_router()]) as client:
        response = await client.post(
            "/v1/probe/notes", json={"text": "a"}, headers={**token, "Idempotency-Key": "k" * 256}
        )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"


async def test_failed_request_releases_its_key_for_a_corrected_retry(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession, token: dict[str, str]
) -> None:
    async with make_client([probe_router()]) as client:
        headers = {**token, "Idempotency-Key": "key-3"}
        invalid = await client.post("/v1/probe/notes", json={"text": ""}, headers=headers)
        corrected = await client.post("/v1/probe/notes", json={"text": "ok"}, headers=headers)

    assert invalid.status_code == 422
    assert corrected.status_code == 201
    assert await count_notes(session) == 1


async def test_crashed_holder_is_taken_over_after_its_lease(
    make_client: Callable[..., httpx.AsyncClient],
    container: Container,
    session: AsyncSession,
    customer: User,
    token: dict[str, str],
) -> None:
    """A process that died mid-request committed nothing; after the lease a retry runs it."""
    from marketplace.platform.idempotency import fingerprint

    body = b'{"text":"a"}'
    digest = fingerprint("POST", "/v1/probe/notes", "", body)
    scope = f"usr:{customer.id}"
    crashed = await container.idempotency.reserve(scope=scope, key="key-4", fingerprint=digest)
    assert crashed.outcome == "reserved"
    async with make_client([probe_router()]) as client:
        headers = {**token, "Idempotency-Key": "key-4", "content-type": "application/json"}
        while_leased = await client.post("/v1/probe/notes", content=body, headers=headers)
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == crashed.record_id)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
        after_lease = await client.post("/v1/probe/notes", content=body, headers=headers)

    assert while_leased.status_code == 409
    assert while_leased.json()["code"] == "idempotency_request_in_progress"
    assert while_leased.headers["retry-after"] == "1"
    assert after_lease.status_code == 201
    assert await count_notes(session) == 1
    # The crashed holder can no longer complete: its token was replaced.
    record = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "key-4"))
    assert record is not None
    assert record.status == "completed"
    assert record.lock_token != crashed.lock_token


async def test_expired_key_can_be_used_again(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession, token: dict[str, str]
) -> None:
    async with make_client([probe_router()]) as client:
        headers = {**token, "Idempotency-Key": "key-5"}
        await client.post("/v1/probe/notes", json={"text": "a"}, headers=headers)
        await session.execute(
            update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
        again = await client.post("/v1/probe/notes", json={"text": "b"}, headers=headers)

    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert await count_notes(session) == 2


async def test_concurrent_duplicates_execute_exactly_once(
    make_live_client: Callable[..., httpx.AsyncClient],
    second_connection: AsyncConnection,
    live_token: dict[str, str],
) -> None:
    """Two requests with one key at the same time: one runs, the other gets 409 at once
    (on PostgreSQL the first's reservation is not even committed yet: it commits with the
    request's own transaction)."""
    gate, entered = asyncio.Event(), asyncio.Event()
    async with make_live_client([probe_router(gate, entered)]) as client:
        headers = {**live_token, "Idempotency-Key": "key-concurrent"}
        first = asyncio.create_task(
            client.post("/v1/probe/notes", json={"text": "a"}, headers=headers)
        )
        # Let the first request reserve the key and block inside the handler.
        await asyncio.wait_for(entered.wait(), timeout=10)
        # Answered without waiting for the first (which waits for the gate).
        second = await asyncio.wait_for(
            client.post("/v1/probe/notes", json={"text": "a"}, headers=headers), timeout=10
        )
        gate.set()
        first_response = await first
        third = await client.post("/v1/probe/notes", json={"text": "a"}, headers=headers)

    assert first_response.status_code == 201
    assert second.status_code == 409
    assert second.json()["code"] == "idempotency_request_in_progress"
    assert third.status_code == 201
    assert third.headers["idempotent-replayed"] == "true"
    assert third.json() == first_response.json()
    assert await count_notes(second_connection) == 1


async def test_many_concurrent_duplicates_execute_exactly_once(
    make_live_client: Callable[..., httpx.AsyncClient],
    second_connection: AsyncConnection,
    live_token: dict[str, str],
) -> None:
    async with make_live_client([probe_router()]) as client:
        headers = {**live_token, "Idempotency-Key": "key-burst"}
        responses = await asyncio.gather(
            *(
                client.post("/v1/probe/notes", json={"text": "burst"}, headers=headers)
                for _ in range(20)
            )
        )

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["message_id"] for r in created}) == 1
    assert await count_notes(second_connection) == 1


async def test_anonymous_keys_are_scoped_by_the_request_itself(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    """Without credentials nobody owns a key: another client's different request with the
    same key runs on its own and can never receive the first client's response."""
    async with make_client([probe_router()]) as client:
        headers = {"Idempotency-Key": "shared-key"}
        first = await client.post("/v1/probe/notes", json={"text": "a"}, headers=headers)
        other = await client.post("/v1/probe/notes", json={"text": "b"}, headers=headers)
        retry = await client.post("/v1/probe/notes", json={"text": "a"}, headers=headers)

    assert (first.status_code, other.status_code, retry.status_code) == (201, 201, 201)
    assert other.json()["text"] == "b"
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert await count_notes(session) == 2


async def test_oversized_idempotent_body_is_refused_before_buffering(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession, token: dict[str, str]
) -> None:
    async with make_client([probe_router()]) as client:
        response = await client.post(
            "/v1/probe/notes",
            content=b'{"text": "' + b"x" * (17 * 1024 * 1024) + b'"}',
            headers={**token, "Idempotency-Key": "big", "content-type": "application/json"},
        )

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert await count_notes(session) == 0
