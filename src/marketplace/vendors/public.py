"""What other contexts use of vendors: can a vendor sell, its shipping options, where its
payouts go, its KYC state, and which commission applies to a sale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from marketplace.platform.crypto import FieldCipher
from marketplace.platform.db import AnyRow
from marketplace.platform.money import Money
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors.domain.store import can_sell
from marketplace.vendors.models import ShippingOption, Vendor
from marketplace.vendors.repository import store as repo
from marketplace.vendors.service import commission
from marketplace.vendors.service.commission import AppliedCommission
from marketplace.vendors.service.store import payout_details

__all__ = [
    "AppliedCommission",
    "PayoutDestination",
    "ShippingOptionInfo",
    "VendorInfo",
    "payout_destination",
    "resolve_commission",
    "resolve_commissions",
    "sellers_of",
    "shipping_options",
    "vendor_info",
    "vendor_infos",
]


async def resolve_commission(
    uow: UnitOfWork, *, vendor_id: str, category_path: Sequence[str], at: datetime
) -> AppliedCommission | None:
    """The commission rule for a sale of `vendor_id` in the leaf-first `category_path` at
    `at`: the vendor's override, else the deepest category's, else the platform default."""
    return await commission.resolve_commission(
        uow.session, vendor_id=vendor_id, category_path=category_path, at=at
    )


async def resolve_commissions(
    uow: UnitOfWork, *, sales: Sequence[tuple[str, Sequence[str]]], at: datetime
) -> list[AppliedCommission | None]:
    """`resolve_commission` for each (vendor id, leaf-first category path), in order, with
    one query for all of them (a checkout's lines)."""
    return await commission.resolve_commissions(uow.session, sales=sales, at=at)


@dataclass(frozen=True, slots=True)
class VendorInfo:
    id: str
    slug: str
    name: str
    status: str
    country: str
    default_currency: str
    kyc_status: str
    vacation_mode: bool
    return_window_days: int
    handling_days: int
    can_sell: bool


async def vendor_info(uow: UnitOfWork, vendor_id: str) -> VendorInfo | None:
    vendor = await repo.vendor(uow.session, vendor_id)
    if vendor is None:
        return None
    return _info(vendor)


async def vendor_infos(uow: UnitOfWork, vendor_ids: Sequence[str]) -> dict[str, VendorInfo]:
    """`vendor_info` of several vendors in one query; unknown ids are left out."""
    return {v.id: _info(v) for v in await repo.seller_facts(uow.session, vendor_ids)}


def _info(vendor: Vendor | AnyRow) -> VendorInfo:
    return VendorInfo(
        id=vendor.id,
        slug=vendor.slug,
        name=vendor.name,
        status=vendor.status,
        country=vendor.country,
        default_currency=vendor.default_currency,
        kyc_status=vendor.kyc_status,
        vacation_mode=vendor.vacation_mode,
        return_window_days=vendor.return_window_days,
        handling_days=vendor.handling_days,
        can_sell=can_sell(vendor.status, vendor.vacation_mode),
    )


@dataclass(frozen=True, slots=True)
class ShippingOptionInfo:
    id: str
    name: str
    price: Money
    delivery_days_min: int
    delivery_days_max: int
    countries: tuple[str, ...]

    def ships_to(self, country: str) -> bool:
        return not self.countries or country in self.countries


async def shipping_options(uow: UnitOfWork, vendor_id: str) -> list[ShippingOptionInfo]:
    return [_option(o) for o in await repo.active_shipping_options(uow.session, vendor_id)]


def _option(o: ShippingOption | AnyRow) -> ShippingOptionInfo:
    return ShippingOptionInfo(
        id=o.id,
        name=o.name,
        price=Money(o.price_amount, o.price_currency),
        delivery_days_min=o.delivery_days_min,
        delivery_days_max=o.delivery_days_max,
        countries=tuple(o.countries),
    )


async def sellers_of(
    uow: UnitOfWork, vendor_ids: Sequence[str]
) -> tuple[dict[str, VendorInfo], dict[str, list[ShippingOptionInfo]]]:
    """`vendor_infos` and each vendor's `shipping_options` together, from one query (a
    checkout's sellers): unknown ids are left out of the first, every id is a key of the
    second."""
    infos: dict[str, VendorInfo] = {}
    options: dict[str, list[ShippingOptionInfo]] = {vendor_id: [] for vendor_id in vendor_ids}
    for row in await repo.sellers_with_options(uow.session, vendor_ids):
        if row.id not in infos:
            infos[row.id] = _info(row)
        if row.option_id is not None:
            options[row.id].append(
                ShippingOptionInfo(
                    id=row.option_id,
                    name=row.option_name,
                    price=Money(row.price_amount, row.price_currency),
                    delivery_days_min=row.delivery_days_min,
                    delivery_days_max=row.delivery_days_max,
                    countries=tuple(row.countries),
                )
            )
    return infos, options


@dataclass(frozen=True, slots=True)
class PayoutDestination:
    """Decrypted payout details, for the payments context's transfer only: never log it."""

    vendor_id: str
    type: str
    holder_name: str
    country: str
    details: dict[str, str]
    masked: str

    def __repr__(self) -> str:
        return f"PayoutDestination(vendor_id={self.vendor_id!r}, masked={self.masked!r})"


async def payout_destination(
    uow: UnitOfWork, cipher: FieldCipher, vendor_id: str
) -> PayoutDestination | None:
    account = await repo.payout_account(uow.session, vendor_id)
    if account is None:
        return None
    return PayoutDestination(
        vendor_id=vendor_id,
        type=account.type,
        holder_name=account.holder_name,
        country=account.country,
        details=payout_details(cipher, account),
        masked=account.masked,
    )
