"""Provider webhooks: receive (verify, store once, enqueue) and process (apply, once).

Receiving does the least that must be synchronous: the adapter verifies the signature and
its timestamp (a bad one is a 400 and nothing is stored), the event is stored unless its
(provider, provider event id) already is (a unique constraint decides), and a job is
enqueued. Processing runs in that job: it applies the normalised event through the same
recording functions confirm and the refund job use, so whichever arrives first decides and
the rest change nothing. Order does not matter: a refund event for a payment whose success
was not recorded yet records that success first (a refunded charge was captured). Dispute
events go to `chargebacks` (opened / closed, once per provider dispute id); one for a
payment whose capture is not recorded yet raises, and the job retries it later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from marketplace.payments.errors import (
    InvalidWebhookSignature,
    ProviderUnavailableError,
    UnknownProvider,
)
from marketplace.payments.providers import (
    Gateways,
    InvalidSignature,
    ProviderEvent,
    ProviderUnavailable,
    VerifiesWebhooksRemotely,
)
from marketplace.payments.repository import payment as repo
from marketplace.payments.service import chargebacks
from marketplace.payments.service.payments import record_failure, record_success
from marketplace.payments.service.payout_execution import apply_payout_event
from marketplace.payments.service.refunds import record_refund_failure, record_refund_success
from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork

logger = logging.getLogger(__name__)

PROCESS_WEBHOOK_JOB: Final = "payments.process_webhook_event"


@dataclass(frozen=True, slots=True)
class Receipt:
    event_id: str
    duplicate: bool


async def receive_webhook(
    uow: UnitOfWork,
    gateways: Gateways,
    *,
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime | None = None,
    process_now: bool = False,
) -> Receipt:
    """`headers` with lower-case names. Never commits itself. The event is stored, then
    processed by a job; with `process_now` (a caller that is a job already, nobody waiting
    on an answer) it is processed in this unit of work instead of by one more job."""
    adapter = gateways.get(provider)
    if adapter is None:
        raise UnknownProvider(f"no enabled payment provider {provider!r}")
    try:
        if isinstance(adapter, VerifiesWebhooksRemotely):
            # Asked of the provider before the session opens: no transaction waits on it.
            await adapter.verify_webhook_remotely(body, headers, now or utcnow())
        else:
            adapter.verify_webhook(body, headers, now or utcnow())
        event = adapter.parse_webhook(body)
    except (InvalidSignature, ValueError) as error:
        raise InvalidWebhookSignature(str(error)) from None
    except ProviderUnavailable as error:
        # Not verified either way: a 503 makes the provider deliver the event again later.
        raise ProviderUnavailableError(str(error)) from None
    payload: dict[str, Any] = orjson.loads(body)
    event_id = new_id("whe")
    row: dict[str, Any] = {
        "id": event_id,
        "provider": provider,
        "provider_event_id": event.provider_event_id,
        "type": event.type,
        "payload": payload,
        "status": "received",
        "received_at": utcnow(),
        "processed_at": None,
    }
    if process_now and await _success_already_recorded(uow, provider, event):
        # The usual webhook of a checkout: its confirmation recorded the success first, and
        # applying the event would change nothing (success is final). Stored as processed
        # at once: one statement, not a row stored and then updated.
        row |= {"status": "processed", "processed_at": row["received_at"]}
        stored = await repo.insert_webhook_event(uow.session, row)
        return Receipt(event_id=event.provider_event_id, duplicate=not stored)
    stored = await repo.insert_webhook_event(uow.session, row)
    if not stored:
        return Receipt(event_id=event.provider_event_id, duplicate=True)
    if process_now:
        # Stored by this transaction just now, so "received" and ours: applied from the
        # event in hand rather than read back and parsed again.
        await _process(uow, gateways, event_id, provider, event)
    else:
        uow.enqueue(PROCESS_WEBHOOK_JOB, {"event_id": event_id})
    return Receipt(event_id=event.provider_event_id, duplicate=False)


async def process_webhook_event(uow: UnitOfWork, gateways: Gateways, *, event_id: str) -> str:
    """Apply a stored event; returns its final status (processed | ignored)."""
    stored = await repo.webhook_event(uow.session, event_id)
    if stored is None or stored.status != "received":
        return stored.status if stored is not None else "ignored"
    event = gateways[stored.provider].parse_webhook(orjson.dumps(stored.payload))
    return await _process(uow, gateways, event_id, stored.provider, event)


async def _process(
    uow: UnitOfWork, gateways: Gateways, event_id: str, provider: str, event: ProviderEvent
) -> str:
    applied = await _apply(uow, gateways, provider, event)
    status = "processed" if applied else "ignored"
    await repo.finish_webhook_event(uow.session, event_id, status=status, now=utcnow())
    return status


async def _success_already_recorded(uow: UnitOfWork, provider: str, event: ProviderEvent) -> bool:
    """Whether `event` reports a payment's success that is recorded already."""
    if event.kind != "payment_succeeded":
        return False
    payment = await _payment_of(uow, provider, event)
    return payment is not None and payment.status == "succeeded"


async def _payment_of(
    uow: UnitOfWork, provider: str, event: ProviderEvent
) -> repo.PaymentState | None:
    """The state of the payment `event` is about, by our id or the provider's."""
    return await repo.payment_state(
        uow.session,
        payment_id=event.payment_id,
        provider=provider,
        provider_payment_id=event.provider_payment_id,
    )


# Events about payments, refunds and disputes; payouts and others are dispatched before these.
_PAYMENT_KINDS = frozenset(
    {
        "payment_succeeded",
        "payment_failed",
        "refund_succeeded",
        "refund_failed",
        "dispute_opened",
        "dispute_closed",
    }
)


async def _apply(uow: UnitOfWork, gateways: Gateways, provider: str, event: ProviderEvent) -> bool:
    if event.kind in {"payout_paid", "payout_failed"}:
        return await apply_payout_event(uow, provider, event)
    if event.kind not in _PAYMENT_KINDS:
        return False
    payment = await _payment_of(uow, provider, event)
    if payment is None:
        logger.warning(
            "webhook event for no known payment",
            extra={"provider": provider, "event": event.provider_event_id},
        )
        return False
    payment_id = payment.id
    if event.kind in {"dispute_opened", "dispute_closed"}:
        return await _apply_dispute(uow, gateways, payment_id, event)
    # Success is final: when the payment is recorded as succeeded already (the checkout's
    # confirmation usually is first), recording it again would change nothing.
    decided = payment.status == "succeeded"
    if event.kind == "payment_failed":
        await record_failure(
            uow,
            payment_id,
            provider_payment_id=event.provider_payment_id,
            code=event.failure_code,
            message=event.failure_message,
        )
        return True
    # A payment success, or a refund (of a charge that was necessarily captured).
    if not decided:
        await record_success(
            uow,
            payment_id,
            provider_payment_id=event.provider_payment_id,
            captured=event.amount_captured,
            fee=event.fee_amount,
        )
    if event.kind == "refund_succeeded" and event.refund_id:
        await record_refund_success(
            uow, event.refund_id, provider_refund_id=event.provider_refund_id
        )
    elif event.kind == "refund_failed" and event.refund_id:
        await record_refund_failure(
            uow,
            event.refund_id,
            provider_refund_id=event.provider_refund_id,
            code=event.failure_code,
            message=event.failure_message,
        )
    return True


async def _apply_dispute(
    uow: UnitOfWork, gateways: Gateways, payment_id: str, event: ProviderEvent
) -> bool:
    payment = await repo.payment(uow.session, payment_id)
    assert payment is not None
    if event.provider_dispute_id is None:
        return False
    reverse = gateways.chargeback_reverses_commission
    if event.kind == "dispute_opened":
        opened = await chargebacks.open_chargeback(uow, payment, event, reverse_commission=reverse)
        return opened is not None
    return await chargebacks.close_chargeback(uow, payment, event, reverse_commission=reverse)
