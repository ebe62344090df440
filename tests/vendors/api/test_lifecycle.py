"""A vendor's life: apply → review → configure → staff → permissions → suspend, and the
invalid inputs that must change nothing."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import DEFAULT_PASSWORD, auth_headers, create_user
from factories.vendors import application, create_vendor
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.vendors import public
from marketplace.vendors.models import PayoutAccount, ShippingOption, Vendor

IBAN = "DE89370400440532013000"
SETTINGS: dict[str, Any] = {
    "policies": {"returns": "30 days", "shipping": "2 days", "terms": "Be nice"},
    "shipping_options": [
        {
            "name": "DHL",
            "price": {"amount": 490, "currency": "EUR"},
            "delivery_days_min": 2,
            "delivery_days_max": 4,
            "countries": ["DE", "AT"],
        }
    ],
    "return_window_days": 14,
    "handling_days": 1,
    "vacation_mode": False,
}


async def _count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_full_lifecycle(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    owner = await create_user(container)
    admin = await create_user(container, platform_role="admin")
    owner_h, admin_h = auth_headers(container, owner), auth_headers(container, admin)

    # Apply: the applicant becomes the owner; the store is invisible to the public.
    applied = await client.post("/v1/vendors", json=application(slug="nordic"), headers=owner_h)
    assert applied.status_code == 201
    vendor = applied.json()
    vid = vendor["id"]
    assert (vendor["status"], vendor["business"]["tax_id"]) == ("pending", "****6789")
    me = (await client.get("/v1/me", headers=owner_h)).json()
    assert me["vendors"] == [{"vendor_id": vid, "role": "owner"}]
    assert (await client.get(f"/v1/vendors/{vid}")).status_code == 404
    queue = (await client.get("/v1/admin/vendors?status=pending", headers=admin_h)).json()
    assert [v["id"] for v in queue["data"]] == [vid]

    # Review.
    approved = await client.post(f"/v1/admin/vendors/{vid}/approve", headers=admin_h)
    again = await client.post(
        f"/v1/admin/vendors/{vid}/reject", json={"reason": "x"}, headers=admin_h
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_vendor_transition"
    assert again.json()["current_status"] == "approved"
    public_page = await client.get(f"/v1/vendors/{vid}")
    assert public_page.status_code == 200
    assert "business" not in public_page.json()
    assert "kyc_status" not in public_page.json()

    # Configure.
    configured = await client.put(f"/v1/vendors/{vid}/settings", json=SETTINGS, headers=owner_h)
    assert configured.status_code == 200
    options = configured.json()["shipping_options"]
    assert [(o["name"], o["price"], o["countries"]) for o in options] == [
        ("DHL", {"amount": 490, "currency": "EUR"}, ["AT", "DE"])
    ]
    renamed = await client.patch(
        f"/v1/vendors/{vid}", json={"name": "Nordic Knits", "description": "Wool"}, headers=owner_h
    )
    assert renamed.json()["name"] == "Nordic Knits"

    # Staff: an existing account joins at once, a new email is invited until it registers.
    staff = await create_user(container, email="staff@example.com")
    joined = await client.post(
        f"/v1/vendors/{vid}/members",
        json={"email": "staff@example.com", "role": "staff"},
        headers=owner_h,
    )
    invited = await client.post(
        f"/v1/vendors/{vid}/members",
        json={"email": "Later@Example.com", "role": "manager"},
        headers=owner_h,
    )
    assert (joined.json()["status"], invited.json()["status"]) == ("active", "invited")
    registered = await client.post(
        "/v1/auth/register",
        json={"email": "later@example.com", "password": DEFAULT_PASSWORD, "name": "Later"},
    )
    await container.jobs.drain()
    members = (await client.get(f"/v1/vendors/{vid}/members", headers=owner_h)).json()
    assert sorted((m["email"], m["role"], m["status"]) for m in members) == sorted(
        [
            ("later@example.com", "manager", "active"),
            (owner.email, "owner", "active"),
            ("staff@example.com", "staff", "active"),
        ]
    )
    assert registered.status_code == 201

    # Staff permissions are enforced.
    staff_h = auth_headers(container, staff)
    assert (
        await client.patch(f"/v1/vendors/{vid}", json={"name": "x"}, headers=staff_h)
    ).status_code == 403
    assert (
        await client.get(f"/v1/vendors/{vid}/payout-account", headers=staff_h)
    ).status_code == 403
    assert (await client.get(f"/v1/vendors/{vid}/members", headers=staff_h)).status_code == 403
    assert (await client.get(f"/v1/vendors/{vid}", headers=staff_h)).json()[
        "kyc_status"
    ] == "not_started"

    # Suspension: hidden from the public, no new sales, the team still sees its store.
    async with container.uow_factory() as uow:
        info = await public.vendor_info(uow, vid)
    assert info is not None
    assert info.can_sell
    suspended = await client.post(
        f"/v1/admin/vendors/{vid}/suspend", json={"reason": "chargebacks"}, headers=admin_h
    )
    assert suspended.json()["status_reason"] == "chargebacks"
    assert (await client.get(f"/v1/vendors/{vid}")).status_code == 404
    assert (await client.get(f"/v1/vendors/{vid}", headers=owner_h)).status_code == 200
    async with container.uow_factory() as uow:
        info = await public.vendor_info(uow, vid)
    assert info is not None
    assert not info.can_sell
    reinstated = await client.post(f"/v1/admin/vendors/{vid}/reinstate", headers=admin_h)
    assert reinstated.json()["status"] == "approved"

    # Every decision and change is in the audit log.
    actions = (
        await session.scalars(select(AuditLogEntry.action).order_by(AuditLogEntry.seq))
    ).all()
    for expected in (
        "vendor.applied",
        "vendor.approved",
        "vendor.settings_updated",
        "vendor.profile_updated",
        "vendor_member.granted",
        "vendor_member.invited",
        "vendor.suspended",
        "vendor.reinstated",
    ):
        assert expected in actions


async def test_vacation_mode_stops_sales_but_keeps_the_page(
    client: httpx.AsyncClient, container: Container
) -> None:
    made = await create_vendor(container)
    response = await client.put(
        f"/v1/vendors/{made.id}/settings",
        json={**SETTINGS, "vacation_mode": True, "vacation_message": "Back in May"},
        headers=auth_headers(container, made.owner),
    )

    assert response.status_code == 200
    async with container.uow_factory() as uow:
        info = await public.vendor_info(uow, made.id)
    assert info is not None
    assert not info.can_sell
    page = (await client.get(f"/v1/vendors/{made.id}")).json()
    assert (page["vacation_mode"], page["vacation_message"]) == (True, "Back in May")


async def test_removed_shipping_option_is_archived_not_deleted(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    made = await create_vendor(container)
    headers = auth_headers(container, made.owner)
    first = (
        await client.put(f"/v1/vendors/{made.id}/settings", json=SETTINGS, headers=headers)
    ).json()
    kept_id = first["shipping_options"][0]["id"]

    second = await client.put(
        f"/v1/vendors/{made.id}/settings",
        json={**SETTINGS, "shipping_options": []},
        headers=headers,
    )

    assert second.json()["shipping_options"] == []
    row = await session.get(ShippingOption, kept_id)
    assert row is not None
    assert row.archived_at is not None


async def test_a_checkouts_sellers_come_with_their_active_options_in_order(
    client: httpx.AsyncClient, container: Container
) -> None:
    shop = await create_vendor(container)
    bare = await create_vendor(container)
    headers = auth_headers(container, shop.owner)
    express = {
        "name": "Express",
        "price": {"amount": 990, "currency": "EUR"},
        "delivery_days_min": 1,
        "delivery_days_max": 1,
    }
    gone = {**express, "name": "Courier"}
    options = [*SETTINGS["shipping_options"], express, gone]
    first = await client.put(
        f"/v1/vendors/{shop.id}/settings",
        json={**SETTINGS, "shipping_options": options},
        headers=headers,
    )
    kept = [o for o in first.json()["shipping_options"] if o["name"] != "Courier"]
    # The courier is removed, so archived: a checkout must not offer it.
    await client.put(
        f"/v1/vendors/{shop.id}/settings",
        json={**SETTINGS, "shipping_options": kept},
        headers=headers,
    )

    async with container.uow_factory() as uow:
        infos, options_of = await public.sellers_of(uow, [shop.id, bare.id, "vnd_missing"])
        one_by_one = {v: await public.vendor_info(uow, v) for v in (shop.id, bare.id)}
        listed = await public.shipping_options(uow, shop.id)

    assert infos == one_by_one
    assert [o.name for o in options_of[shop.id]] == ["DHL", "Express"]
    assert options_of[shop.id] == listed
    assert options_of[shop.id][0].countries == ("AT", "DE")  # stored sorted
    assert options_of[bare.id] == []
    assert options_of["vnd_missing"] == []


@pytest.mark.parametrize(
    ("override", "loc", "code"),
    [
        (
            {
                "business": {
                    "legal_name": "X",
                    "country": "XX",
                    "address": {"line1": "a", "city": "b", "country": "DE"},
                }
            },
            ["body", "business", "country"],
            "invalid_country",
        ),
        (
            {
                "business": {
                    "legal_name": "X",
                    "country": "de",
                    "address": {"line1": "a", "city": "b", "country": "DE"},
                }
            },
            ["body", "business", "country"],
            "invalid_country",
        ),
        ({"currency": "EUX"}, ["body", "currency"], "invalid_currency"),
        ({"slug": "Bad Slug"}, ["body", "slug"], "invalid_slug"),
        ({"slug": "admin"}, ["body", "slug"], "invalid_slug"),
        ({"contact_email": "nope"}, ["body", "contact_email"], "invalid_email"),
    ],
)
async def test_invalid_applications_name_the_field_and_change_nothing(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    override: dict[str, Any],
    loc: list[str],
    code: str,
) -> None:
    user = await create_user(container)

    response = await client.post(
        "/v1/vendors", json=application(**override), headers=auth_headers(container, user)
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == loc
    assert response.json()["errors"][0]["code"] == code
    assert await _count(session, Vendor) == 0


async def test_duplicate_slug_is_refused(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    made = await create_vendor(container)
    user = await create_user(container)

    response = await client.post(
        "/v1/vendors", json=application(slug=made.slug), headers=auth_headers(container, user)
    )

    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "loc": ["body", "slug"],
        "msg": "this slug is taken",
        "code": "slug_taken",
    }
    assert await _count(session, Vendor) == 1


async def test_unknown_permission_in_a_custom_role_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    made = await create_vendor(container)

    response = await client.post(
        f"/v1/vendors/{made.id}/roles",
        json={"name": "packer", "permissions": ["orders.read", "orders.teleport"]},
        headers=auth_headers(container, made.owner),
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "permissions"]


def _payout(**overrides: Any) -> dict[str, Any]:
    body = {
        "type": "bank",
        "holder_name": "Store GmbH",
        "country": "DE",
        "iban": IBAN,
        "current_password": DEFAULT_PASSWORD,
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("override", "loc"),
    [
        ({"iban": "DE89370400440532013001"}, ["body", "iban"]),
        ({"iban": "DE8937040044053201300"}, ["body", "iban"]),
        ({"current_password": "not my password"}, ["body", "current_password"]),
        ({"country": "ZZ"}, ["body", "country"]),
        (
            {
                "country": "US",
                "iban": None,
                "account_number": "000123456789",
                "routing_number": "011000016",
            },
            ["body", "routing_number"],
        ),
    ],
)
async def test_invalid_payout_accounts_change_nothing(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    override: dict[str, Any],
    loc: list[str],
) -> None:
    made = await create_vendor(container)

    response = await client.put(
        f"/v1/vendors/{made.id}/payout-account",
        json=_payout(**override),
        headers=auth_headers(container, made.owner),
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == loc
    assert await _count(session, PayoutAccount) == 0


async def test_payout_account_is_never_shown_or_logged_unmasked(
    client: httpx.AsyncClient,
    container: Container,
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    made = await create_vendor(container)
    owner_h = auth_headers(container, made.owner)
    admin = await create_user(container, platform_role="admin")
    admin_h = auth_headers(container, admin)

    put = await client.put(f"/v1/vendors/{made.id}/payout-account", json=_payout(), headers=owner_h)
    responses = [
        put,
        await client.get(f"/v1/vendors/{made.id}/payout-account", headers=owner_h),
        await client.get(f"/v1/vendors/{made.id}", headers=admin_h),
        await client.get("/v1/admin/vendors", headers=admin_h),
        await client.get("/v1/admin/audit-logs", headers=admin_h),
    ]

    assert put.status_code == 200
    assert put.json()["account"] == "****3000"
    stored = await session.scalar(select(PayoutAccount.details_encrypted))
    assert stored is not None
    assert IBAN not in stored
    captured = capsys.readouterr()
    for text in [r.text for r in responses] + [caplog.text, captured.out, captured.err]:
        assert IBAN not in text
        assert "370400440532013000" not in text
    async with container.uow_factory() as uow:
        destination = await public.payout_destination(uow, container.cipher, made.id)
    assert destination is not None
    assert destination.details == {"iban": IBAN}
    assert IBAN not in repr(destination)


async def test_staff_and_api_key_cannot_change_payout_account(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    from factories.identity import add_member, create_api_key

    made = await create_vendor(container)
    manager = await create_user(container)
    await add_member(container, vendor_id=made.id, user=manager, role="manager")
    key = await create_api_key(container, vendor_id=made.id, permissions=["payouts.manage"])

    by_manager = await client.put(
        f"/v1/vendors/{made.id}/payout-account",
        json=_payout(),
        headers=auth_headers(container, manager),
    )
    by_key = await client.put(
        f"/v1/vendors/{made.id}/payout-account",
        json=_payout(),
        headers={"Authorization": f"Bearer {key}"},
    )

    assert by_manager.status_code == 403
    assert by_key.status_code == 403
    assert await _count(session, PayoutAccount) == 0


async def test_owner_cannot_remove_the_last_owner(
    client: httpx.AsyncClient, container: Container
) -> None:
    made = await create_vendor(container)

    response = await client.delete(
        f"/v1/vendors/{made.id}/members/{made.owner.id}",
        headers=auth_headers(container, made.owner),
    )

    assert response.status_code == 409
    assert response.json()["code"] == "last_owner"


async def test_kyc_status_is_set_by_admins(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    made = await create_vendor(container)
    admin = await create_user(container, platform_role="admin")

    response = await client.put(
        f"/v1/admin/vendors/{made.id}/kyc",
        json={"status": "verified"},
        headers=auth_headers(container, admin),
    )
    invalid = await client.put(
        f"/v1/admin/vendors/{made.id}/kyc",
        json={"status": "maybe"},
        headers=auth_headers(container, admin),
    )

    assert response.json()["kyc_status"] == "verified"
    assert invalid.status_code == 422
    async with container.uow_factory() as uow:
        info = await public.vendor_info(uow, made.id)
    assert info is not None
    assert info.kyc_status == "verified"
