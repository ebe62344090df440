"""Vendor API keys and roles: shown once, hashed, scoped, revocable, audited; custom roles."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import add_member, auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.identity import service
from marketplace.identity.domain import Principal
from marketplace.identity.models import ApiKey

VENDOR = "ven_keys"


async def _owner_headers(container: Container) -> dict[str, str]:
    owner = await create_user(container)
    await add_member(container, vendor_id=VENDOR, user=owner, role="owner")
    return auth_headers(container, owner)


async def test_api_key_is_shown_once_stored_hashed_and_works_for_its_vendor(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    headers = await _owner_headers(container)

    created = await client.post(
        f"/v1/vendors/{VENDOR}/api-keys",
        json={"name": "ERP sync", "permissions": ["orders.read", "products.read"]},
        headers=headers,
    )
    listed = await client.get(f"/v1/vendors/{VENDOR}/api-keys", headers=headers)

    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("mk_")
    assert len(key) >= 40
    assert body["prefix"] == key[3:11]
    assert body["permissions"] == ["orders.read", "products.read"]
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()] == [body["id"]]
    assert "key" not in listed.json()[0]
    stored = await session.get(ApiKey, body["id"])
    assert stored is not None
    assert key not in stored.key_hash
    assert stored.last_used_at is None

    principal = None
    async with container.uow_factory() as uow:
        principal = await service.resolve_principal(uow, container.identity, key)
        await uow.commit()
    assert principal == Principal(
        kind="api_key",
        id=body["id"],
        vendor_id=VENDOR,
        permissions=frozenset({"orders.read", "products.read"}),
    )
    await session.refresh(stored)
    assert stored.last_used_at is not None


async def test_revoked_key_stops_working(client: httpx.AsyncClient, container: Container) -> None:
    headers = await _owner_headers(container)
    created = (
        await client.post(
            f"/v1/vendors/{VENDOR}/api-keys",
            json={"name": "old", "permissions": ["staff.manage"]},
            headers=headers,
        )
    ).json()
    key_headers = {"Authorization": f"Bearer {created['key']}"}
    before = await client.get(f"/v1/vendors/{VENDOR}/roles", headers=key_headers)

    revoked = await client.delete(f"/v1/vendors/{VENDOR}/api-keys/{created['id']}", headers=headers)
    after = await client.get(f"/v1/vendors/{VENDOR}/roles", headers=key_headers)

    assert before.status_code == 200
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert after.status_code == 401


async def test_a_key_never_grants_more_than_its_creator_holds(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    headers = await _owner_headers(container)
    unknown = await client.post(
        f"/v1/vendors/{VENDOR}/api-keys",
        json={"name": "x", "permissions": ["orders.read", "orders.delete"]},
        headers=headers,
    )
    key = (
        await client.post(
            f"/v1/vendors/{VENDOR}/api-keys",
            json={"name": "limited", "permissions": ["staff.manage"]},
            headers=headers,
        )
    ).json()["key"]
    count_before = await session.scalar(select(func.count()).select_from(ApiKey))
    by_key = await client.post(
        f"/v1/vendors/{VENDOR}/api-keys",
        json={"name": "escalate", "permissions": ["payouts.manage"]},
        headers={"Authorization": f"Bearer {key}"},
    )

    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "permissions"]
    assert unknown.json()["errors"][0]["code"] == "unknown_permission"
    assert by_key.status_code == 403  # keys cannot mint keys
    assert await session.scalar(select(func.count()).select_from(ApiKey)) == count_before


async def test_custom_role_grants_exactly_its_permissions(
    client: httpx.AsyncClient, container: Container
) -> None:
    headers = await _owner_headers(container)
    created = await client.post(
        f"/v1/vendors/{VENDOR}/roles",
        json={"name": "Team Lead", "permissions": ["staff.manage", "orders.read"]},
        headers=headers,
    )
    duplicate = await client.post(
        f"/v1/vendors/{VENDOR}/roles",
        json={"name": "team lead", "permissions": ["orders.read"]},
        headers=headers,
    )
    builtin_clash = await client.post(
        f"/v1/vendors/{VENDOR}/roles",
        json={"name": "owner", "permissions": ["orders.read"]},
        headers=headers,
    )
    lead = await create_user(container)
    await add_member(container, vendor_id=VENDOR, user=lead, role="team lead")
    lead_roles = await client.get(
        f"/v1/vendors/{VENDOR}/roles", headers=auth_headers(container, lead)
    )

    assert created.status_code == 201
    assert created.json() == {
        "name": "team lead",
        "permissions": ["orders.read", "staff.manage"],
        "builtin": False,
    }
    assert duplicate.status_code == builtin_clash.status_code == 409
    assert lead_roles.status_code == 200
    assert [r["name"] for r in lead_roles.json()] == ["owner", "manager", "staff", "team lead"]


async def test_key_and_role_changes_are_audited(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    headers = await _owner_headers(container)
    created = await client.post(
        f"/v1/vendors/{VENDOR}/api-keys",
        json={"name": "erp", "permissions": ["orders.read"]},
        headers=headers,
    )

    rows = (
        await session.scalars(
            select(AuditLogEntry).where(AuditLogEntry.action == "api_key.created")
        )
    ).all()
    assert len(rows) == 1
    assert rows[0].resource_id == created.json()["id"]
    assert rows[0].actor_role == "vendor:owner"
    assert created.json()["key"] not in str(rows[0].changes)


async def test_last_owner_cannot_be_removed(container: Container) -> None:
    from marketplace.identity.errors import LastOwner

    owner = await create_user(container)
    await add_member(container, vendor_id=VENDOR, user=owner, role="owner")

    async with container.uow_factory() as uow:
        with pytest.raises(LastOwner):
            await service.revoke_membership(
                uow, vendor_id=VENDOR, user_id=owner.id, actor_id=owner.id, actor_role="owner"
            )
