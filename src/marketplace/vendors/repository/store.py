"""Queries of the store aggregate: vendors, shipping options, invitations, payout accounts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Select, Table, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform import direct
from marketplace.platform.db import AnyRow
from marketplace.vendors.models import PayoutAccount, ShippingOption, StaffInvitation, Vendor


async def vendor(session: AsyncSession, vendor_id: str) -> Vendor | None:
    return await session.get(Vendor, vendor_id)


_vendor = cast(Table, Vendor.__table__)
_option = cast(Table, ShippingOption.__table__)
# What every checkout and the vendor list ask, by Core SELECTs built once (their IN lists
# expand at execution): rows read by column name instead of whole entities.
_SELLER_FACTS = select(
    _vendor.c.id,
    _vendor.c.slug,
    _vendor.c.name,
    _vendor.c.status,
    _vendor.c.country,
    _vendor.c.default_currency,
    _vendor.c.kyc_status,
    _vendor.c.vacation_mode,
    _vendor.c.return_window_days,
    _vendor.c.handling_days,
).where(_vendor.c.id.in_(bindparam("the_ids", expanding=True)))
_ACTIVE_OPTIONS_OF = (
    select(_option)
    .where(
        _option.c.vendor_id.in_(bindparam("the_ids", expanding=True)),
        _option.c.archived_at.is_(None),
    )
    .order_by(_option.c.vendor_id, _option.c.position)
)

# A checkout's sellers with their active options at once: a row per option with its vendor's
# facts, and one row with the option columns NULL for a vendor without any.
_SELLERS_WITH_OPTIONS = (
    select(
        *_SELLER_FACTS.selected_columns,
        _option.c.id.label("option_id"),
        _option.c.name.label("option_name"),
        _option.c.price_amount,
        _option.c.price_currency,
        _option.c.delivery_days_min,
        _option.c.delivery_days_max,
        _option.c.countries,
    )
    .select_from(
        _vendor.outerjoin(
            _option, and_(_option.c.vendor_id == _vendor.c.id, _option.c.archived_at.is_(None))
        )
    )
    .where(_vendor.c.id.in_(bindparam("the_ids", expanding=True)))
    .order_by(_vendor.c.id, _option.c.position)
)


async def seller_facts(session: AsyncSession, vendor_ids: Sequence[str]) -> Sequence[AnyRow]:
    """Of each known vendor among `vendor_ids`: id, slug, name, status, country,
    default_currency, kyc_status, vacation_mode, return_window_days and handling_days."""
    if not vendor_ids:
        return []
    return (await direct.execute(session, _SELLER_FACTS, {"the_ids": list(vendor_ids)})).all()


async def sellers_with_options(
    session: AsyncSession, vendor_ids: Sequence[str]
) -> Sequence[AnyRow]:
    """`seller_facts` with each vendor's active shipping options (option_id, option_name,
    price_amount, price_currency, delivery_days_min, delivery_days_max, countries), one row
    per option, by vendor and position; a vendor without options has one row, its option
    columns NULL."""
    if not vendor_ids:
        return []
    return (
        await direct.execute(session, _SELLERS_WITH_OPTIONS, {"the_ids": list(vendor_ids)})
    ).all()


async def shipping_options_of(session: AsyncSession, vendor_ids: Sequence[str]) -> Sequence[AnyRow]:
    """Active options of several vendors in one query (list pages, no N+1), as rows with
    every column, ordered by vendor and position."""
    if not vendor_ids:
        return []
    return (await direct.execute(session, _ACTIVE_OPTIONS_OF, {"the_ids": list(vendor_ids)})).all()


async def vendor_for_update(session: AsyncSession, vendor_id: str) -> Vendor | None:
    """Locks the row (PostgreSQL) so two admins deciding at once cannot both win."""
    return await session.scalar(select(Vendor).where(Vendor.id == vendor_id).with_for_update())


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    return await session.scalar(select(Vendor.id).where(Vendor.slug == slug)) is not None


def vendors_with_status(status: str | None) -> Select[Vendor]:
    stmt = select(Vendor)
    return stmt.where(Vendor.status == status) if status else stmt


async def active_shipping_options(
    session: AsyncSession, vendor_id: str
) -> Sequence[ShippingOption]:
    return (
        await session.scalars(
            select(ShippingOption)
            .where(ShippingOption.vendor_id == vendor_id, ShippingOption.archived_at.is_(None))
            .order_by(ShippingOption.position)
        )
    ).all()


async def payout_account(session: AsyncSession, vendor_id: str) -> PayoutAccount | None:
    return await session.scalar(select(PayoutAccount).where(PayoutAccount.vendor_id == vendor_id))


async def pending_invitations(session: AsyncSession, vendor_id: str) -> Sequence[StaffInvitation]:
    return (
        await session.scalars(
            select(StaffInvitation)
            .where(StaffInvitation.vendor_id == vendor_id, StaffInvitation.status == "pending")
            .order_by(StaffInvitation.created_at)
        )
    ).all()


async def pending_invitation(
    session: AsyncSession, vendor_id: str, email: str
) -> StaffInvitation | None:
    return await session.scalar(
        select(StaffInvitation).where(
            StaffInvitation.vendor_id == vendor_id,
            StaffInvitation.email == email,
            StaffInvitation.status == "pending",
        )
    )


async def invitations_for_email(session: AsyncSession, email: str) -> Sequence[StaffInvitation]:
    return (
        await session.scalars(
            select(StaffInvitation).where(
                StaffInvitation.email == email, StaffInvitation.status == "pending"
            )
        )
    ).all()
