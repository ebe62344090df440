"""Secrets at rest and in logs: encrypted phone numbers bound to their row, key rotation,
and no password, token or API key in anything logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import DEFAULT_PASSWORD, add_member, auth_headers, create_user
from marketplace.bootstrap import ENCRYPTED_COLUMNS, Container
from marketplace.identity import service
from marketplace.identity.models import User
from marketplace.platform.crypto import DecryptionError, FieldCipher, Keyring, reencrypt_column

PHONE = "+44 20 7946 0018"


async def _set_phone(container: Container, user: User, phone: str) -> None:
    async with container.uow_factory() as uow:
        await service.update_profile(uow, container.identity, user_id=user.id, phone=phone)
        await uow.commit()


async def test_phone_is_encrypted_at_rest_and_bound_to_its_row(
    container: Container, session: AsyncSession
) -> None:
    ada = await create_user(container)
    bob = await create_user(container)
    await _set_phone(container, ada, PHONE)

    stored = await session.scalar(select(User.phone_encrypted).where(User.id == ada.id))
    assert stored is not None
    assert PHONE not in stored
    assert "7946" not in stored
    assert stored.startswith("v1.")
    ada_row = await session.get(User, ada.id)
    assert ada_row is not None
    assert service.user_phone(container.identity, ada_row) == PHONE

    # Copying Ada's ciphertext into Bob's row does not give Bob Ada's phone.
    await session.execute(update(User).where(User.id == bob.id).values(phone_encrypted=stored))
    await session.commit()
    bob_row = await session.get(User, bob.id)
    assert bob_row is not None
    with pytest.raises(DecryptionError):
        service.user_phone(container.identity, bob_row)


async def test_wrong_key_cannot_read_and_rotation_keeps_values_readable(
    container: Container, session: AsyncSession
) -> None:
    old_ring = Keyring({"2025": b"o" * 32}, current="2025")
    container.identity.cipher = FieldCipher(old_ring)
    ada = await create_user(container)
    await _set_phone(container, ada, PHONE)
    stored = await session.scalar(select(User.phone_encrypted).where(User.id == ada.id))
    assert stored is not None
    context = service.phone_context(ada.id)

    stranger = FieldCipher(Keyring({"2025": b"x" * 32}, current="2025"))
    with pytest.raises(DecryptionError):
        stranger.decrypt(stored, context=context)

    rotated = FieldCipher(Keyring({"2025": b"o" * 32, "2026": b"n" * 32}, current="2026"))
    column = ENCRYPTED_COLUMNS[0]
    count = await reencrypt_column(
        container.db,
        table=column.table,
        id_column=column.id_column,
        column=column.column,
        context_prefix=column.context_prefix,
        cipher=rotated,
    )
    assert count == 1
    after = await session.scalar(select(User.phone_encrypted).where(User.id == ada.id))
    assert after is not None
    assert after.startswith("v1.2026.")
    only_new = FieldCipher(Keyring({"2026": b"n" * 32}, current="2026"))
    assert only_new.decrypt(after, context=context) == PHONE


@pytest.fixture
def sql_logging() -> Iterator[None]:
    """SQL statements with their parameters: the most likely place for a leak. Set before
    the test's connection opens, since a connection decides once whether it logs."""
    logger = logging.getLogger("sqlalchemy.engine")
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(previous)


async def test_no_password_token_or_key_appears_in_logs(
    sql_logging: None,
    client: httpx.AsyncClient,
    container: Container,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    registered = await client.post(
        "/v1/auth/register",
        json={"email": "leak@example.com", "password": DEFAULT_PASSWORD, "name": "L"},
    )
    tokens = (
        await client.post(
            "/v1/auth/token", json={"email": "leak@example.com", "password": DEFAULT_PASSWORD}
        )
    ).json()
    refreshed = (
        await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).json()
    owner = await create_user(container)
    await add_member(container, vendor_id="ven_logs", user=owner, role="owner")
    created = await client.post(
        "/v1/vendors/ven_logs/api-keys",
        json={"name": "erp", "permissions": ["orders.read"]},
        headers=auth_headers(container, owner),
    )
    await client.patch(
        "/v1/me",
        json={"phone": PHONE},
        headers={"Authorization": f"Bearer {refreshed['access_token']}"},
    )
    logging.getLogger("test").info(
        "explicit attempt",
        extra={"password": DEFAULT_PASSWORD, "token": tokens["access_token"]},
    )

    assert registered.status_code == 201
    assert created.status_code == 201
    secrets = [
        DEFAULT_PASSWORD,
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
        created.json()["key"],
        PHONE,
    ]
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "INSERT INTO identity_user" in logged  # SQL logging really was on
    for secret in secrets:
        assert secret not in logged
