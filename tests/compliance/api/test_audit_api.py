"""The admin audit-log endpoints: who may read them, filters, pagination, chain verification;
and audit rows written through the HTTP boundary (request id, client IP, same transaction)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.compliance.domain import GENESIS_HASH
from marketplace.compliance.models import AuditLogEntry
from marketplace.compliance.public import record_audit
from marketplace.platform.errors import Conflict
from marketplace.platform.http import UoW

AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
LIST = "/v1/admin/audit-logs"
VERIFY = "/v1/admin/audit-logs/verify"


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditLogEntry)) or 0)


async def _seed(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four entries, an hour apart from AT: seq 1..4."""
    times = iter([AT + timedelta(hours=h) for h in range(4)])
    monkeypatch.setattr("marketplace.compliance.public.utcnow", lambda: next(times))
    entries: list[dict[str, Any]] = [
        {
            "actor_id": "usr_admin",
            "actor_role": "admin",
            "action": "vendor.approved",
            "resource_type": "vendor",
            "resource_id": "vnd_1",
            "before": {"status": "pending"},
            "after": {"status": "approved"},
        },
        {
            "actor_id": "usr_owner",
            "actor_role": "vendor_owner",
            "action": "product.updated",
            "resource_type": "product",
            "resource_id": "prd_1",
            "before": {"title": "Mug", "api_key": "mk_live_abc"},
            "after": {"title": "Big mug", "api_key": "mk_live_xyz"},
        },
        {
            "actor_id": "usr_admin",
            "actor_role": "admin",
            "action": "vendor.suspended",
            "resource_type": "vendor",
            "resource_id": "vnd_2",
        },
        {
            "actor_id": "usr_owner",
            "actor_role": "vendor_owner",
            "action": "product.updated",
            "resource_type": "product",
            "resource_id": "prd_2",
        },
    ]
    for entry in entries:
        async with container.uow_factory(request_id="req-seed", client_ip="198.51.100.4") as uow:
            record_audit(uow, **entry)
            await uow.commit()


@pytest.fixture
async def admin_headers(container: Container) -> dict[str, str]:
    admin = await create_user(container, platform_role="admin")
    return auth_headers(container, admin)


def _seqs(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["seq"] for item in response.json()["data"]]


async def test_admin_lists_entries_newest_first_with_every_field(
    client: httpx.AsyncClient,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    admin_headers: dict[str, str],
) -> None:
    await _seed(container, monkeypatch)

    response = await client.get(LIST, headers=admin_headers)

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [item["seq"] for item in body["data"]] == [4, 3, 2, 1]
    second = body["data"][2]
    assert second["id"].startswith("aud_")
    assert len(second["hash"]) == 64
    assert second["prev_hash"] == body["data"][3]["hash"]
    assert body["data"][3]["prev_hash"] == GENESIS_HASH
    assert {k: v for k, v in second.items() if k not in {"id", "hash", "prev_hash"}} == {
        "seq": 2,
        "occurred_at": "2026-03-04T06:06:07.890123Z",
        "actor_id": "usr_owner",
        "actor_role": "vendor_owner",
        "action": "product.updated",
        "resource_type": "product",
        "resource_id": "prd_1",
        "changes": {
            "api_key": {"before": "[REDACTED]", "after": "[REDACTED]"},
            "title": {"before": "Mug", "after": "Big mug"},
        },
        "request_id": "req-seed",
        "ip": "198.51.100.4",
    }
    assert "mk_live" not in response.text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor_id": "usr_admin"}, [3, 1]),
        ({"actor_id": "usr_owner"}, [4, 2]),
        ({"resource_type": "product"}, [4, 2]),
        ({"resource_type": "vendor", "resource_id": "vnd_1"}, [1]),
        ({"resource_id": "prd_2"}, [4]),
        ({"action": "product.updated"}, [4, 2]),
        ({"action": "product.updated", "actor_id": "usr_admin"}, []),
        ({"from": "2026-03-04T07:06:07.890123Z"}, [4, 3]),
        ({"to": "2026-03-04T07:06:07.890123Z"}, [2, 1]),
        # The same instants written in another zone select the same rows.
        ({"from": "2026-03-04T07:06:07.890123+02:00", "to": "2026-03-04T07:06:07+01:00"}, [1]),
    ],
)
async def test_each_filter_selects_exactly_its_entries(
    client: httpx.AsyncClient,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    admin_headers: dict[str, str],
    params: dict[str, str],
    expected: list[int],
) -> None:
    await _seed(container, monkeypatch)

    assert _seqs(await client.get(LIST, params=params, headers=admin_headers)) == expected


async def test_a_time_filter_without_a_zone_is_rejected(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.get(LIST, params={"from": "2026-03-04T07:00:00"}, headers=admin_headers)

    assert response.status_code == 422
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [
        (["query", "from"], "timezone_aware")
    ]


async def test_pages_follow_the_cursor(
    client: httpx.AsyncClient,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    admin_headers: dict[str, str],
) -> None:
    await _seed(container, monkeypatch)

    first = await client.get(LIST, params={"limit": 3}, headers=admin_headers)
    cursor = first.json()["next_cursor"]
    assert isinstance(cursor, str)
    second = await client.get(LIST, params={"limit": 3, "cursor": cursor}, headers=admin_headers)

    assert (_seqs(first), _seqs(second), second.json()["next_cursor"]) == ([4, 3, 2], [1], None)

    tampered = await client.get(LIST, params={"cursor": "not-a-cursor"}, headers=admin_headers)
    assert tampered.status_code == 422
    assert tampered.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_support_can_read_and_verify(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(container, monkeypatch)
    support = await create_user(container, platform_role="support")
    headers = auth_headers(container, support)

    assert _seqs(await client.get(LIST, params={"limit": 2}, headers=headers)) == [4, 3]
    verify = await client.get(VERIFY, headers=headers)
    assert (verify.status_code, verify.json()["valid"]) == (200, True)


@pytest.mark.parametrize("path", [LIST, VERIFY])
async def test_a_customer_is_forbidden_and_sees_nothing(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    await _seed(container, monkeypatch)
    customer = await create_user(container)

    response = await client.get(path, headers=auth_headers(container, customer))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["status"]) == ("forbidden", 403)
    assert "data" not in body
    assert "aud_" not in response.text
    assert await _count(session) == 4


@pytest.mark.parametrize("path", [LIST, VERIFY])
async def test_an_anonymous_caller_must_sign_in(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    await _seed(container, monkeypatch)

    response = await client.get(path)

    assert response.status_code == 401
    body = response.json()
    assert (body["code"], body["status"]) == ("unauthorized", 401)
    assert "aud_" not in response.text
    assert await _count(session) == 4


async def test_verify_reports_a_valid_chain_then_the_tampered_row(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    admin_headers: dict[str, str],
) -> None:
    await _seed(container, monkeypatch)

    intact = await client.get(VERIFY, headers=admin_headers)
    assert intact.status_code == 200
    assert intact.json() == {"valid": True, "checked": 4, "first_broken": None}

    second_id = await session.scalar(select(AuditLogEntry.id).where(AuditLogEntry.seq == 2))
    await session.execute(text("UPDATE compliance_audit_log SET resource_id = 'x' WHERE seq = 2"))
    await session.commit()

    broken = await client.get(VERIFY, headers=admin_headers)
    assert broken.status_code == 200
    assert broken.json() == {
        "valid": False,
        "checked": 2,
        "first_broken": {"seq": 2, "id": second_id, "reason": "hash_mismatch"},
    }


# --- recording through the HTTP boundary ----------------------------------------------------


class Renamed(BaseModel):
    name: str


def _renaming_router() -> APIRouter:
    router = APIRouter(prefix="/probe-audit")

    @router.post("/stores/{store_id}/rename")
    async def rename(store_id: str, body: Renamed, uow: UoW) -> Renamed:
        record_audit(
            uow,
            actor_id="usr_owner",
            actor_role="vendor_owner",
            action="store.renamed",
            resource_type="store",
            resource_id=store_id,
            before={"name": "Old"},
            after={"name": body.name},
        )
        if body.name == "taken":
            raise Conflict("the name is taken", code="name_taken")
        return body

    return router


async def test_a_request_records_its_request_id_and_client_ip_with_its_change(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    async with make_client([_renaming_router()]) as client:
        response = await client.post(
            "/v1/probe-audit/stores/sto_1/rename",
            json={"name": "New"},
            headers={"X-Request-ID": "req-rename-1"},
        )
    assert response.status_code == 200

    rows = (await session.scalars(select(AuditLogEntry))).all()
    assert [(r.seq, r.action, r.resource_id, r.changes, r.request_id, r.ip) for r in rows] == [
        (
            1,
            "store.renamed",
            "sto_1",
            {"name": {"before": "Old", "after": "New"}},
            "req-rename-1",
            "127.0.0.1",
        )
    ]


async def test_a_failed_request_records_nothing(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    async with make_client([_renaming_router()]) as client:
        response = await client.post("/v1/probe-audit/stores/sto_1/rename", json={"name": "taken"})

    assert response.status_code == 409
    assert await _count(session) == 0
