"""Executing payouts: the job sends the transfer with the payout's persisted provider
idempotency key, with no transaction open during the call, then records the answer; the
provider's webhook records outcomes through the same functions, so they converge in any
order. A timeout leaves the payout `pending`: the job retries, and the sweep sends stale
pending payouts again with the same key.

Outcomes are decided by conditional UPDATEs on the status; only the winner posts to the
ledger and publishes `PayoutSent` / `PayoutFailed`. Nothing here commits, except
`execute_payout`'s end of the read transaction before it calls the provider.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from marketplace.payments.domain import payout as rules
from marketplace.payments.events import PayoutFailed, PayoutSent
from marketplace.payments.models import Payout
from marketplace.payments.providers import Gateways, ProviderEvent, TransferRequest
from marketplace.payments.repository import payout as repo
from marketplace.payments.service import ledger
from marketplace.platform.admission import waiting_elsewhere
from marketplace.platform.clock import utcnow
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

logger = logging.getLogger(__name__)

EXECUTE_PAYOUT_JOB: Final = "payments.execute_payout"
# A payout still `pending` this long after its last attempt is sent again (same key): its
# job may have died with the worker, or run out of attempts while the provider was down.
RETRY_AFTER: Final = timedelta(minutes=10)
RETRY_BATCH: Final = 200


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
    async with waiting_elsewhere():
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
    uow: UnitOfWork,
    payout_id: str,
    *,
    provider_transfer_id: str | None,
    provider_settlement_id: str | None = None,
) -> bool:
    """pending | in_transit → paid: the money left clearing (posted once)."""
    now = utcnow()
    extra = {"provider_transfer_id": provider_transfer_id} if provider_transfer_id else {}
    if provider_settlement_id:
        extra["provider_settlement_id"] = provider_settlement_id
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
        if provider_settlement_id:
            await repo.set_settlement_id(uow.session, payout_id, provider_settlement_id)
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
        await record_payout_paid(
            uow,
            payout.id,
            provider_transfer_id=event.provider_transfer_id,
            provider_settlement_id=event.provider_settlement_id,
        )
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
    "apply_payout_event",
    "execute_payout",
    "record_payout_failure",
    "record_payout_paid",
    "record_payout_sent",
    "retry_stale_payouts",
]
