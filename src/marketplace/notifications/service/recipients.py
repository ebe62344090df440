"""Who a message goes to, and the shared pieces of message contexts: customers through
identity's `user_summary`, a vendor's owners and managers through `vendor_members`, store
names through vendors' `vendor_info`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from marketplace.identity import public as identity
from marketplace.notifications.service.compose import Recipient
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

Payload = Mapping[str, Any]

# Vendor roles that hear about their store (staff see orders in the dashboard).
VENDOR_RECIPIENT_ROLES: Final = frozenset({"owner", "manager"})


async def customer(uow: UnitOfWork, user_id: str) -> list[Recipient]:
    user = await identity.user_summary(uow, user_id)
    if user is None:
        return []  # erased or unknown: nobody to tell
    return [Recipient(user.id, user.email, user.name, user.locale, user_id=user.id)]


async def vendor_team(uow: UnitOfWork, vendor_id: str) -> list[Recipient]:
    return [
        Recipient(user.id, user.email, user.name, user.locale, user_id=user.id)
        for user, role in await identity.vendor_members(uow, vendor_id)
        if role in VENDOR_RECIPIENT_ROLES
    ]


async def vendor_name(uow: UnitOfWork, vendor_id: str) -> str:
    info = await vendors.vendor_info(uow, vendor_id)
    return info.name if info is not None else vendor_id


async def vendor_names(uow: UnitOfWork, vendor_ids: Sequence[str]) -> dict[str, str]:
    """`vendor_name` of each id, in one query (an order's parts)."""
    infos = await vendors.vendor_infos(uow, list(dict.fromkeys(vendor_ids)))
    return {
        vendor_id: info.name if (info := infos.get(vendor_id)) is not None else vendor_id
        for vendor_id in vendor_ids
    }


def money(amount: Any, currency: Any) -> dict[str, Any]:
    return {"amount": int(amount), "currency": str(currency)}
