"""SANDBOX payment provider: a Stripe-like stand-in for trying the marketplace out and for
tests. It moves no money. Never enable it where real customers pay.

It behaves like a gateway on the other side of the network:

* test payment methods decide the outcome: `pm_card_visa` succeeds, `pm_card_declined`
  is declined (`card_declined`), `pm_card_insufficient_funds` is declined
  (`insufficient_funds`), `pm_card_visa_timeout` succeeds but "loses" the response the
  first time (ProviderUnavailable), to exercise retries, and `pm_card_refund_fail` succeeds
  but its refunds fail (`expired_or_canceled_card`), like Stripe's refund-failure card,
  and `pm_card_chargeback` succeeds and is then disputed by the cardholder's bank at once
  (`charge.dispute.created`, reason `fraudulent`, a dispute fee of 1500 minor units), like
  Stripe's `pm_card_createDispute`; `close_dispute` decides it (`won` or `lost`) and emits
  `charge.dispute.closed`;
* it keeps its own records (`payments_sandbox_*`, standing for the provider's database),
  keyed by the idempotency key we send, so a repeated call returns the first result;
* payouts (`transfer`) are accepted at once and settled by a `payout.paid` or
  `payout.failed` event: the destinations in `TEST_DESTINATIONS` fail (Stripe's failing
  test bank accounts: IBAN `DE62370400440532013001`, US `000111111116` `no_account`,
  `000111111113` `account_closed`, ...), every other one is paid; `TIMEOUT_DESTINATION`
  (`000999999991`) is paid but its first response is lost;
* it charges a fee (2.9 % + 30 minor units, like a card processor);
* it lists its balance transactions for a period (`list_records`), which reconciliation
  compares with the ledger;
* it emits Stripe-shaped webhook events (`payment_intent.succeeded`,
  `payment_intent.payment_failed`, `charge.refunded`, `charge.refund.updated`,
  `charge.dispute.created`, `charge.dispute.closed`, `payout.paid`, `payout.failed`), signed
  like Stripe's, which a job delivers to our webhook code path (the service behind
  `POST /v1/webhooks/payments/sandbox`), so the real webhook path is exercised without
  any network.

Its records are written in transactions of its own (never the caller's), as a remote
provider's would be: the caller has no transaction open while it calls a provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, Literal, cast

import orjson
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from marketplace.payments.models.sandbox import (
    SandboxDispute,
    SandboxEvent,
    SandboxIntent,
    SandboxRefund,
    SandboxTransfer,
)
from marketplace.payments.providers import signature
from marketplace.payments.providers.base import (
    ChargeRequest,
    ChargeResult,
    InvalidSignature,
    ProviderEvent,
    ProviderRecord,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
)
from marketplace.payments.providers.sandbox_payouts import (
    TEST_DESTINATIONS,
    TIMEOUT_DESTINATION,
    SandboxPayouts,
)
from marketplace.platform import direct
from marketplace.platform.clock import utcnow
from marketplace.platform.db import (
    built_once,
    insert_ignore,
    insert_ignore_rows,
    is_unique_violation,
    transient,
)
from marketplace.platform.ids import new_id
from marketplace.platform.money import Money, percent_of
from marketplace.platform.uow import UnitOfWork, UnitOfWorkFactory

_intents = cast(Table, SandboxIntent.__table__)
_events = cast(Table, SandboxEvent.__table__)
_MARK_DELIVERED = (
    update(_events)
    .where(_events.c.id == bindparam("event_id"))
    .values(delivered_at=bindparam("delivered"))
    .returning(_events.c.payload)
)

DELIVER_WEBHOOK_JOB: Final = "payments.deliver_sandbox_webhook"
SIGNATURE_HEADER: Final = "sandbox-signature"
FEE_BPS: Final = 290
FEE_FIXED: Final = 30
# Stripe's dispute fee is 15.00 in the account's currency; the sandbox charges 1500 minor
# units whatever the currency, and gives it back when the dispute is won.
DISPUTE_FEE: Final = 1500
DISPUTE_REASON: Final = "fraudulent"
CHARGEBACK_METHOD: Final = "pm_card_chargeback"

# payment method -> (failure code, message); None: succeeds.
TEST_METHODS: Final[Mapping[str, tuple[str, str] | None]] = {
    "pm_card_visa": None,
    "pm_card_visa_timeout": None,
    "pm_card_refund_fail": None,
    CHARGEBACK_METHOD: None,
    "pm_card_declined": ("card_declined", "Your card was declined."),
    "pm_card_insufficient_funds": ("insufficient_funds", "Your card has insufficient funds."),
}


def sandbox_fee(amount: int, currency: str) -> int:
    return percent_of(Money(amount, currency), FEE_BPS).amount + FEE_FIXED


class SandboxProvider(SandboxPayouts):
    """SANDBOX: see the module docstring. No money moves."""

    name = "sandbox"

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        webhook_secret: bytes,
        webhook_tolerance: timedelta = signature.DEFAULT_TOLERANCE,
    ) -> None:
        self._uow_factory = uow_factory
        self._secret = webhook_secret
        self._tolerance = webhook_tolerance
        # Keys whose response was already "lost" once (pm_card_visa_timeout).
        self._timed_out: set[str] = set()

    def accepts_payment_method(self, payment_method: str) -> bool:
        return payment_method in TEST_METHODS

    # --- payments ---------------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        async with self._uow_factory() as uow:
            if request.payment_method == CHARGEBACK_METHOD:
                intent = await self._create_intent(uow, request)
                await uow.commit()
            else:
                intent = await self._write_intent(uow, request)
        if request.payment_method == "pm_card_visa_timeout" and (
            request.idempotency_key not in self._timed_out
        ):
            self._timed_out.add(request.idempotency_key)
            raise ProviderUnavailable("sandbox: the charge went through but the response was lost")
        return _charge_result(intent)

    async def _intent_by_key(self, uow: UnitOfWork, key: str) -> SandboxIntent | None:
        found: SandboxIntent | None = await uow.session.scalar(
            select(SandboxIntent).where(SandboxIntent.idempotency_key == key)
        )
        return found

    async def _write_intent(self, uow: UnitOfWork, request: ChargeRequest) -> SandboxIntent:
        """The intent and its event written and committed in one statement, as a gateway
        answers a charge in one request; a repeated key writes nothing (the intent's unique
        key refuses the commit) and answers the first intent, emitting nothing."""
        await uow.as_one_statement()
        intent = transient(SandboxIntent, **self._intent_values(request))
        uow.add_new(intent)
        self._emit(uow, _event_type(intent), _intent_object(intent))
        try:
            await uow.commit()
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            await uow.rollback()
            existing = await self._intent_by_key(uow, request.idempotency_key)
            assert existing is not None
            await uow.commit()  # ends the read, keeping the row's values (a rollback expires)
            return existing
        return intent

    def _intent_values(self, request: ChargeRequest) -> dict[str, Any]:
        failure = TEST_METHODS.get(
            request.payment_method, ("payment_method_unknown", "No such payment method.")
        )
        succeeded = failure is None
        return {
            "id": new_id("pi"),
            "idempotency_key": request.idempotency_key,
            "amount": request.amount,
            "currency": request.currency,
            "payment_method": request.payment_method,
            "status": "succeeded" if succeeded else "requires_payment_method",
            "amount_received": request.amount if succeeded else 0,
            "amount_refunded": 0,
            "fee": sandbox_fee(request.amount, request.currency) if succeeded else 0,
            "failure_code": None if failure is None else failure[0],
            "failure_message": None if failure is None else failure[1],
            "meta": dict(request.metadata),
            "created_at": utcnow(),
        }

    async def _create_intent(self, uow: UnitOfWork, request: ChargeRequest) -> SandboxIntent:
        """The intent inserted on its own (a repeated key inserts nothing and reads the first
        intent), for a charge whose intent is needed in the transaction (its dispute)."""
        values = self._intent_values(request)
        inserted = (
            await direct.execute(
                uow.session,
                built_once(
                    ("insert_ignore", _intents, uow.dialect),
                    partial(insert_ignore_rows, _intents, uow.dialect),
                ),
                values,
            )
        ).rowcount
        if inserted != 1:
            # The key was used before: the first intent is the answer, and nothing is emitted.
            existing = await self._intent_by_key(uow, request.idempotency_key)
            assert existing is not None
            return existing
        intent = transient(SandboxIntent, **values)  # what was inserted, without reading it back
        self._emit(uow, _event_type(intent), _intent_object(intent))
        if intent.status == "succeeded" and request.payment_method == CHARGEBACK_METHOD:
            await self._open_dispute(uow, intent)
        return intent

    # --- disputes ---------------------------------------------------------------------------

    async def _open_dispute(self, uow: UnitOfWork, intent: SandboxIntent) -> None:
        dispute = SandboxDispute(
            id=new_id("dp"),
            intent_id=intent.id,
            amount=intent.amount_received - intent.amount_refunded,
            currency=intent.currency,
            fee=DISPUTE_FEE,
            reason=DISPUTE_REASON,
            status="needs_response",
            created_at=utcnow(),
            closed_at=None,
        )
        uow.session.add(dispute)
        await uow.session.flush()
        self._emit(uow, "charge.dispute.created", _dispute_object(intent, dispute))

    async def close_dispute(self, dispute_id: str, outcome: Literal["won", "lost"]) -> None:
        """Decide a dispute (what the card network does after the evidence), once; emits
        `charge.dispute.closed`. Test and demo control, as Stripe's test evidence is."""
        async with self._uow_factory() as uow:
            closed = (
                await uow.session.execute(
                    update(SandboxDispute)
                    .where(
                        SandboxDispute.id == dispute_id, SandboxDispute.status == "needs_response"
                    )
                    .values(status=outcome, closed_at=utcnow()),
                    execution_options={"synchronize_session": False},
                )
            ).rowcount  # type: ignore[attr-defined]
            if closed == 1:
                dispute = await uow.session.get(SandboxDispute, dispute_id, populate_existing=True)
                assert dispute is not None
                intent = await uow.session.get(SandboxIntent, dispute.intent_id)
                assert intent is not None
                self._emit(uow, "charge.dispute.closed", _dispute_object(intent, dispute))
            await uow.commit()

    async def dispute_of(self, provider_payment_id: str) -> str | None:
        """The dispute opened on an intent, if any (test and demo control)."""
        async with self._uow_factory() as uow:
            found: str | None = await uow.session.scalar(
                select(SandboxDispute.id).where(SandboxDispute.intent_id == provider_payment_id)
            )
        return found

    async def refund(self, request: RefundRequest) -> RefundResult:
        async with self._uow_factory() as uow:
            found = await uow.session.scalar(
                select(SandboxRefund).where(
                    SandboxRefund.idempotency_key == request.idempotency_key
                )
            )
            if found is None:
                found = await self._create_refund(uow, request)
            await uow.commit()
        return RefundResult(
            provider_refund_id=found.id,
            status="succeeded" if found.status == "succeeded" else "failed",
            failure_code=found.failure_code,
            failure_message=None
            if found.failure_code is None
            else "Refund refused by the sandbox.",
        )

    async def _create_refund(self, uow: UnitOfWork, request: RefundRequest) -> SandboxRefund:
        refund_id = new_id("re")
        # The key first: of two concurrent calls with one key, only the inserter refunds.
        inserted = (
            await uow.session.execute(
                insert_ignore(
                    SandboxRefund.__table__,  # type: ignore[arg-type]
                    uow.dialect,
                    [
                        {
                            "id": refund_id,
                            "idempotency_key": request.idempotency_key,
                            "intent_id": request.provider_payment_id,
                            "amount": request.amount,
                            "status": "pending",
                            "failure_code": None,
                            "meta": dict(request.metadata),
                            "created_at": utcnow(),
                        }
                    ],
                )
            )
        ).rowcount  # type: ignore[attr-defined]
        intent = await uow.session.get(SandboxIntent, request.provider_payment_id)
        if inserted == 1 and intent is not None and intent.payment_method == "pm_card_refund_fail":
            await uow.session.execute(
                update(SandboxRefund)
                .where(SandboxRefund.id == refund_id)
                .values(status="failed", failure_code="expired_or_canceled_card")
            )
        elif inserted == 1:
            # The provider's own guard: never refund more than it received and still holds
            # (a disputed amount was already taken back by the card network).
            disputed = (
                select(func.coalesce(func.sum(SandboxDispute.amount), 0))
                .where(
                    SandboxDispute.intent_id == request.provider_payment_id,
                    SandboxDispute.status != "won",
                )
                .scalar_subquery()
            )
            taken = (
                await uow.session.execute(
                    update(SandboxIntent)
                    .where(
                        SandboxIntent.id == request.provider_payment_id,
                        SandboxIntent.amount_received - SandboxIntent.amount_refunded - disputed
                        >= request.amount,
                    )
                    .values(amount_refunded=SandboxIntent.amount_refunded + request.amount)
                )
            ).rowcount  # type: ignore[attr-defined]
            status, failure = ("succeeded", None) if taken == 1 else ("failed", "amount_too_large")
            await uow.session.execute(
                update(SandboxRefund)
                .where(SandboxRefund.id == refund_id)
                .values(status=status, failure_code=failure)
            )
        refund = await uow.session.scalar(
            select(SandboxRefund)
            .where(SandboxRefund.idempotency_key == request.idempotency_key)
            .execution_options(populate_existing=True)
        )
        assert refund is not None
        if inserted == 1 and refund.status == "failed":
            self._emit(uow, "charge.refund.updated", _refund_object(request, refund))
        if inserted == 1 and refund.status == "succeeded":
            intent = await uow.session.scalar(
                select(SandboxIntent)
                .where(SandboxIntent.id == request.provider_payment_id)
                .execution_options(populate_existing=True)
            )
            assert intent is not None
            self._emit(uow, "charge.refunded", _charge_object(intent, refund))
        return refund

    # --- balance transactions ---------------------------------------------------------------

    async def list_records(self, *, start: datetime, end: datetime) -> list[ProviderRecord]:
        """Like Stripe's `GET /v1/balance_transactions?created[gte]=&created[lt]=`: charges,
        refunds, dispute withdrawals, (won) dispute reversals and paid transfers created in
        [start, end)."""
        records: list[ProviderRecord] = []
        async with self._uow_factory() as uow:
            intents = await uow.session.scalars(
                select(SandboxIntent).where(
                    SandboxIntent.status == "succeeded",
                    SandboxIntent.created_at >= start,
                    SandboxIntent.created_at < end,
                )
            )
            for intent in intents:
                records.append(
                    ProviderRecord(
                        "charge",
                        intent.id,
                        intent.amount_received,
                        intent.fee,
                        intent.currency,
                        intent.created_at,
                    )
                )
            refunds = await uow.session.execute(
                select(SandboxRefund, SandboxIntent.currency)
                .join(SandboxIntent, SandboxIntent.id == SandboxRefund.intent_id)
                .where(
                    SandboxRefund.status == "succeeded",
                    SandboxRefund.created_at >= start,
                    SandboxRefund.created_at < end,
                )
            )
            for refund, currency in refunds.all():
                records.append(
                    ProviderRecord(
                        "refund", refund.id, -refund.amount, 0, currency, refund.created_at
                    )
                )
            opened = await uow.session.scalars(
                select(SandboxDispute).where(
                    SandboxDispute.created_at >= start, SandboxDispute.created_at < end
                )
            )
            for dispute in opened:
                records.append(
                    ProviderRecord(
                        "dispute",
                        dispute.id,
                        -dispute.amount,
                        dispute.fee,
                        dispute.currency,
                        dispute.created_at,
                    )
                )
            won = await uow.session.scalars(
                select(SandboxDispute).where(
                    SandboxDispute.status == "won",
                    SandboxDispute.closed_at >= start,
                    SandboxDispute.closed_at < end,
                )
            )
            for dispute in won:
                assert dispute.closed_at is not None
                records.append(
                    ProviderRecord(
                        "dispute_reversal",
                        dispute.id,
                        dispute.amount,
                        -dispute.fee,
                        dispute.currency,
                        dispute.closed_at,
                    )
                )
            transfers = await uow.session.scalars(
                select(SandboxTransfer).where(
                    SandboxTransfer.status == "paid",
                    SandboxTransfer.created_at >= start,
                    SandboxTransfer.created_at < end,
                )
            )
            for transfer in transfers:
                # Money sent to a vendor leaves our balance; the sandbox charges no fee.
                records.append(
                    ProviderRecord(
                        "transfer",
                        transfer.id,
                        -transfer.amount,
                        0,
                        transfer.currency,
                        transfer.created_at,
                    )
                )
        return records

    # --- webhooks ---------------------------------------------------------------------------

    def _emit(self, uow: UnitOfWork, type_: str, obj: dict[str, Any]) -> None:
        event_id = new_id("evt")
        now = utcnow()
        payload = {
            "id": event_id,
            "object": "event",
            "type": type_,
            "created": int(now.timestamp()),
            "livemode": False,
            "data": {"object": obj},
        }
        uow.add_new(
            transient(
                SandboxEvent,
                id=event_id,
                type=type_,
                payload=payload,
                created_at=now,
                delivered_at=None,
            )
        )
        # Delivered after this transaction commits, asynchronously, as a gateway would.
        uow.enqueue(DELIVER_WEBHOOK_JOB, {"event_id": event_id})

    async def signed_delivery(
        self, uow: UnitOfWork, event_id: str, *, now: datetime | None = None
    ) -> tuple[bytes, dict[str, str]] | None:
        """The body and headers of an event's delivery, signed now; None if unknown."""
        # Noted as delivered and read in one statement: a checkout's webhook is one of the
        # few follow-ups a worker runs during a flash sale.
        payload = (
            await direct.execute(
                uow.session, _MARK_DELIVERED, {"event_id": event_id, "delivered": utcnow()}
            )
        ).scalar()
        if payload is None:
            return None
        body = orjson.dumps(payload)
        timestamp = int((now or utcnow()).timestamp())
        return body, {SIGNATURE_HEADER: signature.sign(self._secret, body, timestamp)}

    def sign(self, body: bytes, timestamp: int) -> str:
        return signature.sign(self._secret, body, timestamp)

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        signature.verify(
            [self._secret], body, headers.get(SIGNATURE_HEADER), now=now, tolerance=self._tolerance
        )

    def parse_webhook(self, body: bytes) -> ProviderEvent:
        event_id, type_, obj = signature.event_envelope(body, who="sandbox")
        meta = obj.get("metadata") or {}
        if type_ == "payment_intent.succeeded":
            return ProviderEvent(
                event_id,
                type_,
                "payment_succeeded",
                payment_id=meta.get("payment_id"),
                provider_payment_id=obj.get("id"),
                amount_captured=int(obj.get("amount_received", 0)),
                fee_amount=int(obj.get("fee", 0)),
            )
        if type_ == "payment_intent.payment_failed":
            error = obj.get("last_payment_error") or {}
            return ProviderEvent(
                event_id,
                type_,
                "payment_failed",
                payment_id=meta.get("payment_id"),
                provider_payment_id=obj.get("id"),
                failure_code=error.get("code"),
                failure_message=error.get("message"),
            )
        if type_ == "charge.refunded":
            refund = (obj.get("refunds") or {}).get("data", [{}])[0]
            return ProviderEvent(
                event_id,
                type_,
                "refund_succeeded",
                payment_id=meta.get("payment_id"),
                provider_payment_id=obj.get("payment_intent"),
                amount_captured=int(obj.get("amount_captured", 0)),
                fee_amount=int(obj.get("fee", 0)),
                refund_id=(refund.get("metadata") or {}).get("refund_id"),
                provider_refund_id=refund.get("id"),
            )
        if type_ == "charge.refund.updated" and obj.get("status") == "failed":
            return ProviderEvent(
                event_id,
                type_,
                "refund_failed",
                payment_id=meta.get("payment_id"),
                provider_payment_id=obj.get("payment_intent"),
                failure_code=obj.get("failure_reason"),
                failure_message="Refund refused by the sandbox.",
                refund_id=meta.get("refund_id"),
                provider_refund_id=obj.get("id"),
            )
        if type_ in {"charge.dispute.created", "charge.dispute.closed"}:
            return _dispute_event(event_id, type_, obj)
        if type_ in {"payout.paid", "payout.failed"}:
            return ProviderEvent(
                event_id,
                type_,
                "payout_paid" if type_ == "payout.paid" else "payout_failed",
                failure_code=obj.get("failure_code"),
                failure_message=obj.get("failure_message"),
                payout_id=meta.get("payout_id"),
                provider_transfer_id=obj.get("id"),
            )
        return ProviderEvent(event_id, type_, "other")


def _dispute_event(event_id: str, type_: str, obj: dict[str, Any]) -> ProviderEvent:
    status = obj.get("status")
    closed = type_ == "charge.dispute.closed"
    if closed and status not in {"won", "lost"}:
        return ProviderEvent(event_id, type_, "other")  # warning_closed: no money moved
    # The withdrawal is the balance transaction that takes money (negative amount); its fee
    # is the dispute fee.
    fee = sum(
        int(txn.get("fee", 0))
        for txn in obj.get("balance_transactions") or []
        if int(txn.get("amount", 0)) < 0
    )
    currency = obj.get("currency")
    return ProviderEvent(
        event_id,
        type_,
        "dispute_closed" if closed else "dispute_opened",
        payment_id=(obj.get("metadata") or {}).get("payment_id"),
        provider_payment_id=obj.get("payment_intent"),
        provider_dispute_id=obj.get("id"),
        dispute_amount=int(obj.get("amount", 0)),
        dispute_fee=fee,
        dispute_currency=str(currency).upper() if currency else None,
        dispute_reason=obj.get("reason"),
        dispute_outcome=status if closed else None,
    )


def _charge_result(intent: SandboxIntent) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult(
            provider_payment_id=intent.id,
            status="succeeded",
            amount_captured=intent.amount_received,
            fee_amount=intent.fee,
        )
    return ChargeResult(
        provider_payment_id=intent.id,
        status="failed",
        amount_captured=0,
        failure_code=intent.failure_code,
        failure_message=intent.failure_message,
    )


def _event_type(intent: SandboxIntent) -> str:
    """The event a new intent emits."""
    if intent.status == "succeeded":
        return "payment_intent.succeeded"
    return "payment_intent.payment_failed"


def _intent_object(intent: SandboxIntent) -> dict[str, Any]:
    error = None
    if intent.failure_code is not None:
        error = {"code": intent.failure_code, "message": intent.failure_message}
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_received": intent.amount_received,
        "currency": intent.currency.lower(),
        "status": intent.status,
        "fee": intent.fee,
        "last_payment_error": error,
        "metadata": intent.meta,
    }


def _refund_object(request: RefundRequest, refund: SandboxRefund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "currency": request.currency.lower(),
        "payment_intent": refund.intent_id,
        "status": refund.status,
        "failure_reason": refund.failure_code,
        "metadata": refund.meta,
    }


def _dispute_object(intent: SandboxIntent, dispute: SandboxDispute) -> dict[str, Any]:
    """Stripe's Dispute object, with its balance transactions (the withdrawal, and once won
    the reinstatement, which gives the fee back)."""
    currency = dispute.currency.lower()
    transactions: list[dict[str, Any]] = [
        {
            "id": "txn_" + dispute.id.removeprefix("dp_"),
            "object": "balance_transaction",
            "amount": -dispute.amount,
            "currency": currency,
            "fee": dispute.fee,
            "net": -dispute.amount - dispute.fee,
            "reporting_category": "dispute",
            "type": "adjustment",
            "source": dispute.id,
        }
    ]
    if dispute.status == "won":
        transactions.append(
            {
                "id": "txn_r" + dispute.id.removeprefix("dp_"),
                "object": "balance_transaction",
                "amount": dispute.amount,
                "currency": currency,
                "fee": -dispute.fee,
                "net": dispute.amount + dispute.fee,
                "reporting_category": "dispute_reversal",
                "type": "adjustment",
                "source": dispute.id,
            }
        )
    return {
        "id": dispute.id,
        "object": "dispute",
        "amount": dispute.amount,
        "balance_transactions": transactions,
        "charge": "ch_" + intent.id.removeprefix("pi_"),
        "created": int(dispute.created_at.timestamp()),
        "currency": currency,
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": intent.id,
        "reason": dispute.reason,
        "status": dispute.status,
    }


def _charge_object(intent: SandboxIntent, refund: SandboxRefund) -> dict[str, Any]:
    return {
        "id": "ch_" + intent.id.removeprefix("pi_"),
        "object": "charge",
        "payment_intent": intent.id,
        "amount": intent.amount,
        "amount_captured": intent.amount_received,
        "amount_refunded": intent.amount_refunded,
        "currency": intent.currency.lower(),
        "fee": intent.fee,
        "metadata": intent.meta,
        "refunds": {
            "data": [
                {
                    "id": refund.id,
                    "amount": refund.amount,
                    "status": refund.status,
                    "metadata": refund.meta,
                }
            ]
        },
    }


__all__ = [
    "CHARGEBACK_METHOD",
    "DELIVER_WEBHOOK_JOB",
    "DISPUTE_FEE",
    "SIGNATURE_HEADER",
    "TEST_DESTINATIONS",
    "TEST_METHODS",
    "TIMEOUT_DESTINATION",
    "InvalidSignature",
    "SandboxProvider",
    "sandbox_fee",
]
