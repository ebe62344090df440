"""Commission over HTTP: admins set the default and the overrides, support reads, nobody else;
invalid rules are 422s naming the field and store nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import auth_headers, create_user
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.vendors.models import CommissionRule

LATER = "2099-01-02T03:04:05.123456Z"


async def _headers(container: Container, role: str | None) -> dict[str, str]:
    return auth_headers(container, await create_user(container, platform_role=role))


async def _count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_admin_sets_the_default(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    admin = await create_user(container, platform_role="admin")

    response = await client.put(
        "/v1/admin/commission",
        json={"type": "percent", "percent_bps": 1000},
        headers=auth_headers(container, admin),
    )

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": body["id"],
        "scope": "default",
        "scope_id": None,
        "type": "percent",
        "percent_bps": 1000,
        "flat": None,
        "effective_from": body["created_at"],
        "created_by": admin.id,
        "created_at": body["created_at"],
    }
    assert body["id"].startswith("cmr_")
    stored = await session.get(CommissionRule, body["id"])
    assert stored is not None
    assert (stored.scope, stored.scope_id, stored.percent_bps) == ("default", None, 1000)
    audit = await session.scalar(
        select(AuditLogEntry).where(AuditLogEntry.resource_id == body["id"])
    )
    assert audit is not None
    assert (audit.action, audit.actor_id, audit.actor_role) == (
        "commission.rule_set",
        admin.id,
        "admin",
    )


async def test_admin_sets_a_vendor_override(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_user(container, platform_role="admin")
    vendor = await create_vendor(container)

    response = await client.put(
        f"/v1/admin/vendors/{vendor.id}/commission",
        json={
            "type": "percent_plus_flat",
            "percent_bps": 800,
            "flat": {"amount": 30, "currency": "EUR"},
            "effective_from": LATER,
        },
        headers=auth_headers(container, admin),
    )

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": body["id"],
        "scope": "vendor",
        "scope_id": vendor.id,
        "type": "percent_plus_flat",
        "percent_bps": 800,
        "flat": {"amount": 30, "currency": "EUR"},
        "effective_from": LATER,
        "created_by": admin.id,
        "created_at": body["created_at"],
    }


async def test_admin_sets_a_category_override(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_user(container, platform_role="admin")

    response = await client.put(
        "/v1/admin/categories/cat_shoes/commission",
        json={"type": "flat", "flat": {"amount": 150, "currency": "USD"}},
        headers=auth_headers(container, admin),
    )

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": body["id"],
        "scope": "category",
        "scope_id": "cat_shoes",
        "type": "flat",
        "percent_bps": None,
        "flat": {"amount": 150, "currency": "USD"},
        "effective_from": body["created_at"],
        "created_by": admin.id,
        "created_at": body["created_at"],
    }


async def test_effective_from_is_answered_in_utc(
    client: httpx.AsyncClient, container: Container
) -> None:
    headers = await _headers(container, "admin")

    response = await client.put(
        "/v1/admin/commission",
        json={"type": "percent", "percent_bps": 1, "effective_from": "2099-01-02T05:04:05+02:00"},
        headers=headers,
    )
    listed = await client.get("/v1/admin/commission", headers=headers)

    assert response.json()["effective_from"] == "2099-01-02T03:04:05Z"
    assert listed.json()["data"] == [response.json()]


async def test_a_vendor_override_for_an_unknown_vendor_is_404(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    headers = await _headers(container, "admin")
    before = await _count(session, CommissionRule)

    response = await client.put(
        "/v1/admin/vendors/ven_missing/commission",
        json={"type": "percent", "percent_bps": 500},
        headers=headers,
    )

    assert response.status_code == 404
    assert response.json()["code"] == "vendor_not_found"
    assert await _count(session, CommissionRule) == before


WRITES = [
    "/v1/admin/commission",
    "/v1/admin/vendors/{vid}/commission",
    "/v1/admin/categories/cat_shoes/commission",
]
READS = [
    "/v1/admin/commission",
    "/v1/admin/commission?scope=vendor&scope_id={vid}",
    "/v1/admin/commission/resolve?vendor_id={vid}&category_id=cat_shoes",
]


@pytest.mark.parametrize(
    ("role", "write_status", "read_status"),
    [("support", 403, 200), (None, 403, 403), ("anonymous", 401, 401)],
)
async def test_who_may_set_and_read_commission(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    role: str | None,
    write_status: int,
    read_status: int,
) -> None:
    vendor = await create_vendor(container)
    headers = {} if role == "anonymous" else await _headers(container, role)
    before = await _count(session, CommissionRule)

    writes = [
        await client.put(
            path.format(vid=vendor.id), json={"type": "percent", "percent_bps": 1}, headers=headers
        )
        for path in WRITES
    ]
    reads = [await client.get(path.format(vid=vendor.id), headers=headers) for path in READS]

    assert [r.status_code for r in writes] == [write_status] * 3
    assert [r.status_code for r in reads] == [read_status] * 3
    assert await _count(session, CommissionRule) == before


async def test_a_vendor_owner_cannot_set_its_own_commission(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    vendor = await create_vendor(container)
    before = await _count(session, CommissionRule)

    response = await client.put(
        f"/v1/admin/vendors/{vendor.id}/commission",
        json={"type": "percent", "percent_bps": 0},
        headers=auth_headers(container, vendor.owner),
    )

    assert response.status_code == 403
    assert await _count(session, CommissionRule) == before


@pytest.mark.parametrize(
    ("body", "loc", "code"),
    [
        ({"type": "percent"}, ["body", "percent_bps"], "missing"),
        ({"type": "percent", "percent_bps": 10_001}, ["body", "percent_bps"], "less_than_equal"),
        ({"type": "percent", "percent_bps": -5}, ["body", "percent_bps"], "greater_than_equal"),
        ({"type": "percent", "percent_bps": "500"}, ["body", "percent_bps"], "int_type"),
        ({"type": "percent", "percent_bps": 10.5}, ["body", "percent_bps"], "int_type"),
        (
            {"type": "percent", "percent_bps": 500, "flat": {"amount": 30, "currency": "USD"}},
            ["body", "flat"],
            "not_allowed",
        ),
        ({"type": "flat"}, ["body", "flat"], "missing"),
        (
            {"type": "flat", "flat": {"amount": -1, "currency": "USD"}},
            ["body", "flat", "amount"],
            "out_of_range",
        ),
        (
            {"type": "flat", "flat": {"amount": 30, "currency": "usd"}},
            ["body", "flat", "currency"],
            "string_pattern_mismatch",
        ),
        (
            {"type": "flat", "flat": {"amount": 30, "currency": "XTS"}},
            ["body", "flat", "currency"],
            "value_error",
        ),
        (
            {"type": "flat", "flat": {"amount": 30, "currency": "USD"}, "percent_bps": 100},
            ["body", "percent_bps"],
            "not_allowed",
        ),
        ({"type": "percent_plus_flat", "percent_bps": 100}, ["body", "flat"], "missing"),
        ({"type": "tiered", "percent_bps": 100}, ["body", "type"], "literal_error"),
        ({"percent_bps": 100}, ["body", "type"], "missing"),
        (
            {"type": "percent", "percent_bps": 100, "effective_from": "2099-01-01T00:00:00"},
            ["body", "effective_from"],
            "timezone_aware",
        ),
        (
            {"type": "percent", "percent_bps": 100, "effective_from": "2020-01-01T00:00:00Z"},
            ["body", "effective_from"],
            "effective_from_in_past",
        ),
        ({"type": "percent", "percent_bps": 100, "tier": 2}, ["body", "tier"], "extra_forbidden"),
    ],
)
async def test_invalid_rules_are_422_naming_the_field_and_store_nothing(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    body: dict[str, Any],
    loc: list[str],
    code: str,
) -> None:
    headers = await _headers(container, "admin")
    rules_before = await _count(session, CommissionRule)
    audit_before = await _count(session, AuditLogEntry)

    response = await client.put("/v1/admin/commission", json=body, headers=headers)

    assert response.status_code == 422
    problem = response.json()
    assert [(e["loc"], e["code"]) for e in problem["errors"]] == [(loc, code)]
    assert await _count(session, CommissionRule) == rules_before
    assert await _count(session, AuditLogEntry) == audit_before


@pytest.mark.parametrize(
    "path",
    [
        "/v1/admin/categories/" + "c" * 41 + "/commission",
        "/v1/admin/vendors/" + "v" * 41 + "/commission",
    ],
)
async def test_overlong_ids_are_refused(
    client: httpx.AsyncClient, container: Container, session: AsyncSession, path: str
) -> None:
    headers = await _headers(container, "admin")
    before = await _count(session, CommissionRule)

    response = await client.put(path, json={"type": "percent", "percent_bps": 1}, headers=headers)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][0] == "path"
    assert await _count(session, CommissionRule) == before


async def test_list_newest_first_and_filtered(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await _headers(container, "admin")
    support = await _headers(container, "support")
    vendor = await create_vendor(container)
    default = (
        await client.put(
            "/v1/admin/commission", json={"type": "percent", "percent_bps": 1000}, headers=admin
        )
    ).json()
    scheduled = (
        await client.put(
            f"/v1/admin/vendors/{vendor.id}/commission",
            json={"type": "percent", "percent_bps": 500, "effective_from": LATER},
            headers=admin,
        )
    ).json()
    category = (
        await client.put(
            "/v1/admin/categories/cat_shoes/commission",
            json={"type": "percent", "percent_bps": 1200},
            headers=admin,
        )
    ).json()

    everything = await client.get("/v1/admin/commission", headers=support)
    paged = await client.get("/v1/admin/commission?limit=2", headers=support)
    next_page = await client.get(
        f"/v1/admin/commission?limit=2&cursor={paged.json()['next_cursor']}", headers=support
    )
    vendor_only = await client.get(
        f"/v1/admin/commission?scope=vendor&scope_id={vendor.id}", headers=support
    )
    orphan_scope_id = await client.get("/v1/admin/commission?scope_id=cat_shoes", headers=support)
    bad_scope = await client.get("/v1/admin/commission?scope=planet", headers=support)

    assert everything.status_code == 200
    assert everything.json() == {"data": [scheduled, category, default], "next_cursor": None}
    assert [r["id"] for r in paged.json()["data"]] == [scheduled["id"], category["id"]]
    assert next_page.json() == {"data": [default], "next_cursor": None}
    assert vendor_only.json() == {"data": [scheduled], "next_cursor": None}
    assert orphan_scope_id.status_code == 422
    assert orphan_scope_id.json()["errors"][0]["loc"] == ["query", "scope_id"]
    assert bad_scope.status_code == 422
    assert bad_scope.json()["errors"][0]["loc"] == ["query", "scope"]


async def test_resolve_shows_the_rule_that_applies(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await _headers(container, "admin")
    support = await _headers(container, "support")
    vendor = await create_vendor(container)
    nothing = await client.get(
        f"/v1/admin/commission/resolve?vendor_id={vendor.id}&at=2030-01-01T00:00:00Z",
        headers=support,
    )
    default = (
        await client.put(
            "/v1/admin/commission", json={"type": "percent", "percent_bps": 1000}, headers=admin
        )
    ).json()
    category = (
        await client.put(
            "/v1/admin/categories/cat_shoes/commission",
            json={"type": "flat", "flat": {"amount": 99, "currency": "EUR"}},
            headers=admin,
        )
    ).json()
    override = (
        await client.put(
            f"/v1/admin/vendors/{vendor.id}/commission",
            json={"type": "percent", "percent_bps": 500, "effective_from": LATER},
            headers=admin,
        )
    ).json()

    async def resolve(query: str) -> Any:
        response = await client.get(f"/v1/admin/commission/resolve?{query}", headers=support)
        assert response.status_code == 200
        return response.json()

    in_shoes = await resolve(f"vendor_id={vendor.id}&category_id=cat_shoes&at=2030-01-01T00:00Z")
    elsewhere = await resolve(f"vendor_id={vendor.id}&at=2030-01-01T00:00:00Z")
    after_override = await resolve(
        f"vendor_id={vendor.id}&category_id=cat_shoes&at=2099-06-01T00:00:00%2B02:00"
    )
    naive = await client.get(
        f"/v1/admin/commission/resolve?vendor_id={vendor.id}&at=2030-01-01T00:00:00",
        headers=support,
    )

    assert nothing.json() == {
        "vendor_id": vendor.id,
        "category_id": None,
        "at": "2030-01-01T00:00:00Z",
        "applied": None,
    }
    assert in_shoes == {
        "vendor_id": vendor.id,
        "category_id": "cat_shoes",
        "at": "2030-01-01T00:00:00Z",
        "applied": {
            "rule_id": category["id"],
            "scope": "category",
            "scope_id": "cat_shoes",
            "type": "flat",
            "percent_bps": None,
            "flat": {"amount": 99, "currency": "EUR"},
            "effective_from": category["effective_from"],
        },
    }
    assert elsewhere["applied"]["rule_id"] == default["id"]
    assert after_override["at"] == "2099-06-01T00:00:00+02:00"
    assert after_override["applied"] == {
        "rule_id": override["id"],
        "scope": "vendor",
        "scope_id": vendor.id,
        "type": "percent",
        "percent_bps": 500,
        "flat": None,
        "effective_from": LATER,
    }
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["loc"] == ["query", "at"]
