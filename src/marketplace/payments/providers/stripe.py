"""Stripe adapter (Stripe Connect, separate charges and transfers), on the official `stripe`
SDK's async API over httpx, so no thread waits on Stripe.

* **Charge**: one `POST /v1/payment_intents` with `confirm=true` and the `pm_…` payment
  method checkout received from Stripe.js (redirect-based methods refused, so the answer is
  final), our payment and order ids in `metadata`, the order id as `transfer_group`, and our
  persisted key as `Idempotency-Key`. The fee is read from the charge's balance transaction
  (expanded in the same call). A decline (402 `card_error`) is a failed charge with the
  decline code; `requires_action` (3-D Secure, which a server-side confirm cannot complete)
  is a failed charge `authentication_required`; `processing` is not final yet, so it is
  `ProviderUnavailable` and the webhook settles the payment.
* **Refund**: `POST /v1/refunds` on the PaymentIntent with our refund id in `metadata`. With
  separate charges and transfers the refund comes out of the platform's balance and the
  ledger takes it back from the vendor's balance; Stripe's `reverse_transfer` applies only
  to destination charges, so it is not sent.
* **Transfer** (a vendor payout): `POST /v1/transfers` to the vendor's connected account.
  `destination` holds `stripe_account` (`acct_…`) and optionally `source_transaction` (a
  `ch_…` charge, so the transfer waits for that charge's funds) and `transfer_group`.
* **Balance transactions** (reconciliation): `GET /v1/balance_transactions` with
  `created[gte]` / `created[lt]` and `expand[]=data.source`, every page (the SDK's
  auto-paging). Types `charge` / `payment` are charges keyed by the charge's PaymentIntent,
  `refund` / `payment_refund` refunds, `adjustment`s reported as `dispute` /
  `dispute_reversal` a dispute's withdrawal and reinstatement, `transfer` a vendor payout;
  the rest (Stripe's own fees, payouts of the platform's balance...) is not ours to match.
* **Webhooks**: `Stripe-Signature` verified by `stripe.WebhookSignature.verify_header` with
  the configured tolerance (the SDK reads the clock itself); `payment_intent.succeeded` /
  `payment_failed`, `charge.refunded`, `refund.updated` / `charge.refund.updated`,
  `charge.dispute.created` / `charge.dispute.closed` (won or lost; `warning_closed` moved no
  money), `transfer.*` and `payout.*` are normalised. Webhook objects are not expanded, so a payment
  settled by its webhook records no fee (reconciliation reads it later).
* **Errors**: network errors, timeouts, 409 (a request with this key still running), 429
  and 5xx are `ProviderUnavailable` (a retry sends the same key); bad credentials, a key
  reused with other parameters and requests Stripe rejects are `ProviderError`.

Amounts: Stripe counts zero-decimal currencies (JPY, KRW, MGA…) in whole units, every other
currency in hundredths (ISK, HUF and IDR too), and three-decimal currencies in thousandths
ending in 0 (`units.py` converts exactly).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn, cast

import stripe

from marketplace.payments.providers.base import (
    ChargeRequest,
    ChargeResult,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderRecord,
    ProviderUnavailable,
    RecordKind,
    RefundRequest,
    RefundResult,
    TransferRequest,
    TransferResult,
)
from marketplace.payments.providers.signature import event_envelope
from marketplace.payments.providers.units import (
    AmountNotRepresentable,
    from_gateway_units,
    to_gateway_units,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "stripe-signature"
ZERO_DECIMAL: Final = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
     "XAF", "XOF", "XPF"}
)  # fmt: skip
THREE_DECIMAL: Final = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def exponent(currency: str) -> int:
    """Stripe's decimals for `currency`: 0 for its zero-decimal currencies, 3 for the
    three-decimal ones, otherwise 2, including ISK (whole krónur, written in hundredths)."""
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def _units(amount: int, currency: str) -> int:
    try:
        return to_gateway_units(
            amount,
            currency,
            exponent(currency),
            multiple_of=10 if currency in THREE_DECIMAL else 1,
        )
    except AmountNotRepresentable as error:
        raise ProviderError(f"stripe: {error}") from None


def _amount(units: int, currency: str) -> int:
    return from_gateway_units(units, currency.upper(), exponent(currency.upper()))


def _error_body(error: stripe.StripeError) -> dict[str, Any]:
    body = error.json_body if isinstance(error.json_body, dict) else {}
    inner = body.get("error")
    return inner if isinstance(inner, dict) else {}


def _raise_for(error: stripe.StripeError, action: str) -> NoReturn:
    """Errors that are not a verdict on the customer's payment."""
    status = error.http_status
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or (
        status is not None and (status >= 500 or status == 409)
    ):
        raise ProviderUnavailable(f"stripe {action}: {error}") from error
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        raise ProviderError(f"stripe {action}: the secret key was refused ({status})") from error
    raise ProviderError(f"stripe {action}: {error}") from error


class StripeProvider:
    """Stripe Connect through the official SDK (see the module docstring)."""

    name = "stripe"

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        webhook_tolerance: timedelta = timedelta(minutes=5),
        max_network_retries: int = 2,
        http_client: stripe.HTTPClient | None = None,
        api_base: str | None = None,
    ) -> None:
        if not secret_key or not webhook_secret:
            raise ValueError("stripe needs a secret key and a webhook signing secret")
        self._client = stripe.StripeClient(
            secret_key,
            http_client=http_client or stripe.HTTPXClient(timeout=30),
            max_network_retries=max_network_retries,
            base_addresses={"api": api_base} if api_base else None,
        )
        self._webhook_secret = webhook_secret
        self._tolerance = int(webhook_tolerance.total_seconds())

    def accepts_payment_method(self, payment_method: str) -> bool:
        return payment_method.startswith("pm_")

    # --- payments ---------------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": _units(request.amount, request.currency),
            "currency": request.currency.lower(),
            "payment_method": request.payment_method,
            "confirm": True,
            # The server confirms: a method that would redirect the customer cannot finish.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": dict(request.metadata),
            "expand": ["latest_charge.balance_transaction"],
        }
        if order_id := request.metadata.get("order_id"):
            params["transfer_group"] = order_id
        try:
            intent = await self._client.v1.payment_intents.create_async(
                cast(Any, params), {"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as error:
            return _declined(_error_body(error))
        except stripe.InvalidRequestError as error:
            body = _error_body(error)
            if body.get("payment_intent") or body.get("param") == "payment_method":
                # The customer's payment method (unknown, detached, unusable): a decline.
                return _declined(body)
            _raise_for(error, "charge")
        except stripe.StripeError as error:
            _raise_for(error, "charge")
        return _charge_result(intent.to_dict(), request.currency)

    async def refund(self, request: RefundRequest) -> RefundResult:
        params: dict[str, Any] = {
            "payment_intent": request.provider_payment_id,
            "amount": _units(request.amount, request.currency),
            "metadata": dict(request.metadata),
        }
        try:
            refund = await self._client.v1.refunds.create_async(
                cast(Any, params), {"idempotency_key": request.idempotency_key}
            )
        except stripe.InvalidRequestError as error:
            body = _error_body(error)
            if body.get("code") in {"charge_already_refunded", "amount_too_large"}:
                return RefundResult(
                    provider_refund_id="",
                    status="failed",
                    failure_code=body["code"],
                    failure_message=body.get("message"),
                )
            _raise_for(error, "refund")
        except stripe.StripeError as error:
            _raise_for(error, "refund")
        data = refund.to_dict()
        status = data.get("status")
        if status == "succeeded":
            return RefundResult(provider_refund_id=data["id"], status="succeeded")
        if status in {"failed", "canceled"}:
            return RefundResult(
                provider_refund_id=data["id"],
                status="failed",
                failure_code=data.get("failure_reason") or status,
                failure_message="Stripe could not refund the payment.",
            )
        # pending / requires_action: not final; the webhook or a retry (same key) settles it.
        raise ProviderUnavailable(f"stripe refund {data['id']} is {status}")

    async def transfer(self, request: TransferRequest) -> TransferResult:
        account = request.destination.get("stripe_account", "")
        if not account.startswith("acct_"):
            raise ProviderError("stripe transfer: destination needs stripe_account (acct_…)")
        params: dict[str, Any] = {
            "amount": _units(request.amount, request.currency),
            "currency": request.currency.lower(),
            "destination": account,
            "metadata": {**request.metadata, "vendor_id": request.vendor_id},
        }
        for key in ("source_transaction", "transfer_group"):
            if value := request.destination.get(key):
                params[key] = value
        try:
            transfer = await self._client.v1.transfers.create_async(
                cast(Any, params), {"idempotency_key": request.idempotency_key}
            )
        except stripe.InvalidRequestError as error:
            body = _error_body(error)
            if body.get("code") == "balance_insufficient":
                return TransferResult(
                    provider_transfer_id="", status="failed", failure_code="balance_insufficient"
                )
            _raise_for(error, "transfer")
        except stripe.StripeError as error:
            _raise_for(error, "transfer")
        data = transfer.to_dict()
        if data.get("reversed"):
            return TransferResult(data["id"], status="failed", failure_code="transfer_reversed")
        # A transfer lands in the connected account's balance at once (or when its source
        # charge's funds do); the account's own payouts take it to the bank.
        return TransferResult(provider_transfer_id=data["id"], status="paid")

    # --- balance transactions ---------------------------------------------------------------

    async def list_records(self, *, start: datetime, end: datetime) -> list[ProviderRecord]:
        """Every balance transaction created in [start, end) that reconciliation matches."""
        params: dict[str, Any] = {
            # Stripe's timestamps are whole seconds: [floor(start), ceil(end)) covers the period.
            "created": {"gte": math.floor(start.timestamp()), "lt": math.ceil(end.timestamp())},
            "limit": 100,
            # The charge behind a `charge` transaction names its PaymentIntent, our payment's id.
            "expand": ["data.source"],
        }
        records: list[ProviderRecord] = []
        try:
            page = await self._client.v1.balance_transactions.list_async(cast(Any, params))
            async for txn in page.auto_paging_iter():
                record = _record(txn.to_dict())
                if record is not None:
                    records.append(record)
        except stripe.StripeError as error:
            _raise_for(error, "balance transactions")
        return records

    # --- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        header = headers.get(SIGNATURE_HEADER)
        if not header:
            raise InvalidSignature("missing Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(
                body.decode("utf-8"), header, self._webhook_secret, self._tolerance
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
            raise InvalidSignature(f"stripe: {error}") from None

    def parse_webhook(self, body: bytes) -> ProviderEvent:
        event_id, type_, obj = event_envelope(body, who="Stripe")
        return _normalise(event_id, type_, obj)


def _declined(body: Mapping[str, Any]) -> ChargeResult:
    intent = body.get("payment_intent") or {}
    return ChargeResult(
        provider_payment_id=str(intent.get("id", "")),
        status="failed",
        amount_captured=0,
        failure_code=body.get("decline_code") or body.get("code") or "card_declined",
        failure_message=body.get("message"),
    )


def _charge_result(intent: Mapping[str, Any], currency: str) -> ChargeResult:
    status = intent.get("status")
    if status == "succeeded":
        return ChargeResult(
            provider_payment_id=intent["id"],
            status="succeeded",
            amount_captured=_amount(int(intent["amount_received"]), currency),
            fee_amount=_fee(intent, currency),
        )
    if status == "requires_action":
        return ChargeResult(
            provider_payment_id=intent["id"],
            status="failed",
            amount_captured=0,
            failure_code="authentication_required",
            failure_message="The payment needs the customer's authentication.",
        )
    if status in {"requires_payment_method", "canceled"}:
        error = intent.get("last_payment_error") or {}
        return ChargeResult(
            provider_payment_id=intent["id"],
            status="failed",
            amount_captured=0,
            failure_code=error.get("decline_code") or error.get("code") or str(status),
            failure_message=error.get("message"),
        )
    raise ProviderUnavailable(f"stripe payment {intent.get('id')} is {status}")


def _fee(intent: Mapping[str, Any], currency: str) -> int:
    charge = intent.get("latest_charge")
    txn = charge.get("balance_transaction") if isinstance(charge, dict) else None
    if not isinstance(txn, dict):
        return 0
    if str(txn.get("currency", "")).upper() != currency:
        # Settled in another currency: the fee is not in the payment's currency, and
        # converting it here would invent a rate. Reconciliation records it.
        logger.warning("stripe fee in another currency", extra={"intent": intent.get("id")})
        return 0
    return _amount(int(txn.get("fee", 0)), currency)


_RECORD_KINDS: Final[Mapping[str, RecordKind]] = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "transfer": "transfer",
}
_ADJUSTMENT_KINDS: Final[Mapping[str, RecordKind]] = {
    "dispute": "dispute",
    "dispute_reversal": "dispute_reversal",
}


def _record(txn: Mapping[str, Any]) -> ProviderRecord | None:
    type_ = str(txn.get("type"))
    if type_ == "adjustment":
        kind = _ADJUSTMENT_KINDS.get(str(txn.get("reporting_category")))
    else:
        kind = _RECORD_KINDS.get(type_)
    source = txn.get("source")
    if kind is None or source is None:
        return None
    if isinstance(source, dict):
        # A charge is known to us by its PaymentIntent; every other source by its own id.
        source_id = str(
            (source.get("payment_intent") if kind == "charge" else None) or source.get("id")
        )
    else:
        source_id = str(source)
    currency = str(txn["currency"]).upper()
    return ProviderRecord(
        kind=kind,
        source_id=source_id,
        amount=_signed_amount(int(txn["amount"]), currency),
        fee=_signed_amount(int(txn.get("fee", 0)), currency),
        currency=currency,
        created_at=datetime.fromtimestamp(int(txn["created"]), UTC),
    )


def _signed_amount(units: int, currency: str) -> int:
    amount = _amount(abs(units), currency)
    return -amount if units < 0 else amount


def _dispute_event(event_id: str, type_: str, obj: Mapping[str, Any]) -> ProviderEvent:
    """`charge.dispute.created` / `.closed`: Stripe's Dispute object. The dispute fee is the
    fee of its withdrawal (the balance transaction taking money); on closing only `won` and
    `lost` move money (`warning_closed` ends an inquiry that withdrew nothing)."""
    status = obj.get("status")
    closed = type_ == "charge.dispute.closed"
    if closed and status not in {"won", "lost"}:
        return ProviderEvent(event_id, type_, "other")
    currency = str(obj.get("currency", "usd")).upper()
    fee = sum(
        _amount(int(txn.get("fee", 0)), currency)
        for txn in obj.get("balance_transactions") or []
        if isinstance(txn, dict)
        and int(txn.get("amount", 0)) < 0
        and str(txn.get("currency", "")).upper() == currency
    )
    intent = obj.get("payment_intent")
    return ProviderEvent(
        event_id,
        type_,
        "dispute_closed" if closed else "dispute_opened",
        payment_id=(obj.get("metadata") or {}).get("payment_id"),
        provider_payment_id=intent if isinstance(intent, str) else None,
        provider_dispute_id=obj.get("id"),
        dispute_amount=_amount(int(obj.get("amount", 0)), currency),
        dispute_fee=fee,
        dispute_currency=currency,
        dispute_reason=obj.get("reason"),
        dispute_outcome="won" if status == "won" else "lost" if closed else None,
    )


def _normalise(event_id: str, type_: str, obj: Mapping[str, Any]) -> ProviderEvent:
    meta = obj.get("metadata") or {}
    currency = str(obj.get("currency", "usd")).upper()
    if type_ == "payment_intent.succeeded":
        return ProviderEvent(
            event_id,
            type_,
            "payment_succeeded",
            payment_id=meta.get("payment_id"),
            provider_payment_id=obj.get("id"),
            amount_captured=_amount(int(obj.get("amount_received", 0)), currency),
        )
    if type_ == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        return ProviderEvent(
            event_id,
            type_,
            "payment_failed",
            payment_id=meta.get("payment_id"),
            provider_payment_id=obj.get("id"),
            failure_code=error.get("decline_code") or error.get("code"),
            failure_message=error.get("message"),
        )
    if type_ == "charge.refunded":
        # `refunds` is only in events of older API versions; the refund's own event names it.
        refunds = (obj.get("refunds") or {}).get("data") or [{}]
        refund = refunds[0]
        return ProviderEvent(
            event_id,
            type_,
            "refund_succeeded",
            payment_id=meta.get("payment_id"),
            provider_payment_id=obj.get("payment_intent"),
            amount_captured=_amount(int(obj.get("amount_captured", 0)), currency),
            refund_id=(refund.get("metadata") or {}).get("refund_id"),
            provider_refund_id=refund.get("id"),
        )
    if type_ in {"refund.updated", "refund.created", "charge.refund.updated"}:
        kinds = {"succeeded": "refund_succeeded", "failed": "refund_failed"}
        kind = kinds.get(str(obj.get("status")))
        if kind is None:
            return ProviderEvent(event_id, type_, "other")
        return ProviderEvent(
            event_id,
            type_,
            "refund_succeeded" if kind == "refund_succeeded" else "refund_failed",
            payment_id=meta.get("payment_id"),
            provider_payment_id=obj.get("payment_intent"),
            failure_code=obj.get("failure_reason") if kind == "refund_failed" else None,
            failure_message="Stripe could not refund the payment."
            if kind == "refund_failed"
            else None,
            refund_id=meta.get("refund_id"),
            provider_refund_id=obj.get("id"),
        )
    if type_ in {"charge.dispute.created", "charge.dispute.closed"}:
        return _dispute_event(event_id, type_, obj)
    if type_ in {"transfer.created", "payout.paid"}:
        return ProviderEvent(
            event_id,
            type_,
            "payout_paid",
            payout_id=meta.get("payout_id"),
            provider_transfer_id=obj.get("id"),
        )
    if type_ in {"transfer.reversed", "payout.failed", "payout.canceled"}:
        return ProviderEvent(
            event_id,
            type_,
            "payout_failed",
            failure_code=obj.get("failure_code"),
            failure_message=obj.get("failure_message"),
            payout_id=meta.get("payout_id"),
            provider_transfer_id=obj.get("id"),
        )
    return ProviderEvent(event_id, type_, "other")


__all__ = ["SIGNATURE_HEADER", "StripeProvider", "exponent"]
