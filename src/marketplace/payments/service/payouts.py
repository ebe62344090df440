"""Payout use cases: create a payout from a vendor's available balance (on request, or for a
run), execute it at the provider (a job, with no transaction open during the call), and
record its outcome, which the job and the provider's webhook share so that they converge.

Creating takes the (vendor, currency) balance lock first, then reads the available balance
and reserves the amount in the ledger (Dr available, Cr in transit) in the same transaction:
two payouts racing for one balance are decided one after the other and never take more than
is available. The provider idempotency key is persisted with the payout, before any call;
a timeout leaves the payout `pending` and the job (or the retry sweep) sends the same key.
Outcomes are decided by conditional UPDATEs on the status; only the winner posts to the
ledger and publishes. Nothing here commits, except `execute_payout`'s end of the read
transaction before it calls the provider.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

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
)
from marketplace.payments.events import PayoutFailed, PayoutSent
from marketplace.payments.models import Payout
from marketplace.payments.providers import Gateways, ProviderEvent, TransferRequest
from marketplace.payments.repository import payout as repo
from marketplace.payments.service import ledger
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import NotFound, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import Money
from marketplace.platform.pagination import PageParams
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

logger = logging.getLogger(__name__)

EXECUTE_PAYOUT_JOB: Final = "payments.execute_payout"
# A payout still `pending` this long after its last attempt is sent again (same key): its
# job may have died with the worker, or run out of attempts while the provider was down.
RETRY_AFTER: Final = timedelta(minutes=10)
RETRY_BATCH: Final = 200


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
    `kyc_not_verified`, `no_payout_account`)."""
    info = await vendors.vendor_info(uow, vendor_id)
    if info is None:
        return "vendor_not_found"
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


# --- executing ------------------------------------------------------------------------------


async def execute_payout(uow: UnitOfWork, gateways: Gateways, *, payout_id: str) -> None:
    """The job: send the transfer with the payout's key, then record what the provider
    said (committed by the job runner). ProviderUnavailable propagates: the job retries."""
    payout = await repo.payout(uow.session, payout_id)
    if payout is None or payout.status != "pending":
        return
    provider = gateways.get(payout.provider)
    if provider is None:
        # Disabled since: nothing was sent; the retry sweep tries again once it is back.
        logger.error("payout provider not enabled", extra={"payout_id": payout_id})
        return
    destination = (
        await vendors.payout_destination(uow, gateways.cipher, payout.vendor_id)
        if gateways.cipher is not None
        else None
    )
    if destination is None:
        await record_payout_failure(
            uow,
            payout_id,
            code="no_payout_account",
            message="The vendor's payout account was removed.",
            provider_transfer_id=None,
        )
        return
    request = TransferRequest(
        idempotency_key=payout.provider_idempotency_key,
        vendor_id=payout.vendor_id,
        amount=payout.amount,
        currency=payout.currency,
        destination={
            **destination.details,
            "type": destination.type,
            "holder_name": destination.holder_name,
            "country": destination.country,
        },
        metadata={"payout_id": payout.id, "vendor_id": payout.vendor_id},
    )
    # No transaction open during the provider call (see payments.confirm_payment).
    await uow.commit()
    result = await provider.transfer(request)
    if result.status == "failed":
        await record_payout_failure(
            uow,
            payout_id,
            code=result.failure_code,
            message=result.failure_message,
            provider_transfer_id=result.provider_transfer_id,
        )
    elif result.status == "paid":
        await record_payout_paid(uow, payout_id, provider_transfer_id=result.provider_transfer_id)
    else:
        await record_payout_sent(uow, payout_id, provider_transfer_id=result.provider_transfer_id)


async def retry_stale_payouts(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """Send again (same key) the payouts still pending after `RETRY_AFTER`."""
    now = now or utcnow()
    ids = await repo.stale_pending(uow.session, now - RETRY_AFTER, RETRY_BATCH)
    for payout_id in ids:
        await repo.touch(uow.session, payout_id, now)
        uow.enqueue(EXECUTE_PAYOUT_JOB, {"payout_id": payout_id})
    return len(ids)


# --- recording outcomes ---------------------------------------------------------------------


def _sent(payout: Payout) -> PayoutSent:
    return PayoutSent(
        payout_id=payout.id,
        vendor_id=payout.vendor_id,
        amount=payout.amount,
        currency=payout.currency,
    )


async def _reload(uow: UnitOfWork, payout_id: str) -> Payout:
    payout = await repo.payout(uow.session, payout_id)
    assert payout is not None
    return payout


async def record_payout_sent(
    uow: UnitOfWork, payout_id: str, *, provider_transfer_id: str | None
) -> bool:
    """pending → in_transit, PayoutSent published once."""
    now = utcnow()
    if not await repo.transition(
        uow.session,
        payout_id,
        from_statuses=("pending",),
        to="in_transit",
        now=now,
        sent_at=now,
        provider_transfer_id=provider_transfer_id,
    ):
        return False
    uow.publish(_sent(await _reload(uow, payout_id)))
    return True


async def record_payout_paid(
    uow: UnitOfWork, payout_id: str, *, provider_transfer_id: str | None
) -> bool:
    """pending | in_transit → paid: the money left clearing (posted once)."""
    now = utcnow()
    extra = {"provider_transfer_id": provider_transfer_id} if provider_transfer_id else {}
    from_pending = await repo.transition(
        uow.session,
        payout_id,
        from_statuses=("pending",),
        to="paid",
        now=now,
        sent_at=now,
        paid_at=now,
        **extra,
    )
    if not from_pending and not await repo.transition(
        uow.session,
        payout_id,
        from_statuses=("in_transit",),
        to="paid",
        now=now,
        paid_at=now,
        **extra,
    ):
        return False
    payout = await _reload(uow, payout_id)
    if from_pending:
        # The webhook came before the job recorded the provider's answer: sent and paid.
        uow.publish(_sent(payout))
    await ledger.post(
        uow,
        key=f"payout_paid:{payout.id}",
        type_="payout",
        currency=payout.currency,
        postings=rules.paid_postings(
            payout.provider, payout.vendor_id, payout.currency, payout.amount
        ),
        description=f"payout {payout.id} paid",
        now=now,
    )
    return True


async def record_payout_failure(
    uow: UnitOfWork,
    payout_id: str,
    *,
    code: str | None,
    message: str | None,
    provider_transfer_id: str | None,
) -> bool:
    """pending | in_transit | paid → failed: the amount is available to the vendor again
    (a paid payout that came back first returns to clearing). Posted and published once."""
    now = utcnow()
    values = {"failure_code": code, "failure_message": message, "failed_at": now}
    if provider_transfer_id:
        values["provider_transfer_id"] = provider_transfer_id
    if await repo.transition(
        uow.session, payout_id, from_statuses=rules.OPEN_STATUSES, to="failed", now=now, **values
    ):
        returned = False
    elif await repo.transition(
        uow.session, payout_id, from_statuses=("paid",), to="failed", now=now, **values
    ):
        returned = True
    else:
        return False
    payout = await _reload(uow, payout_id)
    if returned:
        await ledger.post(
            uow,
            key=f"payout_returned:{payout.id}",
            type_="payout",
            currency=payout.currency,
            postings=rules.returned_postings(
                payout.provider, payout.vendor_id, payout.currency, payout.amount
            ),
            description=f"payout {payout.id} returned by the bank",
            now=now,
        )
    await ledger.post(
        uow,
        key=f"payout_failed:{payout.id}",
        type_="payout",
        currency=payout.currency,
        postings=rules.failed_postings(payout.vendor_id, payout.currency, payout.amount),
        description=f"payout {payout.id} failed: back to available",
        now=now,
    )
    uow.publish(
        PayoutFailed(
            payout_id=payout.id,
            vendor_id=payout.vendor_id,
            amount=payout.amount,
            currency=payout.currency,
            failure_code=code,
            failure_message=message,
        )
    )
    return True


async def apply_payout_event(uow: UnitOfWork, provider: str, event: ProviderEvent) -> bool:
    """A provider's `payout_paid` / `payout_failed` event (webhook processing)."""
    payout = await repo.payout(uow.session, event.payout_id) if event.payout_id else None
    if payout is None and event.provider_transfer_id:
        payout = await repo.payout_by_transfer(uow.session, provider, event.provider_transfer_id)
    if payout is None or payout.provider != provider:
        logger.warning(
            "payout event for no known payout",
            extra={"provider": provider, "event": event.provider_event_id},
        )
        return False
    if event.kind == "payout_paid":
        await record_payout_paid(uow, payout.id, provider_transfer_id=event.provider_transfer_id)
    else:
        await record_payout_failure(
            uow,
            payout.id,
            code=event.failure_code,
            message=event.failure_message,
            provider_transfer_id=event.provider_transfer_id,
        )
    return True


__all__ = [
    "EXECUTE_PAYOUT_JOB",
    "Payee",
    "PayoutView",
    "apply_payout_event",
    "available_balance",
    "create_payout",
    "execute_payout",
    "get_payout",
    "list_payouts",
    "negative_balances",
    "payee",
    "payout_view",
    "record_payout_failure",
    "record_payout_paid",
    "record_payout_sent",
    "request_payout",
    "retry_stale_payouts",
]
