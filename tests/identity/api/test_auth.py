"""Registration, login (JSON and OAuth2 form), refresh rotation with reuse detection, logout,
lockout, rate limits and the caller's profile."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import DEFAULT_PASSWORD, auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.identity.models import RefreshToken, User
from marketplace.identity.passwords import HashParameters, Passwords
from marketplace.platform.ratelimit import RateLimit


async def _users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def login(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> httpx.Response:
    return await client.post("/v1/auth/token", json={"email": email, "password": password})


async def test_register_creates_a_customer(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/register",
        json={"email": " Ada@Example.COM ", "password": DEFAULT_PASSWORD, "name": "Ada"},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("usr_")
    assert {k: v for k, v in body.items() if k not in {"id", "created_at"}} == {
        "email": "ada@example.com",
        "name": "Ada",
        "phone": None,
        "locale": None,
        "platform_role": None,
    }
    assert "password" not in response.text


@pytest.mark.parametrize(
    ("payload", "loc", "code"),
    [
        (
            {"email": "not-an-email", "password": DEFAULT_PASSWORD, "name": "A"},
            "email",
            "invalid_email",
        ),
        ({"email": "a@example.com", "password": "short", "name": "A"}, "password", "weak_password"),
        (
            {"email": "a@example.com", "password": DEFAULT_PASSWORD, "name": ""},
            "name",
            "string_too_short",
        ),
        (
            {"email": "a@example.com", "password": DEFAULT_PASSWORD, "name": "A", "role": "admin"},
            "role",
            "extra_forbidden",
        ),
    ],
)
async def test_invalid_registration_names_the_field_and_creates_nothing(
    client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, str], loc: str, code: str
) -> None:
    response = await client.post("/v1/auth/register", json=payload)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", loc]
    assert response.json()["errors"][0]["code"] == code
    assert await _users(session) == 0


async def test_duplicate_email_in_any_case_is_refused(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    await create_user(container, email="ada@example.com")

    response = await client.post(
        "/v1/auth/register",
        json={"email": "ADA@example.com", "password": DEFAULT_PASSWORD, "name": "Other"},
    )

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert await _users(session) == 1


async def test_login_with_json_and_with_the_oauth2_form(
    client: httpx.AsyncClient, container: Container
) -> None:
    user = await create_user(container, email="ada@example.com")

    json_login = await login(client, "Ada@example.com")
    form_login = await client.post(
        "/v1/auth/token",
        data={
            "username": "ada@example.com",
            "password": DEFAULT_PASSWORD,
            "grant_type": "password",
        },
    )

    for response in (json_login, form_login):
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 900
        me = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200
        assert me.json()["id"] == user.id


async def test_wrong_password_and_unknown_email_answer_the_same(
    client: httpx.AsyncClient, container: Container
) -> None:
    await create_user(container, email="ada@example.com")

    wrong = await login(client, "ada@example.com", "wrong password here")
    unknown = await login(client, "nobody@example.com")

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"


async def test_repeated_failures_lock_the_account_with_backoff(
    client: httpx.AsyncClient, container: Container
) -> None:
    await create_user(container, email="ada@example.com")

    failures = [await login(client, "ada@example.com", "wrong password here") for _ in range(5)]
    locked = await login(client, "ada@example.com")  # even the right password waits

    assert [r.status_code for r in failures] == [401] * 5
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    other = await create_user(container, email="bob@example.com")
    assert (await login(client, other.email)).status_code == 200


async def test_auth_endpoints_are_rate_limited_per_client(
    client: httpx.AsyncClient, container: Container
) -> None:
    container.identity.config = replace(container.identity.config, auth_rate_limit=RateLimit(3, 60))
    await create_user(container, email="ada@example.com")

    statuses = [(await login(client, "ada@example.com")).status_code for _ in range(4)]
    limited = await login(client, "ada@example.com")

    assert statuses == [200, 200, 200, 429]
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    await create_user(container, email="ada@example.com")
    first = (await login(client, "ada@example.com")).json()

    rotated = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]

    replayed = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    after_reuse = await client.post(
        "/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )

    assert replayed.status_code == 401
    assert replayed.json()["code"] == "refresh_token_reused"
    assert after_reuse.status_code == 401
    assert after_reuse.json()["code"] == "invalid_token"
    tokens = (await session.scalars(select(RefreshToken))).all()
    assert len(tokens) == 2
    assert all(t.revoked_at is not None for t in tokens)


async def test_garbage_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/auth/refresh", json={"refresh_token": "nope"})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_logout_ends_the_access_token_and_the_refresh_family(
    client: httpx.AsyncClient, container: Container
) -> None:
    await create_user(container, email="ada@example.com")
    tokens = (await login(client, "ada@example.com")).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    out = await client.post(
        "/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=headers
    )
    me = await client.get("/v1/me", headers=headers)
    refreshed = await client.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )

    assert out.status_code == 204
    assert me.status_code == 401
    assert me.headers["www-authenticate"].startswith("Bearer")
    assert refreshed.status_code == 401


async def test_login_rehashes_a_password_when_parameters_change(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    user = await create_user(container, email="ada@example.com")
    assert "m=1024,t=1" in user.password_hash
    stronger = HashParameters(memory_kib=2048, time_cost=2)
    container.identity.passwords = Passwords(stronger)

    response = await login(client, "ada@example.com")

    assert response.status_code == 200
    stored = await session.get(User, user.id)
    assert stored is not None
    assert "m=2048,t=2,p=1" in stored.password_hash
    assert (await login(client, "ada@example.com")).status_code == 200


async def test_me_update_and_password_change_end_other_sessions(
    client: httpx.AsyncClient, container: Container
) -> None:
    user = await create_user(container, email="ada@example.com")
    tokens = (await login(client, "ada@example.com")).json()
    headers = auth_headers(container, user)

    renamed = await client.patch(
        "/v1/me",
        json={"name": "Ada L.", "phone": "+44 20 7946 0000", "locale": "en-GB"},
        headers=headers,
    )
    wrong = await client.patch(
        "/v1/me",
        json={"password": "a brand new passphrase", "current_password": "not it at all"},
        headers=headers,
    )
    import asyncio

    await asyncio.sleep(1.1)  # tokens carry whole seconds: a new one must be newer
    changed = await client.patch(
        "/v1/me",
        json={"password": "a brand new passphrase", "current_password": DEFAULT_PASSWORD},
        headers=headers,
    )
    old_token_me = await client.get("/v1/me", headers=headers)
    old_refresh = await client.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    new_login = await login(client, "ada@example.com", "a brand new passphrase")

    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Ada L."
    assert renamed.json()["phone"] == "+44 20 7946 0000"
    assert renamed.json()["vendors"] == []
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["loc"] == ["body", "current_password"]
    assert changed.status_code == 200
    assert old_token_me.status_code == 401
    assert old_refresh.status_code == 401
    assert new_login.status_code == 200


async def test_api_keys_cannot_use_personal_endpoints(
    client: httpx.AsyncClient, container: Container
) -> None:
    from factories.identity import create_api_key

    key = await create_api_key(container, vendor_id="ven_1", permissions=["orders.read"])

    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 403
    assert response.json()["code"] == "user_required"


@pytest.mark.parametrize(
    "scheme", ["Bearer not.a.token", "Bearer mk_unknownkeyunknownkey", "Basic abc"]
)
async def test_bad_credentials_answer_401(client: httpx.AsyncClient, scheme: str) -> None:
    response = await client.get("/v1/me", headers={"Authorization": scheme})

    assert response.status_code == 401


async def test_password_changes_are_audited_without_the_password(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    from marketplace.compliance.models import AuditLogEntry

    user = await create_user(container)
    response = await client.patch(
        "/v1/me",
        json={"password": "a brand new passphrase", "current_password": DEFAULT_PASSWORD},
        headers=auth_headers(container, user),
    )

    rows = (await session.scalars(select(AuditLogEntry))).all()
    assert response.status_code == 200
    assert [(r.action, r.actor_id, r.resource_id) for r in rows] == [
        ("user.password_changed", user.id, user.id)
    ]
    assert "a brand new passphrase" not in str(rows[0].changes)
    assert DEFAULT_PASSWORD not in str(rows[0].changes)
