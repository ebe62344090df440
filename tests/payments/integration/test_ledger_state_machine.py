"""Random sequences of payments, refunds, deliveries and time passing, with the ledger's
invariants checked on the real database after every step.

Payments split across several vendors in two currencies; some are declined; refunds are
partial, some beyond what remains (refused); deliveries start holds and time moves past
them; providers dispute payments (part, all, or more than refunds left) and the disputes
are won or lost. After each step:

* every transaction's postings sum to zero per currency;
* per currency, what the ledger owes or earned equals what was collected and not given back:
  vendors' balances + commission revenue + tax payable - platform-funded discounts -
  dispute losses == captured - refunded - charged back (open or lost chargebacks), and the
  provider clearing account holds captured - refunded - charged back - fees - dispute fees;
* no vendor's pending earnings are negative, and an available balance is negative only for a
  vendor whose available account a refund or a chargeback debited (after the hold);
* a chargeback charges the vendor orders exactly what is still theirs, at most its amount;
* payments and refunds have exactly the statuses and amounts the model predicts;
* payouts (requested, then paid or failed, by the provider's job or an outcome given here)
  never take more than the vendor had available when they were made, a refused payout
  changes nothing, money in transit is exactly the open payouts, and what was paid out has
  left the clearing account.

The machine runs with real commits on its own engine (its own event loop, since Hypothesis's
state machines are synchronous), and empties the payments tables between runs.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, func, select

from marketplace.bootstrap import Container, build_container
from marketplace.payments import public as payments
from marketplace.payments.models import (
    Chargeback,
    ChargebackAllocation,
    CommissionLineRow,
    LedgerPosting,
    LedgerTransaction,
    Payment,
    PaymentShare,
    Payout,
    PayoutBalanceLock,
    PayoutRun,
    PayoutSchedule,
    Refund,
    SandboxEvent,
    SandboxIntent,
    SandboxRefund,
    SandboxTransfer,
    WebhookEvent,
)
from marketplace.payments.providers import ProviderEvent
from marketplace.payments.repository import payment as payments_repo
from marketplace.payments.service import chargebacks as chargeback_service
from marketplace.payments.service import ledger as ledger_service
from marketplace.payments.service import payout_execution
from marketplace.payments.service import payouts as payouts_service
from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database
from marketplace.platform.ids import new_id
from marketplace.platform.models import Delivery, OutboxMessage
from marketplace.settings import Settings
from marketplace.vendors.models import PayoutAccount, Vendor
from marketplace.vendors.service.store import payout_context

T = TypeVar("T")
VENDORS = ("vnd_s1", "vnd_s2", "vnd_s3")
CURRENCIES = ("USD", "EUR")
TABLES = (
    ChargebackAllocation,
    Chargeback,
    LedgerPosting,
    LedgerTransaction,
    Refund,
    CommissionLineRow,
    PaymentShare,
    Payment,
    WebhookEvent,
    SandboxEvent,
    SandboxRefund,
    SandboxIntent,
    Delivery,
    OutboxMessage,
)
PAYOUT_TABLES = (Payout, PayoutRun, PayoutSchedule, PayoutBalanceLock, SandboxTransfer)


@dataclass
class ShareModel:
    vendor_order_id: str
    order_id: str
    vendor_id: str
    currency: str
    gross: int
    paid: bool
    refunded: int = 0
    delivered: bool = False
    charged_back: int = 0  # this vendor order's part of open or lost chargebacks


@dataclass
class DisputeModel:
    dispute_id: str
    order_id: str
    currency: str
    amount: int
    fee: int
    parts: dict[str, int]  # vendor order -> amount charged to it
    status: str = "open"


@dataclass
class Model:
    captured: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refunded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    shares: list[ShareModel] = field(default_factory=list)
    now: datetime = field(default_factory=utcnow)
    disputes: list[DisputeModel] = field(default_factory=list)
    # Per currency: disputed amounts of open or lost chargebacks, and their provider fees.
    charged_back: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dispute_fees: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # payout id -> what was available to its vendor (in its currency) when it was made
    payouts: dict[str, PayoutModel] = field(default_factory=dict)


@dataclass
class PayoutModel:
    vendor_id: str
    currency: str
    amount: int
    available_before: int


share_spec = st.tuples(
    st.sampled_from(VENDORS),
    st.integers(min_value=1, max_value=50_000),  # gross
    st.integers(min_value=0, max_value=100),  # tax, % of gross
    st.lists(st.integers(min_value=0, max_value=2_000), max_size=3),  # commission per line
    st.integers(min_value=0, max_value=500),  # platform discount
)


class LedgerMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    container: Container

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.counter = 0
        self.available_now: dict[tuple[str, str], int] = {}
        self.run(self._empty())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _empty(self) -> None:
        async with self.container.db.engine.begin() as conn:
            for table in PAYOUT_TABLES + TABLES:
                await conn.execute(delete(table))

    # --- rules ------------------------------------------------------------------------------

    @rule(
        currency=st.sampled_from(CURRENCIES),
        specs=st.lists(share_spec, min_size=1, max_size=3),
        declined=st.booleans(),
    )
    def pay(
        self, currency: str, specs: list[tuple[str, int, int, list[int], int]], declined: bool
    ) -> None:
        self.counter += 1
        order_id = f"ord_sm{self.counter}"
        shares = []
        for i, (vendor, gross, tax_pct, lines, discount) in enumerate(specs):
            tax = gross * tax_pct // 100
            # Commission within what is left after tax, so earnings stay >= 0.
            room = gross - tax
            amounts = []
            for amount in lines:
                amount = min(amount, room)
                room -= amount
                amounts.append(amount)
            vo = f"vo_sm{self.counter}_{i}"
            shares.append(
                payments.VendorShare(
                    vendor_order_id=vo,
                    vendor_id=vendor,
                    gross_amount=gross,
                    tax_amount=tax,
                    commission_amount=sum(amounts),
                    commission_tax_amount=0,
                    platform_discount_amount=discount,
                    lines=tuple(
                        payments.CommissionLine(f"{vo}_l{j}", "cr", 1000, a)
                        for j, a in enumerate(amounts)
                    ),
                )
            )
        view = self.run(self._pay(order_id, currency, shares, declined))
        assert view.status == ("failed" if declined else "succeeded")
        if not declined:
            self.model.captured[currency] += view.amount
        for s in shares:
            self.model.shares.append(
                ShareModel(
                    s.vendor_order_id, order_id, s.vendor_id, currency, s.gross_amount, not declined
                )
            )

    async def _pay(
        self, order_id: str, currency: str, shares: list[payments.VendorShare], declined: bool
    ) -> payments.PaymentView:
        async with self.container.uow_factory() as uow:
            started = await payments.start_payment(
                uow,
                order_id=order_id,
                customer_id="usr_sm",
                currency=currency,
                amount=sum(s.gross_amount for s in shares),
                provider="sandbox",
                payment_method="pm_card_declined" if declined else "pm_card_visa",
                shares=shares,
                idempotency_key=order_id,
            )
            await uow.commit()
            view = await payments.confirm_payment(
                uow, self.container.payment_gateways, payment_id=started.id
            )
            await uow.commit()
        return view

    @precondition(lambda self: any(s.paid for s in self.model.shares))
    @rule(data=st.data(), fraction=st.integers(min_value=1, max_value=120))
    def refund(self, data: st.DataObject, fraction: int) -> None:
        candidates = [s for s in self.model.shares if s.paid]
        target = data.draw(st.sampled_from(candidates))
        amount = max(1, target.gross * fraction // 100)
        fits = target.refunded + target.charged_back + amount <= target.gross
        refused = self.run(self._refund(target, amount))
        assert refused == (not fits)
        if fits:
            target.refunded += amount
            self.model.refunded[target.currency] += amount

    async def _refund(self, target: ShareModel, amount: int) -> bool:
        self.counter += 1
        async with self.container.uow_factory() as uow:
            try:
                await payments.request_refund(
                    uow,
                    order_id=target.order_id,
                    vendor_order_id=target.vendor_order_id,
                    amount=amount,
                    reason="state machine",
                    idempotency_key=f"rf{self.counter}",
                    actor_id="usr_sm",
                )
            except payments.RefundExceedsRemaining:
                return True
            await uow.commit()
        await self.container.jobs.drain()  # the refund job, then the provider's webhook
        return False

    @precondition(lambda self: any(s.paid and not s.delivered for s in self.model.shares))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        target = data.draw(
            st.sampled_from([s for s in self.model.shares if s.paid and not s.delivered])
        )
        target.delivered = True
        self.run(self._deliver(target.vendor_order_id))

    async def _deliver(self, vendor_order_id: str) -> None:
        async with self.container.uow_factory() as uow:
            await payments.vendor_order_delivered(
                uow, vendor_order_id=vendor_order_id, delivered_at=self.model.now
            )
            await uow.commit()

    @rule(days=st.integers(min_value=3, max_value=8))
    def time_passes(self, days: int) -> None:
        self.model.now += timedelta(days=days)
        self.run(self._release())

    async def _release(self) -> None:
        async with self.container.uow_factory() as uow:
            await ledger_service.release_due_holds(uow, now=self.model.now)
            await uow.commit()

    @rule()
    def webhooks_arrive(self) -> None:
        """Deliver whatever the provider still has queued (duplicates of decided outcomes)."""
        self.run(self.container.jobs.drain())

    # --- chargebacks ------------------------------------------------------------------------

    def _disputable_orders(self) -> list[str]:
        disputed = {d.order_id for d in self.model.disputes}
        return sorted({s.order_id for s in self.model.shares if s.paid} - disputed)

    @precondition(lambda self: bool(self._disputable_orders()))
    @rule(
        data=st.data(),
        fraction=st.integers(min_value=1, max_value=100),
        fee=st.sampled_from((0, 1_500)),
    )
    def dispute_opens(self, data: st.DataObject, fraction: int, fee: int) -> None:
        """The provider disputes part or all of a payment (possibly more than is left after
        refunds: the excess is the platform's loss, never the vendors')."""
        order_id = data.draw(st.sampled_from(self._disputable_orders()))
        shares = [s for s in self.model.shares if s.order_id == order_id]
        amount = max(1, sum(s.gross for s in shares) * fraction // 100)
        room = sum(s.gross - s.refunded - s.charged_back for s in shares)
        self.counter += 1
        dispute = DisputeModel(
            f"dp_sm{self.counter}", order_id, shares[0].currency, amount, fee, {}
        )
        dispute.parts = self.run(self._dispute(dispute, None))
        self.model.disputes.append(dispute)
        self.model.charged_back[dispute.currency] += amount
        self.model.dispute_fees[dispute.currency] += fee
        for s in shares:
            s.charged_back += dispute.parts.get(s.vendor_order_id, 0)
        # The vendors absorb what is still theirs, no more.
        assert sum(dispute.parts.values()) == min(amount, room)

    @precondition(lambda self: any(d.status == "open" for d in self.model.disputes))
    @rule(data=st.data(), won=st.booleans())
    def dispute_closes(self, data: st.DataObject, won: bool) -> None:
        dispute = data.draw(st.sampled_from([d for d in self.model.disputes if d.status == "open"]))
        dispute.status = "won" if won else "lost"
        self.run(self._dispute(dispute, dispute.status))
        if won:
            self.model.charged_back[dispute.currency] -= dispute.amount
            self.model.dispute_fees[dispute.currency] -= dispute.fee
            for s in self.model.shares:
                s.charged_back -= dispute.parts.get(s.vendor_order_id, 0)

    async def _dispute(self, dispute: DisputeModel, outcome: str | None) -> dict[str, int]:
        async with self.container.uow_factory() as uow:
            payment = await payments_repo.payment_by_order(uow.session, dispute.order_id)
            assert payment is not None
            event = ProviderEvent(
                f"evt_{dispute.dispute_id}_{outcome}",
                "charge.dispute.closed" if outcome else "charge.dispute.created",
                "dispute_closed" if outcome else "dispute_opened",
                provider_payment_id=payment.provider_payment_id,
                provider_dispute_id=dispute.dispute_id,
                dispute_amount=dispute.amount,
                dispute_fee=dispute.fee,
                dispute_outcome="won" if outcome == "won" else "lost" if outcome else None,
            )
            if outcome is None:
                opened = await chargeback_service.open_chargeback(
                    uow, payment, event, reverse_commission=True
                )
                assert opened is not None
                view = await chargeback_service.get_chargeback(uow, opened.id)
                parts = {a.vendor_order_id: a.amount for a in view.allocations}
                assert view.unallocated_amount == dispute.amount - sum(parts.values())
            else:
                closed = await chargeback_service.close_chargeback(
                    uow, payment, event, reverse_commission=True
                )
                assert closed
                parts = dispute.parts
            await uow.commit()
        return parts

    # --- payouts (kept apart from the payment and refund rules above) ----------------------

    @rule(
        data=st.data(),
        fraction=st.integers(min_value=1, max_value=100)
        | st.integers(min_value=101, max_value=150),
    )
    def request_payout(self, data: st.DataObject, fraction: int) -> None:
        # Mostly where money is available (as the last check found it), so payouts are made.
        funded = sorted(k for k, v in self.available_now.items() if v > 0)
        pairs = funded or [(v, c) for v in VENDORS for c in CURRENCIES]
        vendor, currency = data.draw(st.sampled_from(pairs))
        available = self.run(self._available(vendor, currency))
        amount = max(1, available * fraction // 100)
        before = self.run(self._ledger_size())
        payout_id = self.run(self._request_payout(vendor, currency, amount))
        assert (payout_id is not None) == (amount <= available)
        event("payout made" if payout_id else "payout refused")
        if payout_id is None:
            assert self.run(self._ledger_size()) == before  # a refusal changes nothing
            return
        self.model.payouts[payout_id] = PayoutModel(vendor, currency, amount, available)
        assert self.run(self._available(vendor, currency)) == available - amount

    async def _available(self, vendor: str, currency: str) -> int:
        async with self.container.uow_factory() as uow:
            return await payouts_service.available_balance(uow, vendor, currency)

    async def _ledger_size(self) -> int:
        async with self.container.db.session() as s:
            return int(await s.scalar(select(func.count()).select_from(LedgerPosting)) or 0)

    async def _request_payout(self, vendor: str, currency: str, amount: int) -> str | None:
        self.counter += 1
        gateways = self.container.payment_gateways
        async with self.container.uow_factory() as uow:
            who = await payouts_service.payee(uow, gateways, vendor)
            assert isinstance(who, payouts_service.Payee)
            payout, _available, refusal = await payouts_service.create_payout(
                uow,
                gateways,
                payee=who,
                currency=currency,
                requested=amount,
                idempotency_key=f"po{self.counter}",
                method="manual",
                requested_by="usr_sm",
            )
            if payout is None:
                assert refusal == "exceeds_available"
                return None
            await uow.commit()
            return payout.id

    @precondition(lambda self: bool(self.model.payouts))
    @rule(data=st.data(), succeed=st.booleans())
    def payout_outcome(self, data: st.DataObject, succeed: bool) -> None:
        """The provider's word on a payout (its webhook), in any order with the job's."""
        payout_id = data.draw(st.sampled_from(sorted(self.model.payouts)))
        self.run(self._payout_outcome(payout_id, succeed))

    async def _payout_outcome(self, payout_id: str, succeed: bool) -> None:
        async with self.container.uow_factory() as uow:
            if succeed:
                await payout_execution.record_payout_paid(uow, payout_id, provider_transfer_id=None)
            else:
                await payout_execution.record_payout_failure(
                    uow, payout_id, code="no_account", message=None, provider_transfer_id=None
                )
            await uow.commit()

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def ledger_holds(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        async with self.container.db.session() as s:
            unbalanced = (
                await s.execute(
                    select(LedgerPosting.transaction_id, LedgerPosting.currency)
                    .group_by(LedgerPosting.transaction_id, LedgerPosting.currency)
                    .having(func.sum(LedgerPosting.amount) != 0)
                )
            ).all()
            assert unbalanced == []
            sums: dict[tuple[str, str], int] = defaultdict(int)
            for account, currency, total in (
                await s.execute(
                    select(
                        LedgerPosting.account,
                        LedgerPosting.currency,
                        func.sum(LedgerPosting.amount),
                    ).group_by(LedgerPosting.account, LedgerPosting.currency)
                )
            ).all():
                sums[(account, currency)] = int(total)
            debited_available = set(
                (
                    await s.scalars(
                        select(LedgerPosting.account)
                        .join(
                            LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id
                        )
                        .where(
                            # refunds, and chargebacks (adjustments), may debit available
                            LedgerTransaction.type.in_(("refund", "adjustment")),
                            LedgerPosting.account.like("vendor_available:%"),
                            LedgerPosting.amount > 0,
                        )
                    )
                ).all()
            )
            fees = dict(
                (
                    await s.execute(
                        select(Payment.currency, func.sum(Payment.fee_amount)).group_by(
                            Payment.currency
                        )
                    )
                ).all()
            )
            stored = (
                await s.execute(select(PaymentShare.vendor_order_id, PaymentShare.refunded_amount))
            ).all()
            paid_out = await self._paid_out(s)
            stored_payouts = (
                await s.execute(select(Payout.id, Payout.amount, Payout.status))
            ).all()
        for currency in CURRENCIES:

            def total(prefix: str, currency: str = currency) -> int:
                return sum(
                    v for (a, c), v in sums.items() if c == currency and a.startswith(prefix)
                )

            owed = -(total("vendor_") + total("platform_commission_revenue") + total("tax_payable"))
            owed -= total("payouts_in_transit:")
            net = (
                self.model.captured[currency]
                - self.model.refunded[currency]
                - self.model.charged_back[currency]
            )
            assert (
                owed - total("platform_discount_expense") - total("platform_dispute_loss")
                == net - paid_out[currency]
            )
            dispute_fees = self.model.dispute_fees[currency]
            cleared = net - int(fees.get(currency, 0) or 0) - dispute_fees - paid_out[currency]
            assert total("gateway_clearing:") == cleared
            assert total("gateway_dispute_fee_expense:") == dispute_fees
            assert total("gateway_fee_expense:") == int(fees.get(currency, 0) or 0)
        for (account, _currency), value in sums.items():
            if account.startswith("vendor_pending:"):
                assert value <= 0, account  # credit-normal: owed to the vendor, never negative
            if account.startswith("vendor_available:") and value > 0:
                assert account in debited_available
        assert dict(stored) == {s.vendor_order_id: s.refunded for s in self.model.shares}
        self._payouts_hold(sums, stored_payouts)

    async def _paid_out(self, s: Any) -> dict[str, int]:
        rows = await s.execute(
            select(Payout.currency, func.sum(Payout.amount))
            .where(Payout.status == "paid")
            .group_by(Payout.currency)
        )
        paid: dict[str, int] = defaultdict(int)
        for currency, total in rows.all():
            paid[currency] = int(total)
        return paid

    def _payouts_hold(self, sums: dict[tuple[str, str], int], stored: Any) -> None:
        """Every payout took at most what was available when it was made; money in transit
        is exactly the open payouts."""
        self.available_now = {
            (account.removeprefix("vendor_available:"), currency): -value
            for (account, currency), value in sums.items()
            if account.startswith("vendor_available:")
        }
        assert {row[0] for row in stored} == set(self.model.payouts)
        in_transit: dict[tuple[str, str], int] = defaultdict(int)
        for payout_id, amount, status in stored:
            made = self.model.payouts[payout_id]
            assert amount == made.amount
            assert 0 < made.amount <= made.available_before
            if status in {"pending", "in_transit"}:
                in_transit[(f"payouts_in_transit:{made.vendor_id}", made.currency)] -= amount
        assert {k: v for k, v in sums.items() if k[0].startswith("payouts_in_transit:") and v} == {
            k: v for k, v in in_transit.items() if v
        }


def test_ledger_invariants_hold_for_any_sequence(settings_: Settings, database_url_: str) -> None:
    loop = asyncio.new_event_loop()
    db = Database.connect(database_url_, pool_size=5, max_overflow=5)
    container = build_container(settings_, db=db, inline_jobs=True)
    loop.run_until_complete(container.jobs.startup())
    loop.run_until_complete(_payable_vendors(container))
    LedgerMachine.loop = loop
    LedgerMachine.container = container
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=30,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        machine = LedgerMachine.__new__(LedgerMachine)
        loop.run_until_complete(LedgerMachine._empty(machine))
        loop.run_until_complete(_remove_vendors(container))
        loop.run_until_complete(container.jobs.stop())
        loop.run_until_complete(container.cache.close())
        loop.run_until_complete(db.dispose())
        loop.close()


async def _payable_vendors(container: Container) -> None:
    """VENDORS as vendors that may be paid: KYC verified, with a bank account the sandbox
    pays. Written directly (no audit entries left in the shared database)."""
    now = utcnow()
    async with container.uow_factory() as uow:
        for vendor_id in VENDORS:
            account_id = new_id("pac")
            uow.session.add_all(
                [
                    Vendor(
                        id=vendor_id,
                        slug=vendor_id.replace("_", "-"),
                        name=vendor_id,
                        status="approved",
                        owner_id="usr_sm",
                        legal_name=vendor_id,
                        country="DE",
                        address={},
                        contact_email=f"{vendor_id}@example.com",
                        default_currency="USD",
                        currencies=list(CURRENCIES),
                        policies={},
                        kyc_status="verified",
                        created_at=now,
                        updated_at=now,
                    ),
                    PayoutAccount(
                        id=account_id,
                        vendor_id=vendor_id,
                        type="bank",
                        holder_name=vendor_id,
                        country="DE",
                        details_encrypted=container.cipher.encrypt(
                            '{"iban": "DE89370400440532013000"}',
                            context=payout_context(account_id),
                        ),
                        masked="****3000",
                        created_at=now,
                        updated_at=now,
                    ),
                ]
            )
        await uow.commit()


async def _remove_vendors(container: Container) -> None:
    async with container.db.engine.begin() as conn:
        await conn.execute(delete(PayoutAccount).where(PayoutAccount.vendor_id.in_(VENDORS)))
        await conn.execute(delete(Vendor).where(Vendor.id.in_(VENDORS)))


@pytest.fixture
def settings_(settings: Settings) -> Settings:
    return settings


@pytest.fixture
def database_url_(database_url: str) -> str:
    return database_url
