"""Every identity query; tenancy (a vendor's keys, roles and members) is filtered here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.identity.models import ApiKey, RefreshToken, User, VendorMember, VendorRole
from marketplace.platform import direct
from marketplace.platform.db import AnyRow


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def user_by_id(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


_user = cast(Table, User.__table__)
# Every authenticated request reads these three columns: a Core SELECT built once costs a
# fraction of loading the whole entity (building, cache key, ORM instance).
_STANDING = select(_user.c.status, _user.c.tokens_valid_after, _user.c.platform_role).where(
    _user.c.id == bindparam("the_user")
)


async def user_standing(session: AsyncSession, user_id: str) -> AnyRow | None:
    """What authenticating a request needs of a user: `status`, `tokens_valid_after` and
    `platform_role`; None if there is no such user."""
    return (await direct.execute(session, _STANDING, {"the_user": user_id})).first()


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def mark_refresh_token_used(session: AsyncSession, token_id: str, now: datetime) -> bool:
    """The conditional UPDATE is the rotation: of two concurrent refreshes one wins."""
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == token_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


async def revoke_family(session: AsyncSession, family_id: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user_refresh_tokens(session: AsyncSession, user_id: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def api_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


async def vendor_api_key(session: AsyncSession, vendor_id: str, key_id: str) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(ApiKey.vendor_id == vendor_id, ApiKey.id == key_id)
    )


async def vendor_api_keys(session: AsyncSession, vendor_id: str) -> Sequence[ApiKey]:
    return (
        await session.scalars(
            select(ApiKey)
            .where(ApiKey.vendor_id == vendor_id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        )
    ).all()


async def membership(session: AsyncSession, vendor_id: str, user_id: str) -> VendorMember | None:
    return await session.scalar(
        select(VendorMember).where(
            VendorMember.vendor_id == vendor_id, VendorMember.user_id == user_id
        )
    )


# Built once: every message to a vendor's team runs it, and building the joined SELECT
# (and its cache key) cost more CPU than running it. Core columns: plain rows, no entities.
_members = cast(Table, VendorMember.__table__)
_MEMBER_USERS = (
    select(_user.c.id, _user.c.email, _user.c.name, _user.c.locale, _members.c.role)
    .select_from(_members.join(_user, _user.c.id == _members.c.user_id))
    .where(_members.c.vendor_id == bindparam("the_vendor"))
    .order_by(_members.c.created_at, _members.c.id)
)


async def vendor_member_users(
    session: AsyncSession, vendor_id: str
) -> Sequence[tuple[str, str, str, str | None, str]]:
    """(user id, email, name, locale, role) of the vendor's members, oldest membership
    first, in one query (a member whose user row is gone is left out)."""
    rows = await session.execute(_MEMBER_USERS, {"the_vendor": vendor_id})
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows.all()]


async def owner_locales(
    session: AsyncSession, vendor_ids: Sequence[str]
) -> Sequence[tuple[str, str | None]]:
    """(vendor id, locale) of every owner of these vendors with a user, oldest first."""
    if not vendor_ids:
        return []
    rows = await session.execute(
        select(VendorMember.vendor_id, User.locale)
        .join(User, User.id == VendorMember.user_id)
        .where(VendorMember.vendor_id.in_(list(vendor_ids)), VendorMember.role == "owner")
        .order_by(VendorMember.created_at, VendorMember.id)
    )
    return [(vendor_id, locale) for vendor_id, locale in rows.all()]


async def user_memberships(session: AsyncSession, user_id: str) -> Sequence[VendorMember]:
    return (
        await session.scalars(
            select(VendorMember)
            .where(VendorMember.user_id == user_id)
            .order_by(VendorMember.created_at)
        )
    ).all()


async def count_owners(session: AsyncSession, vendor_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(VendorMember)
        .where(VendorMember.vendor_id == vendor_id, VendorMember.role == "owner")
    )
    return int(count or 0)


async def vendor_role(session: AsyncSession, vendor_id: str, name: str) -> VendorRole | None:
    return await session.scalar(
        select(VendorRole).where(VendorRole.vendor_id == vendor_id, VendorRole.name == name)
    )


async def vendor_roles(session: AsyncSession, vendor_id: str) -> Sequence[VendorRole]:
    return (
        await session.scalars(
            select(VendorRole).where(VendorRole.vendor_id == vendor_id).order_by(VendorRole.name)
        )
    ).all()
