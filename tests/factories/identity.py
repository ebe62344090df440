"""Typed factories for identity: users, access tokens, memberships and API keys."""

from __future__ import annotations

import itertools

from marketplace.bootstrap import Container
from marketplace.identity import service
from marketplace.identity.domain import Principal, VendorAccess
from marketplace.identity.models import User

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


async def create_user(
    container: Container,
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    name: str | None = None,
    platform_role: str | None = None,
    locale: str | None = None,
) -> User:
    n = next(_counter)
    async with container.uow_factory() as uow:
        user = await service.register(
            uow,
            container.identity,
            email=email or f"user{n}@example.com",
            password=password,
            name=name or f"User {n}",
            locale=locale,
            platform_role=platform_role,
        )
        await uow.commit()
    return user


def access_token(container: Container, user: User) -> str:
    token, _ = container.identity.access_tokens.mint(
        user_id=user.id, platform_role=user.platform_role
    )
    return token


def auth_headers(container: Container, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(container, user)}"}


async def add_member(container: Container, *, vendor_id: str, user: User, role: str) -> None:
    async with container.uow_factory() as uow:
        await service.grant_membership(
            uow,
            vendor_id=vendor_id,
            user_id=user.id,
            role=role,
            actor_id="test",
            actor_role="test",
        )
        await uow.commit()


async def create_api_key(
    container: Container, *, vendor_id: str, permissions: list[str], name: str = "integration"
) -> str:
    """A key for `vendor_id`, created as if by its owner; returns the plaintext key."""
    owner = Principal(kind="user", id="usr_factory_owner")
    access = VendorAccess(owner, vendor_id, "owner", frozenset(permissions))
    async with container.uow_factory() as uow:
        _, plaintext = await service.create_api_key(
            uow, access=access, name=name, permissions=permissions
        )
        await uow.commit()
    return plaintext
