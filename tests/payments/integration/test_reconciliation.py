"""Reconciliation on a real database: the ledger and the sandbox's balance transactions agree
on a clean period, and every planted difference (a charge the ledger never saw, a fee that
differs, a refund the provider does not have) is found, stored and announced once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import events, paid, refund, share
from factories.payouts import earn, payable_vendor, payouts_of
from marketplace.bootstrap import Container
from marketplace.payments.models import (
    Payment,
    Payout,
    ReconciliationMismatch,
    ReconciliationRun,
    Refund,
    SandboxIntent,
    SandboxRefund,
    SandboxTransfer,
)
from marketplace.payments.providers import ProviderError
from marketplace.payments.providers.sandbox import CHARGEBACK_METHOD, SandboxProvider
from marketplace.payments.service import payouts, reconciliation
from marketplace.payments.service.reconciliation import Entry, Mismatch, compare
from marketplace.platform.clock import utcnow


def _sandbox(container: Container) -> SandboxProvider:
    sandbox = container.payment_gateways["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    return sandbox


async def _activity(container: Container, session: AsyncSession) -> None:
    """A paid order refunded in part, and a paid order disputed and won."""
    await paid(container, [share("vnd_a", vendor_order_id="vo_r1", gross=5_000)], order_id="o1")
    await refund(container, order_id="o1", vendor_order_id="vo_r1", amount=1_200)
    await paid(
        container,
        [share("vnd_b", vendor_order_id="vo_r2", gross=8_000, commission=(800,))],
        order_id="o2",
        payment_method=CHARGEBACK_METHOD,
    )
    await container.jobs.drain()
    intent = await session.scalar(
        select(Payment.provider_payment_id).where(Payment.order_id == "o2")
    )
    assert intent is not None
    dispute = await _sandbox(container).dispute_of(intent)
    assert dispute is not None
    await _sandbox(container).close_dispute(dispute, "won")
    await container.jobs.drain()


async def _run(container: Container, start: datetime, end: datetime) -> str:
    async with container.uow_factory() as uow:
        view = await reconciliation.request_run(
            uow,
            container.payment_gateways,
            provider="sandbox",
            start=start,
            end=end,
            requested_by="usr_admin",
        )
        await uow.commit()
    assert view.status == "pending"
    await container.jobs.drain()  # payments.reconcile
    return view.id


async def test_a_clean_period_has_no_mismatch(container: Container, session: AsyncSession) -> None:
    start = utcnow() - timedelta(minutes=5)
    await _activity(container, session)

    run_id = await _run(container, start, utcnow() + timedelta(minutes=5))

    async with container.uow_factory() as uow:
        view = await reconciliation.get_run(uow, run_id)
    # 2 charges, 1 refund, 1 dispute, 1 dispute reversal on each side.
    assert (view.status, view.ledger_records, view.provider_records, view.mismatch_count) == (
        "completed",
        5,
        5,
        0,
    )
    assert view.mismatches == ()
    assert await events(session, "payments.reconciliation_mismatch_found.v1") == []


async def test_planted_differences_are_found(container: Container, session: AsyncSession) -> None:
    start = utcnow() - timedelta(minutes=5)
    await _activity(container, session)
    intent_o1 = await session.scalar(
        select(Payment.provider_payment_id).where(Payment.order_id == "o1")
    )
    refund_row = await session.scalar(select(Refund))
    assert intent_o1 is not None
    assert refund_row is not None
    # The provider charged a fee the ledger does not have, holds a charge nobody recorded, and
    # lost the refund.
    await session.execute(
        update(SandboxIntent).where(SandboxIntent.id == intent_o1).values(fee=999)
    )
    session.add(
        SandboxIntent(
            id="pi_stray",
            idempotency_key="stray",
            amount=700,
            currency="USD",
            payment_method="pm_card_visa",
            status="succeeded",
            amount_received=700,
            amount_refunded=0,
            fee=50,
            failure_code=None,
            failure_message=None,
            meta={},
            created_at=utcnow(),
        )
    )
    await session.execute(delete(SandboxRefund))
    await session.commit()

    run_id = await _run(container, start, utcnow() + timedelta(minutes=5))

    rows = (
        await session.scalars(
            select(ReconciliationMismatch)
            .where(ReconciliationMismatch.run_id == run_id)
            .order_by(ReconciliationMismatch.kind, ReconciliationMismatch.provider_object_id)
        )
    ).all()
    payment_o1 = await session.scalar(select(Payment.id).where(Payment.order_id == "o1"))
    assert [
        (m.kind, m.provider_object_id, m.problem, m.ledger_amount, m.provider_amount,
         m.ledger_fee, m.provider_fee, m.reference)
        for m in rows
    ] == sorted([
        ("charge", intent_o1, "amount_differs", 5_000, 5_000, 175, 999, payment_o1),
        ("charge", "pi_stray", "missing_in_ledger", None, 700, None, 50, None),
        ("refund", refund_row.provider_refund_id, "missing_at_provider", -1_200, None, 0, None,
         refund_row.id),
    ], key=lambda r: (r[0], r[1]))  # fmt: skip
    run = await session.get(ReconciliationRun, run_id)
    assert run is not None
    assert (run.status, run.mismatch_count, run.ledger_records, run.provider_records) == (
        "completed",
        3,
        5,
        5,
    )
    assert await events(session, "payments.reconciliation_mismatch_found.v1") == [
        {"run_id": run_id, "provider": "sandbox", "mismatch_count": 3}
    ]


async def test_a_run_outside_the_activity_finds_nothing_on_either_side(
    container: Container, session: AsyncSession
) -> None:
    await _activity(container, session)
    start = utcnow() + timedelta(hours=1)

    run_id = await _run(container, start, start + timedelta(days=1))

    run = await session.get(ReconciliationRun, run_id)
    assert run is not None
    assert (run.status, run.ledger_records, run.provider_records, run.mismatch_count) == (
        "completed",
        0,
        0,
        0,
    )


async def test_the_daily_run_is_created_once_per_provider_and_day(
    container: Container, session: AsyncSession
) -> None:
    now = datetime(2026, 12, 3, 0, 30, tzinfo=UTC)
    async with container.uow_factory() as uow:
        first = await reconciliation.schedule_daily_runs(uow, container.payment_gateways, now=now)
        again = await reconciliation.schedule_daily_runs(
            uow, container.payment_gateways, now=now + timedelta(hours=5)
        )
        await uow.commit()

    assert (len(first), again) == (1, [])
    run = await session.get(ReconciliationRun, first[0])
    assert run is not None
    assert (run.provider, run.period_start, run.period_end, run.dedupe_key) == (
        "sandbox",
        datetime(2026, 12, 2, tzinfo=UTC),
        datetime(2026, 12, 3, tzinfo=UTC),
        "daily:sandbox:2026-12-02",
    )
    assert await session.scalar(select(func.count()).select_from(ReconciliationRun)) == 1
    schedules = [(p.job, p.every, p.payload) for p in container.registry.periodic]
    assert ("payments.reconcile", timedelta(days=1), {}) in schedules


async def _paid_payout(container: Container, session: AsyncSession) -> tuple[str, str]:
    """A vendor's earnings of 3 000 EUR paid out in full through the sandbox: (our payout
    id, the sandbox's transfer id)."""
    vendor = await payable_vendor(container)
    await earn(container, vendor.id, 3_000)
    async with container.uow_factory() as uow:
        view = await payouts.request_payout(
            uow,
            container.payment_gateways,
            vendor_id=vendor.id,
            amount=None,
            idempotency_key="rec-payout",
            actor_id="usr_test",
            actor_role="vendor:owner",
        )
        await uow.commit()
    await container.jobs.drain()  # the payout job, then the sandbox's payout.paid webhook
    await container.jobs.drain()
    assert await payouts_of(session, vendor.id) == [(3_000, "EUR", "paid")]
    transfer_id = await session.scalar(
        select(Payout.provider_transfer_id).where(Payout.id == view.id)
    )
    assert transfer_id is not None
    return view.id, transfer_id


async def test_a_clean_period_with_a_paid_payout_has_no_mismatch(
    container: Container, session: AsyncSession
) -> None:
    start = utcnow() - timedelta(minutes=5)
    await _paid_payout(container, session)

    run_id = await _run(container, start, utcnow() + timedelta(minutes=5))

    async with container.uow_factory() as uow:
        view = await reconciliation.get_run(uow, run_id)
    # The vendor's charge and the transfer that paid it out, on each side.
    assert (view.status, view.ledger_records, view.provider_records, view.mismatch_count) == (
        "completed",
        2,
        2,
        0,
    )
    assert await events(session, "payments.reconciliation_mismatch_found.v1") == []


async def test_a_transfer_the_provider_booked_for_another_amount_is_reported(
    container: Container, session: AsyncSession
) -> None:
    start = utcnow() - timedelta(minutes=5)
    payout_id, transfer_id = await _paid_payout(container, session)
    await session.execute(
        update(SandboxTransfer).where(SandboxTransfer.id == transfer_id).values(amount=2_900)
    )
    await session.commit()

    run_id = await _run(container, start, utcnow() + timedelta(minutes=5))

    rows = (
        await session.scalars(
            select(ReconciliationMismatch).where(ReconciliationMismatch.run_id == run_id)
        )
    ).all()
    assert [
        (m.kind, m.provider_object_id, m.problem, m.currency, m.ledger_amount,
         m.provider_amount, m.ledger_fee, m.provider_fee, m.reference)
        for m in rows
    ] == [
        ("transfer", transfer_id, "amount_differs", "EUR", -3_000, -2_900, 0, 0, payout_id)
    ]  # fmt: skip
    assert await events(session, "payments.reconciliation_mismatch_found.v1") == [
        {"run_id": run_id, "provider": "sandbox", "mismatch_count": 1}
    ]


async def test_a_provider_that_cannot_list_its_records_fails_the_run(
    container: Container, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unsupported(*, start: datetime, end: datetime) -> list[object]:
        raise ProviderError("reconciliation is not supported by sandbox yet")

    monkeypatch.setattr(_sandbox(container), "list_records", unsupported)
    start = utcnow() - timedelta(hours=1)

    run_id = await _run(container, start, start + timedelta(hours=2))

    run = await session.get(ReconciliationRun, run_id)
    assert run is not None
    assert (run.status, run.ledger_records, run.provider_records, run.mismatch_count) == (
        "failed",
        0,
        0,
        0,
    )
    assert run.finished_at is not None
    assert await session.scalar(select(func.count()).select_from(ReconciliationMismatch)) == 0
    assert await events(session, "payments.reconciliation_mismatch_found.v1") == []


def test_compare_is_keyed_by_kind_and_provider_object() -> None:
    ours = [
        Entry("charge", "pi_1", 1_000, 59, "USD", "pay_1"),
        Entry("refund", "re_1", -300, 0, "USD", "ref_1"),
        Entry("transfer", "tr_1", -500, 0, "USD", "po_1"),
    ]
    theirs = [
        Entry("charge", "pi_1", 1_000, 59, "USD"),
        Entry("refund", "re_1", -200, 0, "USD"),
        Entry("refund", "re_2", -100, 0, "USD"),
    ]

    assert compare(ours, theirs) == [
        Mismatch("refund", "re_1", "amount_differs", "USD", -300, -200, 0, 0, "ref_1"),
        Mismatch("refund", "re_2", "missing_in_ledger", "USD", None, -100, None, 0, None),
        Mismatch("transfer", "tr_1", "missing_at_provider", "USD", -500, None, 0, None, "po_1"),
    ]
