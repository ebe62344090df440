"""Payments' jobs: executing refunds and payouts, processing stored webhook events, the
sandbox's webhook deliveries, and the periodic ones: releasing holds, running due payout
schedules, sending again payouts left pending, and reconciliation with the providers
(daily for yesterday, or one run an admin requested).

Jobs receive only (uow, message); they find the container's providers with
`providers.gateways_for(uow)` (bound by the composition root).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from marketplace.payments.events import (
    ChargebackClosed,
    ChargebackOpened,
    PaymentFailed,
    PaymentSucceeded,
    PayoutFailed,
    PayoutSent,
    ReconciliationMismatchFound,
    RefundFailed,
    RefundSucceeded,
)
from marketplace.payments.providers import gateways_for
from marketplace.payments.providers.sandbox import DELIVER_WEBHOOK_JOB, SandboxProvider
from marketplace.payments.service import (
    ledger,
    payout_execution,
    payout_schedules,
    reconciliation,
    refunds,
    webhooks,
)
from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.uow import UnitOfWork

RELEASE_HOLDS_JOB: Final = "payments.release_holds"
RELEASE_INTERVAL: Final = timedelta(minutes=1)
RUN_PAYOUTS_JOB: Final = "payments.run_payout_schedules"
RUN_PAYOUTS_INTERVAL: Final = timedelta(minutes=1)
RETRY_PAYOUTS_JOB: Final = "payments.retry_payouts"
RETRY_PAYOUTS_INTERVAL: Final = timedelta(minutes=5)


async def execute_refund(uow: UnitOfWork, message: Message) -> None:
    await refunds.execute_refund(
        uow, gateways_for(uow), refund_id=str(message.payload["refund_id"])
    )


async def process_webhook_event(uow: UnitOfWork, message: Message) -> None:
    await webhooks.process_webhook_event(
        uow, gateways_for(uow), event_id=str(message.payload["event_id"])
    )


async def deliver_sandbox_webhook(uow: UnitOfWork, message: Message) -> None:
    """The sandbox "gateway" calling our webhook: the same verify-and-store code path as
    `POST /v1/webhooks/payments/sandbox`, with a freshly signed body. Being a job already,
    it processes the event in the same transaction rather than enqueueing one more job."""
    gateways = gateways_for(uow)
    sandbox = gateways.get("sandbox")
    if not isinstance(sandbox, SandboxProvider):
        return  # the sandbox was disabled since: nobody to deliver for
    delivery = await sandbox.signed_delivery(uow, str(message.payload["event_id"]))
    if delivery is None:
        return
    body, headers = delivery
    await webhooks.receive_webhook(
        uow, gateways, provider="sandbox", body=body, headers=headers, process_now=True
    )


async def release_holds(uow: UnitOfWork, message: Message) -> None:
    released = await ledger.release_due_holds(uow)
    if released >= ledger.RELEASE_BATCH:
        # A full batch: more may be due; the next runs right after this one commits.
        uow.enqueue(RELEASE_HOLDS_JOB)


async def reconcile(uow: UnitOfWork, message: Message) -> None:
    """With a `run_id`: execute that run. Without (the daily schedule): create yesterday's run
    per enabled provider, once, each executed by its own job."""
    gateways = gateways_for(uow)
    run_id = message.payload.get("run_id")
    if run_id is None:
        await reconciliation.schedule_daily_runs(uow, gateways, now=utcnow())
        return
    await reconciliation.execute_run(uow, gateways, run_id=str(run_id))


async def execute_payout(uow: UnitOfWork, message: Message) -> None:
    await payout_execution.execute_payout(
        uow, gateways_for(uow), payout_id=str(message.payload["payout_id"])
    )


async def run_payout_schedules(uow: UnitOfWork, message: Message) -> None:
    run = await payout_schedules.run_payouts(uow, gateways_for(uow), trigger="schedule")
    if run is not None and run.vendor_count >= payout_schedules.RUN_BATCH:
        # A full batch: more schedules may be due; the next run starts after this commits.
        uow.enqueue(RUN_PAYOUTS_JOB)


async def retry_payouts(uow: UnitOfWork, message: Message) -> None:
    await payout_execution.retry_stale_payouts(uow)


def register(registry: Registry) -> None:
    for event in (
        PaymentSucceeded,
        PaymentFailed,
        RefundSucceeded,
        RefundFailed,
        ChargebackOpened,
        ChargebackClosed,
        ReconciliationMismatchFound,
        PayoutSent,
        PayoutFailed,
    ):
        registry.event(event)
    registry.job(refunds.EXECUTE_REFUND_JOB)(execute_refund)
    registry.job(webhooks.PROCESS_WEBHOOK_JOB)(process_webhook_event)
    # A sale's webhooks come a few hundred a second: kicked together, they share a
    # transaction (verify and store only, nothing slow, no commit of their own).
    registry.job(DELIVER_WEBHOOK_JOB, batched=True)(deliver_sandbox_webhook)
    registry.job(RELEASE_HOLDS_JOB)(release_holds)
    registry.every(RELEASE_INTERVAL, RELEASE_HOLDS_JOB)
    registry.job(reconciliation.RECONCILE_JOB)(reconcile)
    registry.every(reconciliation.RECONCILE_INTERVAL, reconciliation.RECONCILE_JOB)
    registry.job(payout_execution.EXECUTE_PAYOUT_JOB)(execute_payout)
    registry.job(RUN_PAYOUTS_JOB)(run_payout_schedules)
    registry.every(RUN_PAYOUTS_INTERVAL, RUN_PAYOUTS_JOB)
    registry.job(RETRY_PAYOUTS_JOB)(retry_payouts)
    registry.every(RETRY_PAYOUTS_INTERVAL, RETRY_PAYOUTS_JOB)
