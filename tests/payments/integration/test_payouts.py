"""Payout execution against the sandbox: a lost response leaves the payout pending and a
retry sends the same key (one transfer), the retry sweep, the periodic schedule job, and an
outcome webhook arriving before the job recorded the provider's answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import events
from factories.payouts import earn, payable_vendor, payouts_of
from marketplace.bootstrap import Container
from marketplace.payments import handlers
from marketplace.payments.models import Payout, PayoutRun, PayoutSchedule, SandboxTransfer
from marketplace.payments.providers import ProviderUnavailable
from marketplace.payments.providers.sandbox_payouts import TIMEOUT_DESTINATION
from marketplace.payments.service import payout_execution, payout_schedules, payouts
from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message
from marketplace.platform.models import OutboxMessage
from marketplace.platform.money import Money


async def _request(container: Container, vendor_id: str, key: str) -> payouts.PayoutView:
    async with container.uow_factory() as uow:
        view = await payouts.request_payout(
            uow,
            container.payment_gateways,
            vendor_id=vendor_id,
            amount=None,
            idempotency_key=key,
            actor_id="usr_test",
            actor_role="vendor:owner",
        )
        await uow.commit()
    return view


async def _execute(container: Container, payout_id: str) -> None:
    async with container.uow_factory() as uow:
        await payout_execution.execute_payout(uow, container.payment_gateways, payout_id=payout_id)
        await uow.commit()


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_lost_response_leaves_the_payout_pending_and_the_retry_sends_the_same_key(
    container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container, account_number=TIMEOUT_DESTINATION)
    await earn(container, vendor.id, 3_000)
    created = await _request(container, vendor.id, "k1")

    with pytest.raises(ProviderUnavailable):
        await _execute(container, created.id)
    after_timeout = await payouts_of(session, vendor.id)
    await _execute(container, created.id)  # the job's retry
    after_retry = await payouts_of(session, vendor.id)
    await container.jobs.drain()
    await container.jobs.drain()

    assert after_timeout == [(3_000, "EUR", "pending")]
    assert after_retry == [(3_000, "EUR", "in_transit")]
    assert await payouts_of(session, vendor.id) == [(3_000, "EUR", "paid")]
    transfers = (await session.execute(select(SandboxTransfer.id, SandboxTransfer.amount))).all()
    assert len(transfers) == 1
    stored = await session.scalar(select(Payout).where(Payout.id == created.id))
    assert stored is not None
    assert stored.provider_transfer_id == transfers[0][0]
    assert len(await events(session, "payments.payout_sent.v1")) == 1


async def test_the_outcome_webhook_may_come_before_the_job_records_the_answer(
    container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container, account_number=TIMEOUT_DESTINATION)
    await earn(container, vendor.id, 1_200)
    created = await _request(container, vendor.id, "k2")

    with pytest.raises(ProviderUnavailable):
        await _execute(container, created.id)
    await container.jobs.drain()  # the sandbox's payout.paid event, then its processing
    await container.jobs.drain()
    settled = await payouts_of(session, vendor.id)
    await _execute(container, created.id)  # a late retry changes nothing

    assert settled == [(1_200, "EUR", "paid")]
    assert await payouts_of(session, vendor.id) == [(1_200, "EUR", "paid")]
    assert await _count(session, SandboxTransfer) == 1
    assert [e["payout_id"] for e in await events(session, "payments.payout_sent.v1")] == [
        created.id
    ]


async def test_the_retry_sweep_sends_stale_pending_payouts_again(
    container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 700)
    created = await _request(container, vendor.id, "k3")
    # The execution job was lost (its outbox message never relayed, say).
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.name == payout_execution.EXECUTE_PAYOUT_JOB)
        .values(payload={"payout_id": "po_gone"})
    )
    await session.commit()
    await container.jobs.drain()
    stuck = await payouts_of(session, vendor.id)

    async with container.uow_factory() as uow:
        early = await payout_execution.retry_stale_payouts(uow)
        late = await payout_execution.retry_stale_payouts(uow, now=utcnow() + timedelta(minutes=11))
        await uow.commit()
    await container.jobs.drain()
    await container.jobs.drain()

    assert stuck == [(700, "EUR", "pending")]
    assert (early, late) == (0, 1)
    assert await payouts_of(session, vendor.id) == [(700, "EUR", "paid")]
    assert created.status == "pending"


async def test_the_periodic_job_pays_due_schedules_once_per_period(
    container: Container, session: AsyncSession
) -> None:
    vendor = await payable_vendor(container)
    manual = await payable_vendor(container)
    await earn(container, vendor.id, 2_000)
    await earn(container, vendor.id, 500, currency="USD")
    await earn(container, manual.id, 2_000)
    async with container.uow_factory() as uow:
        for vid, interval in ((vendor.id, "weekly"), (manual.id, "manual")):
            await payout_schedules.set_schedule(
                uow,
                vendor_id=vid,
                interval=interval,  # type: ignore[arg-type]
                minimum=Money(1_000, "EUR"),
                actor_id="usr_test",
                actor_role="vendor:owner",
            )
        await uow.commit()
    idle = Message(
        id="msg_t",
        kind="job",
        name=handlers.RUN_PAYOUTS_JOB,
        payload={},
        occurred_at=utcnow(),
        attempt=1,
    )
    async with container.uow_factory() as uow:
        await handlers.run_payout_schedules(uow, idle)  # nobody is due yet
        await uow.commit()
    runs_before = await _count(session, PayoutRun)
    await session.execute(
        update(PayoutSchedule)
        .where(PayoutSchedule.vendor_id == vendor.id)
        .values(next_run_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()

    for _ in range(2):
        async with container.uow_factory() as uow:
            await handlers.run_payout_schedules(uow, idle)
            await uow.commit()
    await container.jobs.drain()
    await container.jobs.drain()

    assert runs_before == 0
    assert await _count(session, PayoutRun) == 1
    assert sorted(await payouts_of(session, vendor.id)) == [
        (500, "USD", "paid"),
        (2_000, "EUR", "paid"),
    ]
    assert await payouts_of(session, manual.id) == []
    schedule = await session.get(PayoutSchedule, vendor.id, populate_existing=True)
    assert schedule is not None
    assert schedule.next_run_at is not None
    assert schedule.next_run_at > utcnow()
    assert schedule.next_run_at.weekday() == 0  # weekly on Mondays by default
    keys = (await session.scalars(select(Payout.method).where(Payout.vendor_id == vendor.id))).all()
    assert list(keys) == ["scheduled", "scheduled"]
