"""Typed factories for payouts: a vendor that may be paid (KYC verified, payout account set),
money made available to it (paid, delivered, hold released), and readers of payouts."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import paid, share
from factories.vendors import MadeVendor, create_vendor
from marketplace.bootstrap import Container
from marketplace.identity.domain import PERMISSIONS, Principal, VendorAccess
from marketplace.payments import public as payments
from marketplace.payments.models import Payout
from marketplace.payments.service import ledger as ledger_service
from marketplace.platform.clock import utcnow
from marketplace.vendors.schemas.store import PayoutAccountIn
from marketplace.vendors.service import store

_counter = itertools.count(1)

GOOD_IBAN = "DE89370400440532013000"
FAILING_IBAN = "DE62370400440532013001"  # the sandbox fails its payouts: no_account


async def set_payout_account(
    container: Container,
    vendor: MadeVendor,
    *,
    iban: str | None = GOOD_IBAN,
    account_number: str | None = None,
) -> None:
    owner = vendor.owner
    access = VendorAccess(
        Principal(kind="user", id=owner.id), vendor.id, "owner", frozenset(PERMISSIONS)
    )
    body = PayoutAccountIn(
        type="bank",
        holder_name="Payout GmbH",
        country="US" if account_number else "DE",
        iban=None if account_number else iban,
        account_number=account_number,
        routing_number="110000000" if account_number else None,
        current_password="unused",
    )
    async with container.uow_factory() as uow:
        await store.set_payout_account(uow, container.cipher, access=access, body=body)
        await uow.commit()


async def set_kyc(container: Container, vendor_id: str, status: str) -> None:
    async with container.uow_factory() as uow:
        await store.set_kyc(uow, vendor_id=vendor_id, status=status, actor_id="t", actor_role="t")
        await uow.commit()


async def payable_vendor(
    container: Container,
    *,
    iban: str | None = GOOD_IBAN,
    account_number: str | None = None,
    kyc: str = "verified",
    account: bool = True,
    currency: str = "EUR",
) -> MadeVendor:
    vendor = await create_vendor(container, currency=currency)
    if kyc != "not_started":
        await set_kyc(container, vendor.id, kyc)
    if account:
        await set_payout_account(container, vendor, iban=iban, account_number=account_number)
    return vendor


async def earn(
    container: Container,
    vendor_id: str,
    amount: int,
    *,
    currency: str = "EUR",
    release: bool = True,
) -> str:
    """`amount` of earnings (no commission, no tax) for the vendor: captured, delivered and,
    with `release`, past its hold (available); otherwise still pending. The vendor order id."""
    vo = f"vo_earn_{next(_counter)}"
    await paid(container, [share(vendor_id, gross=amount, vendor_order_id=vo)], currency=currency)
    delivered = utcnow() - timedelta(days=30 if release else 0)
    async with container.uow_factory() as uow:
        await payments.vendor_order_delivered(uow, vendor_order_id=vo, delivered_at=delivered)
        await uow.commit()
    if release:
        async with container.uow_factory() as uow:
            await ledger_service.release_due_holds(uow)
            await uow.commit()
    return vo


async def payouts_of(session: AsyncSession, vendor_id: str) -> list[tuple[int, str, str]]:
    """(amount, currency, status) of the vendor's payouts, oldest first."""
    rows = await session.execute(
        select(Payout.amount, Payout.currency, Payout.status)
        .where(Payout.vendor_id == vendor_id)
        .order_by(Payout.id)
        .execution_options(populate_existing=True)
    )
    return [(int(a), str(c), str(s)) for a, c, s in rows.all()]
