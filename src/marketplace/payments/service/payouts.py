"""Payout use cases: create a payout from a vendor's available balance (on request, or for a
run), read payouts and the vendors in the red. Executing a payout at the provider and
recording its outcome is `payout_execution`.

Creating takes the (vendor, currency) balance lock first, then reads the available balance
and reserves the amount in the ledger (Dr available, Cr in transit) in the same transaction:
two payouts racing for one balance are decided one after the other and never take more than
is available. The provider idempotency key is persisted with the payout, before any call
(the job `payments.execute_payout` makes it). Nothing here commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from marketplace.compliance.public import record_audit
from marketplace.payments.domain import payout as rules
from marketplace.payments.domain.ledger import vendor_available
from marketplace.payments.domain.payment import KEY_MAX_LENGTH, provider_key
from marketplace.payments.errors import (
    PayoutAccountRequired,
    PayoutExceedsAvailable,
    PayoutKycRequired,
    PayoutNotFound,
    PayoutNothingAvailable,
    PayoutsUnavailable,
    PayoutVendorNotApproved,
)
from marketplace.payments.models import Payout
from marketplace.payments.providers import Gateways
from marketplace.payments.repository import payout as repo
from marketplace.payments.service import ledger
from marketplace.payments.service.payout_execution import EXECUTE_PAYOUT_JOB
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import NotFound, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import Money
from marketplace.platform.pagination import PageParams
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PayoutView:
    id: str
    vendor_id: str
    amount: int
    currency: str
    status: str
    method: str
    run_id: str | None
    destination: str
    provider: str
    provider_transfer_id: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    sent_at: datetime | None
    paid_at: datetime | None
    failed_at: datetime | None


def payout_view(payout: Payout) -> PayoutView:
    return PayoutView(
        id=payout.id,
        vendor_id=payout.vendor_id,
        amount=payout.amount,
        currency=payout.currency,
        status=payout.status,
        method=payout.method,
        run_id=payout.run_id,
        destination=payout.destination_masked,
        provider=payout.provider,
        provider_transfer_id=payout.provider_transfer_id,
        failure_code=payout.failure_code,
        failure_message=payout.failure_message,
        created_at=payout.created_at,
        sent_at=payout.sent_at,
        paid_at=payout.paid_at,
        failed_at=payout.failed_at,
    )


# --- eligibility ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payee:
    vendor_id: str
    default_currency: str
    destination_masked: str


async def payee(uow: UnitOfWork, gateways: Gateways, vendor_id: str) -> Payee | str:
    """The vendor, if it may be paid; otherwise why not (`vendor_not_found`,
    `vendor_not_approved`, `kyc_not_verified`, `no_payout_account`)."""
    info = await vendors.vendor_info(uow, vendor_id)
    if info is None:
        return "vendor_not_found"
    if info.status != "approved":
        # A suspended store's money stays put while the platform looks into it: refunds and
        # disputes may still need it.
        return "vendor_not_approved"
    if info.kyc_status != "verified":
        return "kyc_not_verified"
    destination = (
        await vendors.payout_destination(uow, gateways.cipher, vendor_id)
        if gateways.cipher is not None
        else None
    )
    if destination is None:
        return "no_payout_account"
    return Payee(vendor_id, info.default_currency, destination.masked)


async def available_balance(uow: UnitOfWork, vendor_id: str, currency: str) -> int:
    """The vendor's available balance as the vendor sees it (credit-normal: negated sum)."""
    return -await repo.account_sum(uow.session, vendor_available(vendor_id), currency)


# --- creating -------------------------------------------------------------------------------


async def create_payout(
    uow: UnitOfWork,
    gateways: Gateways,
    *,
    payee: Payee,
    currency: str,
    requested: int | None,
    idempotency_key: str,
    method: str,
    requested_by: str,
    run_id: str | None = None,
    minimum: int = 0,
    now: datetime | None = None,
) -> tuple[Payout | None, int, rules.PayoutRefusal | None]:
    """(payout, available before it, refusal): the payout made (or found again by its
    idempotency key), or the reason none was. Under the balance lock."""
    provider = gateways.payout_provider
    if provider is None:
        raise PayoutsUnavailable("no payment provider is enabled")
    now = now or utcnow()
    await repo.lock_balance(uow.session, payee.vendor_id, currency, now)
    # Looked up under the lock: a concurrent request with the same key committed before we
    # got it, and is found here instead of being made twice.
    existing = await repo.payout_by_key(uow.session, payee.vendor_id, idempotency_key)
    available = await available_balance(uow, payee.vendor_id, currency)
    if existing is not None:
        return existing, available, None
    decided = rules.payout_amount(available, requested=requested, minimum=minimum)
    if isinstance(decided, str):
        return None, available, decided
    payout = Payout(
        id=new_id("po"),
        vendor_id=payee.vendor_id,
        amount=decided,
        currency=currency,
        status="pending",
        method=method,
        provider=provider,
        run_id=run_id,
        idempotency_key=idempotency_key,
        provider_idempotency_key=provider_key("payout", payee.vendor_id, idempotency_key),
        provider_transfer_id=None,
        provider_settlement_id=None,
        destination_masked=payee.destination_masked,
        failure_code=None,
        failure_message=None,
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
        sent_at=None,
        paid_at=None,
        failed_at=None,
    )
    uow.session.add(payout)
    await uow.session.flush()
    await ledger.post(
        uow,
        key=f"payout:{payout.id}",
        type_="payout",
        currency=currency,
        postings=rules.reserve_postings(payee.vendor_id, currency, decided),
        description=f"payout {payout.id} reserved",
        now=now,
    )
    uow.enqueue(EXECUTE_PAYOUT_JOB, {"payout_id": payout.id})
    return payout, available, None


async def request_payout(
    uow: UnitOfWork,
    gateways: Gateways,
    *,
    vendor_id: str,
    amount: Money | None,
    idempotency_key: str,
    actor_id: str,
    actor_role: str,
) -> PayoutView:
    """A vendor's payout on request: `amount`, or without it the whole available balance of
    the vendor's currency. 409 `payout_kyc_required` / `payout_account_required` /
    `payout_nothing_available`; 422 `payout_exceeds_available` naming `body.amount.amount`.
    Idempotent per (vendor, `idempotency_key`)."""
    if not idempotency_key or len(idempotency_key) > KEY_MAX_LENGTH:
        raise ValidationFailed.on_field(["header", "Idempotency-Key"], "required, at most 255")
    found = await repo.payout_by_key(uow.session, vendor_id, idempotency_key)
    if found is not None:
        if amount is not None and (found.amount, found.currency) != (
            amount.amount,
            amount.currency,
        ):
            raise ValidationFailed(
                "this Idempotency-Key was used for another payout", code="idempotency_key_reused"
            )
        return payout_view(found)
    if amount is not None and amount.amount <= 0:
        raise ValidationFailed.on_field(["body", "amount", "amount"], "must be positive")
    who = await payee(uow, gateways, vendor_id)
    if who == "vendor_not_found":
        raise NotFound("vendor not found", code="vendor_not_found")
    if who == "vendor_not_approved":
        raise PayoutVendorNotApproved("payouts are held while the store is not approved")
    if who == "kyc_not_verified":
        raise PayoutKycRequired("the vendor's KYC must be verified before any payout")
    if who == "no_payout_account":
        raise PayoutAccountRequired("set a payout account first (PUT .../payout-account)")
    assert isinstance(who, Payee)
    currency = amount.currency if amount is not None else who.default_currency
    payout, available, refusal = await create_payout(
        uow,
        gateways,
        payee=who,
        currency=currency,
        requested=amount.amount if amount is not None else None,
        idempotency_key=idempotency_key,
        method="manual",
        requested_by=actor_id,
    )
    if refusal == "exceeds_available":
        raise PayoutExceedsAvailable.on_field(
            ["body", "amount", "amount"],
            f"at most {max(available, 0)} {currency} is available",
            "payout_exceeds_available",
        )
    if payout is None:
        raise PayoutNothingAvailable(f"the available {currency} balance is {available}")
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="payout.requested",
        resource_type="payout",
        resource_id=payout.id,
        after={"vendor_id": vendor_id, "amount": payout.amount, "currency": currency},
    )
    return payout_view(payout)


# --- reading --------------------------------------------------------------------------------


async def get_payout(uow: UnitOfWork, vendor_id: str, payout_id: str) -> PayoutView:
    payout = await repo.payout(uow.session, payout_id)
    if payout is None or payout.vendor_id != vendor_id:
        raise PayoutNotFound(f"no payout {payout_id}")
    return payout_view(payout)


async def list_payouts(
    uow: UnitOfWork, vendor_id: str, page: PageParams
) -> tuple[list[PayoutView], str | None]:
    items, cursor = await repo.vendor_payouts(uow.session, vendor_id, page)
    return [payout_view(p) for p in items], cursor


@dataclass(frozen=True, slots=True)
class NegativeBalance:
    vendor_id: str
    currency: str
    amount: int  # the vendor's available balance, < 0


async def negative_balances(
    uow: UnitOfWork, page: PageParams
) -> tuple[list[NegativeBalance], str | None]:
    """Vendors in the red: available balances below zero (refunds after a payout), which
    net off against their next earnings before anything is paid out."""
    prefix = vendor_available("")
    rows, cursor = await repo.negative_balances(uow.session, prefix, page)
    return [
        NegativeBalance(str(account).removeprefix(prefix), str(currency), -int(total))
        for account, currency, total in rows
    ], cursor


__all__ = [
    "EXECUTE_PAYOUT_JOB",
    "Payee",
    "PayoutView",
    "available_balance",
    "create_payout",
    "get_payout",
    "list_payouts",
    "negative_balances",
    "payee",
    "payout_view",
    "request_payout",
]
