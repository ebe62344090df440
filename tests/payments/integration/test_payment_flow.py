"""Payments on a real database: start + confirm posts the split, declines post nothing,
retries and the provider's webhook converge on one capture, and a provider timeout never
charges twice."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.payments import confirm, events, ledger, paid, share, start
from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.models import Payment, PaymentShare, SandboxIntent, WebhookEvent
from marketplace.payments.providers import ChargeRequest
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.models import OutboxMessage

CLEARING = "gateway_clearing:sandbox"
FEES = "gateway_fee_expense:sandbox"
REVENUE = "platform_commission_revenue"
DISCOUNTS = "platform_discount_expense"
TAX = "tax_payable"


def two_vendor_split() -> list[payments.VendorShare]:
    return [
        share(
            "vnd_a",
            vendor_order_id="vo_a",
            gross=10_000,
            tax=800,
            commission=(500, 300),
            commission_tax=160,
            platform_discount=1_000,
        ),
        share("vnd_b", vendor_order_id="vo_b", gross=5_000, commission=(500,)),
    ]


CAPTURE = [
    (CLEARING, 10_000),
    (DISCOUNTS, 1_000),
    ("vendor_pending:vnd_a", -9_240),  # 10000 - 800 - 800 - 160 + 1000
    (REVENUE, -500),
    (REVENUE, -300),
    (TAX, -960),  # sales tax 800 + tax on commission 160
    (CLEARING, 5_000),
    ("vendor_pending:vnd_b", -4_500),
    (REVENUE, -500),
]
FEE = [(FEES, 465), (CLEARING, -465)]  # 2.9 % of 15000 + 30


async def _sandbox_intents(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(SandboxIntent)) or 0)


async def test_confirmed_payment_posts_one_capture_with_the_exact_split(
    container: Container, session: AsyncSession
) -> None:
    started = await start(container, two_vendor_split(), order_id="ord_1")
    assert (started.status, started.captured_amount, await ledger(session)) == ("pending", 0, [])

    view = await confirm(container, started.id)

    assert (view.status, view.amount, view.captured_amount, view.currency) == (
        "succeeded",
        15_000,
        15_000,
        "USD",
    )
    assert view.provider_payment_id is not None
    assert view.provider_payment_id.startswith("pi_")
    assert await ledger(session) == [("capture", CAPTURE), ("fee", FEE)]
    assert await events(session, "payments.payment_succeeded.v1") == [
        {
            "payment_id": started.id,
            "order_id": "ord_1",
            "amount": 15_000,
            "currency": "USD",
            # recorded by confirm_payment: the caller settles on it (orders' follow-up skips it)
            "confirmed_synchronously": True,
        }
    ]


async def test_commission_is_frozen_per_order_line_in_the_ledger(
    container: Container, session: AsyncSession
) -> None:
    from marketplace.payments.models import CommissionLineRow, LedgerPosting

    await paid(container, two_vendor_split())

    lines = (
        await session.execute(
            select(
                CommissionLineRow.order_item_id,
                CommissionLineRow.rule_id,
                CommissionLineRow.rate_bps,
                CommissionLineRow.amount,
            ).order_by(CommissionLineRow.order_item_id)
        )
    ).all()
    assert [tuple(r) for r in lines] == [
        ("vo_a_item1", "cr_test", 1000, 500),
        ("vo_a_item2", "cr_test", 1000, 300),
        ("vo_b_item1", "cr_test", 1000, 500),
    ]
    revenue_lines = (
        await session.execute(
            select(LedgerPosting.order_item_id, LedgerPosting.amount)
            .where(LedgerPosting.account == REVENUE)
            .order_by(LedgerPosting.id)
        )
    ).all()
    assert [tuple(r) for r in revenue_lines] == [
        ("vo_a_item1", -500),
        ("vo_a_item2", -300),
        ("vo_b_item1", -500),
    ]


@pytest.mark.parametrize(
    ("method", "code", "message"),
    [
        ("pm_card_declined", "card_declined", "Your card was declined."),
        ("pm_card_insufficient_funds", "insufficient_funds", "Your card has insufficient funds."),
    ],
)
async def test_a_declined_payment_fails_and_posts_nothing(
    container: Container, session: AsyncSession, method: str, code: str, message: str
) -> None:
    started = await start(container, two_vendor_split(), payment_method=method, order_id="ord_d")

    view = await confirm(container, started.id)
    await container.jobs.drain()  # the provider's payment_failed webhook changes nothing more

    assert (view.status, view.failure_code, view.failure_message) == ("failed", code, message)
    assert view.captured_amount == 0
    assert await ledger(session) == []
    assert await events(session, "payments.payment_succeeded.v1") == []
    assert await events(session, "payments.payment_failed.v1") == [
        {
            "payment_id": started.id,
            "order_id": "ord_d",
            "failure_code": code,
            "failure_message": message,
            "confirmed_synchronously": True,
        }
    ]


async def test_confirm_twice_and_the_webhook_too_capture_once(
    container: Container, session: AsyncSession
) -> None:
    started = await start(container, two_vendor_split())

    first = await confirm(container, started.id)
    second = await confirm(container, started.id)
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "payments_webhook_event" in statement:
            sent.append(statement.split(None, 1)[0].upper())

    engine = container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        await container.jobs.drain()  # delivers payment_intent.succeeded to our webhook path
    finally:
        event.remove(engine, "before_cursor_execute", note)

    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert await ledger(session) == [("capture", CAPTURE), ("fee", FEE)]
    assert len(await events(session, "payments.payment_succeeded.v1")) == 1
    assert await _sandbox_intents(session) == 1
    # The sandbox's delivery is a job already: it stores and applies the event itself,
    # with no second job to process it.
    received = (await session.execute(select(WebhookEvent.type, WebhookEvent.status))).all()
    assert [tuple(r) for r in received] == [("payment_intent.succeeded", "processed")]
    # The success was recorded already: the event is stored processed by one INSERT.
    assert sent == ["INSERT"]
    process_jobs = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.name == "payments.process_webhook_event")
    )
    assert process_jobs == 0


async def test_webhook_first_then_confirm_captures_once(
    container: Container, session: AsyncSession
) -> None:
    """Our confirm died after the provider charged: the webhook settles the payment, and the
    retried confirm finds it decided (and sends the same key, so no second charge)."""
    started = await start(container, two_vendor_split())
    row = await session.get(Payment, started.id)
    assert row is not None
    key = row.provider_idempotency_key
    sandbox = container.payment_gateways["sandbox"]
    await sandbox.charge(
        ChargeRequest(key, 15_000, "USD", "pm_card_visa", {"payment_id": started.id})
    )

    await container.jobs.drain()
    after_webhook = await payments_of(container, started.order_id)
    retried = await confirm(container, started.id)

    assert (after_webhook.status, retried.status) == ("succeeded", "succeeded")
    assert await ledger(session) == [("capture", CAPTURE), ("fee", FEE)]
    assert await _sandbox_intents(session) == 1


async def payments_of(container: Container, order_id: str) -> payments.PaymentView:
    async with container.uow_factory() as uow:
        view = await payments.payment_of_order(uow, order_id)
    assert view is not None
    return view


async def test_a_timeout_leaves_the_payment_pending_and_the_retry_charges_once(
    container: Container, session: AsyncSession
) -> None:
    started = await start(container, two_vendor_split(), payment_method="pm_card_visa_timeout")

    with pytest.raises(payments.ProviderUnavailableError):
        await confirm(container, started.id)
    pending = await payments_of(container, started.order_id)
    retried = await confirm(container, started.id)

    assert pending.status == "pending"
    assert retried.status == "succeeded"
    assert await _sandbox_intents(session) == 1
    assert await ledger(session) == [("capture", CAPTURE), ("fee", FEE)]


async def test_start_is_idempotent_per_order(container: Container, session: AsyncSession) -> None:
    first = await start(container, two_vendor_split(), order_id="ord_same", key="k1")
    again = await start(container, two_vendor_split(), order_id="ord_same", key="k2")

    assert again == first
    assert await session.scalar(select(func.count()).select_from(Payment)) == 1
    assert await session.scalar(select(func.count()).select_from(PaymentShare)) == 2


@pytest.mark.parametrize(
    ("kwargs", "loc", "code"),
    [
        ({"provider": "stripe"}, ["body", "payment", "provider"], "provider_not_enabled"),
        ({"provider": "bitcoin"}, ["body", "payment", "provider"], "provider_not_enabled"),
        (
            {"payment_method": "4242424242424242"},
            ["body", "payment", "payment_method"],
            "invalid_payment_method",
        ),
        ({"amount": 14_999}, ["body", "amount"], "invalid"),
    ],
)
async def test_invalid_start_names_the_field_and_stores_nothing(
    container: Container,
    session: AsyncSession,
    kwargs: dict[str, object],
    loc: list[str],
    code: str,
) -> None:
    arguments: dict[str, object] = {
        "order_id": "ord_bad",
        "customer_id": "usr_c",
        "currency": "USD",
        "amount": 15_000,
        "provider": "sandbox",
        "payment_method": "pm_card_visa",
        "shares": two_vendor_split(),
        "idempotency_key": "k",
        **kwargs,
    }
    async with container.uow_factory() as uow:
        with pytest.raises(ValidationFailed) as raised:
            await payments.start_payment(uow, **arguments)  # type: ignore[arg-type]

    assert raised.value.errors is not None
    assert [(e.loc, e.code) for e in raised.value.errors] == [(loc, code)]
    assert await session.scalar(select(func.count()).select_from(Payment)) == 0


async def test_cancel_stops_a_pending_payment_from_being_charged(
    container: Container, session: AsyncSession
) -> None:
    started = await start(container, two_vendor_split())
    async with container.uow_factory() as uow:
        await payments.cancel_payment(uow, payment_id=started.id)
        await uow.commit()

    after = await confirm(container, started.id)

    assert after.status == "canceled"
    assert await _sandbox_intents(session) == 0
    assert await ledger(session) == []


async def test_cancel_refuses_a_captured_payment(container: Container) -> None:
    view = await paid(container, two_vendor_split())
    async with container.uow_factory() as uow:
        with pytest.raises(payments.PaymentAlreadyCaptured):
            await payments.cancel_payment(uow, payment_id=view.id)
