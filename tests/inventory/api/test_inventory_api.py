"""The vendor's stock routes over HTTP: the list (by sku, low stock only, paginated) and
manual adjustments (audited), with the refusals that must change nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import add_member, auth_headers, create_api_key, create_user
from factories.inventory import adjustments, create_stock, stock_counts
from factories.vendors import MadeVendor, create_vendor
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.inventory import public as inventory
from marketplace.inventory.models import Stock


def _read(level: inventory.StockLevel, **changes: Any) -> dict[str, Any]:
    body = {
        "variant_id": level.variant_id,
        "product_id": level.product_id,
        "sku": level.sku,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
        "in_stock": level.in_stock,
        "low_stock": level.low_stock,
        "low_stock_threshold": level.low_stock_threshold,
    }
    body.update(changes)
    return body


def _without_time(body: dict[str, Any]) -> dict[str, Any]:
    assert datetime.fromisoformat(body["updated_at"]).tzinfo is not None
    return {k: v for k, v in body.items() if k != "updated_at"}


async def _audit_actions(session: AsyncSession) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = await session.execute(
        select(
            AuditLogEntry.action,
            AuditLogEntry.actor_id,
            AuditLogEntry.resource_id,
            AuditLogEntry.changes,
        )
        .where(AuditLogEntry.action.like("inventory.%"))
        .order_by(AuditLogEntry.seq)
    )
    return [(r.action, r.actor_id, r.resource_id, dict(r.changes)) for r in rows.all()]


@pytest.fixture
async def vendor(container: Container) -> MadeVendor:
    return await create_vendor(container)


async def test_list_is_ordered_by_sku_and_filters_low_stock(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor
) -> None:
    plenty = await create_stock(
        container, vendor_id=vendor.id, sku="B-200", quantity=50, threshold=5
    )
    low = await create_stock(container, vendor_id=vendor.id, sku="A-100", quantity=3, threshold=5)
    empty = await create_stock(container, vendor_id=vendor.id, sku="C-300", quantity=0)
    await create_stock(container, vendor_id="ven_someone_else", sku="A-000", quantity=1)
    deleted = await create_stock(container, vendor_id=vendor.id, sku="D-400", quantity=1)
    async with container.uow_factory() as uow:
        await inventory.reserve(uow, reference="chk_1", lines=[(plenty.variant_id, 46)])
        await inventory.retire_stock(uow, variant_ids=[deleted.variant_id])
        await uow.commit()
    headers = auth_headers(container, vendor.owner)

    everything = await client.get(f"/v1/vendors/{vendor.id}/inventory", headers=headers)
    only_low = await client.get(
        f"/v1/vendors/{vendor.id}/inventory?low_stock=true", headers=headers
    )

    assert everything.status_code == 200
    assert [_without_time(s) for s in everything.json()["data"]] == [
        _read(low, low_stock=True),
        _read(plenty, reserved=46, available=4, low_stock=True),
        _read(empty, low_stock=True),
    ]
    assert everything.json()["next_cursor"] is None
    # All three are at or below their threshold now (4 <= 5; 0 <= 0).
    assert [s["sku"] for s in only_low.json()["data"]] == ["A-100", "B-200", "C-300"]
    assert empty.in_stock is False


async def test_low_stock_filter_leaves_out_variants_above_their_threshold(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor
) -> None:
    await create_stock(container, vendor_id=vendor.id, sku="FULL", quantity=50, threshold=5)
    await create_stock(container, vendor_id=vendor.id, sku="LOW", quantity=2, threshold=5)

    response = await client.get(
        f"/v1/vendors/{vendor.id}/inventory",
        params={"low_stock": "true"},
        headers=auth_headers(container, vendor.owner),
    )

    assert [(s["sku"], s["available"]) for s in response.json()["data"]] == [("LOW", 2)]


async def test_list_pages_with_a_cursor(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor
) -> None:
    for sku in ("S-3", "S-1", "S-2"):
        await create_stock(container, vendor_id=vendor.id, sku=sku, quantity=1)
    headers = auth_headers(container, vendor.owner)
    seen: list[str] = []
    cursor: str | None = None

    for _ in range(3):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(f"/v1/vendors/{vendor.id}/inventory", params=params, headers=headers)
        ).json()
        seen += [s["sku"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == ["S-1", "S-2", "S-3"]
    assert cursor is None


async def test_an_api_key_with_products_read_lists_stock(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor
) -> None:
    await create_stock(container, vendor_id=vendor.id, sku="K-1", quantity=1)
    key = await create_api_key(container, vendor_id=vendor.id, permissions=["products.read"])

    response = await client.get(
        f"/v1/vendors/{vendor.id}/inventory", headers={"Authorization": f"Bearer {key}"}
    )

    assert [s["sku"] for s in response.json()["data"]] == ["K-1"]


async def test_staff_adjustment_answers_the_new_level_and_is_logged_and_audited(
    client: httpx.AsyncClient, container: Container, session: AsyncSession, vendor: MadeVendor
) -> None:
    staff = await create_user(container)
    await add_member(container, vendor_id=vendor.id, user=staff, role="staff")
    level = await create_stock(
        container, vendor_id=vendor.id, sku="MUG-1", quantity=10, threshold=2
    )

    response = await client.post(
        f"/v1/vendors/{vendor.id}/inventory/MUG-1/adjustments",
        json={"delta": -4, "reason": "  broken in transit "},
        headers=auth_headers(container, staff),
    )

    assert response.status_code == 201
    assert _without_time(response.json()) == _read(level, on_hand=6, available=6)
    stored = await session.get(Stock, level.variant_id, populate_existing=True)
    assert stored is not None
    assert datetime.fromisoformat(response.json()["updated_at"]) == stored.updated_at
    assert await adjustments(session, level.variant_id) == [
        (10, "initial", "usr_setup", None, 10),
        (-4, "broken in transit", staff.id, None, 6),
    ]
    assert await _audit_actions(session) == [
        (
            "inventory.adjusted",
            staff.id,
            level.variant_id,
            {
                "on_hand": {"before": 10, "after": 6},
                "reason": {"before": None, "after": "broken in transit"},
            },
        )
    ]


async def test_skus_with_a_slash_can_be_adjusted(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor
) -> None:
    await create_stock(container, vendor_id=vendor.id, sku="TEE/RED/M", quantity=1)

    response = await client.post(
        f"/v1/vendors/{vendor.id}/inventory/TEE%2FRED%2FM/adjustments",
        json={"delta": 2, "reason": "restock"},
        headers=auth_headers(container, vendor.owner),
    )

    assert response.status_code == 201
    assert (response.json()["sku"], response.json()["on_hand"]) == ("TEE/RED/M", 3)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"delta": 0, "reason": "nothing"}, ["body", "delta"]),
        ({"delta": 1_000_001, "reason": "too much"}, ["body", "delta"]),
        ({"delta": "5", "reason": "a string"}, ["body", "delta"]),
        ({"delta": 1, "reason": "   "}, ["body", "reason"]),
        ({"delta": 1, "reason": "x" * 201}, ["body", "reason"]),
        ({"delta": 1}, ["body", "reason"]),
        ({"delta": 1, "reason": "ok", "on_hand": 5}, ["body", "on_hand"]),
    ],
)
async def test_invalid_adjustments_are_422_and_change_nothing(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    vendor: MadeVendor,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    level = await create_stock(container, vendor_id=vendor.id, sku="BAD-1", quantity=10)

    response = await client.post(
        f"/v1/vendors/{vendor.id}/inventory/BAD-1/adjustments",
        json=body,
        headers=auth_headers(container, vendor.owner),
    )

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert [e["loc"] for e in response.json()["errors"]] == [loc]
    assert await stock_counts(session, level.variant_id) == (10, 0)
    assert len(await adjustments(session, level.variant_id)) == 1
    assert await _audit_actions(session) == []


async def test_unknown_and_other_vendors_skus_are_404_and_change_nothing(
    client: httpx.AsyncClient, container: Container, session: AsyncSession, vendor: MadeVendor
) -> None:
    other = await create_vendor(container)
    theirs = await create_stock(container, vendor_id=other.id, sku="THEIRS", quantity=10)
    headers = auth_headers(container, vendor.owner)
    body = {"delta": -1, "reason": "grab"}

    unknown = await client.post(
        f"/v1/vendors/{vendor.id}/inventory/NOPE/adjustments", json=body, headers=headers
    )
    foreign_sku = await client.post(
        f"/v1/vendors/{vendor.id}/inventory/THEIRS/adjustments", json=body, headers=headers
    )
    foreign_vendor = await client.post(
        f"/v1/vendors/{other.id}/inventory/THEIRS/adjustments", json=body, headers=headers
    )
    foreign_list = await client.get(f"/v1/vendors/{other.id}/inventory", headers=headers)

    assert [r.status_code for r in (unknown, foreign_sku, foreign_vendor, foreign_list)] == [
        404,
        404,
        404,
        404,
    ]
    assert (unknown.json()["code"], foreign_sku.json()["code"]) == ("sku_not_found",) * 2
    assert foreign_vendor.json()["code"] == "vendor_not_found"
    assert await stock_counts(session, theirs.variant_id) == (10, 0)
    assert len(await adjustments(session, theirs.variant_id)) == 1
    assert await _audit_actions(session) == []


async def test_removing_reserved_units_is_409_and_changes_nothing(
    client: httpx.AsyncClient, container: Container, session: AsyncSession, vendor: MadeVendor
) -> None:
    level = await create_stock(container, vendor_id=vendor.id, sku="HELD", quantity=5)
    async with container.uow_factory() as uow:
        await inventory.reserve(uow, reference="chk_1", lines=[(level.variant_id, 4)])
        await uow.commit()

    response = await client.post(
        f"/v1/vendors/{vendor.id}/inventory/HELD/adjustments",
        json={"delta": -2, "reason": "recount"},
        headers=auth_headers(container, vendor.owner),
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["on_hand"], problem["reserved"]) == (
        "insufficient_stock",
        5,
        4,
    )
    assert await stock_counts(session, level.variant_id) == (5, 4)
    assert len(await adjustments(session, level.variant_id)) == 1
    assert await _audit_actions(session) == []
