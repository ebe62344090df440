"""Razorpay adapter (payments, Route transfers, refunds) on the official `razorpay` SDK.

The SDK is synchronous (requests), so each call runs in a worker thread: the event loop
never waits on Razorpay, and no database transaction is open meanwhile (the services end
theirs before calling a provider).

* **Charge**: checkout receives the `pay_…` id of a payment the customer authorised in
  Razorpay Checkout (against a Razorpay order). We fetch it and refuse it, uncaptured, unless
  its amount and currency are the payment's; write our payment and order ids into its
  `notes` (so its webhooks name our payment even if our call's answer is lost); then
  capture it (`POST /v1/payments/{id}/capture` with amount and currency). A payment that is
  already captured is a success only if its notes name our payment (a retry after a lost
  answer); one captured for another of our payments is refused (`payment_already_used`), so
  a payment id cannot pay for two purchases one after the other; a failed one is a failed
  charge with Razorpay's `error_reason` (or `error_code`). The fee (GST included) is the
  captured payment's `fee`.
* **Refund**: `POST /v1/payments/{id}/refund` with our ids in `notes` and our persisted key
  in `X-Refund-Idempotency`. `processed` succeeds, `failed` fails, `pending` is not final
  (`ProviderUnavailable`; the `refund.processed` webhook or a retry with the key settles it).
* **Transfer** (Route): `destination` holds `razorpay_account` (`acc_…`, the vendor's Linked
  Account) and optionally `source_payment` (a captured `pay_…`: the transfer is made from that
  payment, `POST /v1/payments/{id}/transfers`), otherwise a direct transfer from the
  balance (`POST /v1/transfers`). Razorpay takes no idempotency key for transfers: our key is
  in the transfer's `notes`, an unknown outcome is `ProviderUnavailable`, and every call first
  looks for a transfer carrying that note (the source payment's transfers, or the last 7
  days' of the account) and answers from it instead of making a second one.
* **Records** (reconciliation): captured payments (fee with GST), processed refunds and
  processed transfers of a period, from the payments, refunds and transfers lists with
  `from` / `to`, page by page (`count` 100, `skip`).
* **Webhooks**: `X-Razorpay-Signature` is the hex HMAC-SHA256 of the raw body with the
  webhook secret, checked by the SDK's `utility.verify_webhook_signature`. The scheme signs
  no timestamp: a replay is harmless because events are stored once per id, which is the
  event name and its entity's id (the body has no event id of its own). `payment.captured`,
  `payment.failed`, `refund.processed`, `refund.failed`, `transfer.processed` and
  `transfer.failed` are normalised.
* **Errors**: timeouts, connection errors, non-JSON answers, `SERVER_ERROR` and
  `GATEWAY_ERROR` are `ProviderUnavailable`; refused credentials and other `BAD_REQUEST_ERROR`s
  are `ProviderError`.

Amounts are in the currency's subunit as ISO 4217 defines it (paise, cents; none for JPY;
thousandths for KWD), the same unit as ours.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import orjson
import razorpay
import requests
from razorpay.errors import (
    BadRequestError,
    GatewayError,
    ServerError,
    SignatureVerificationError,
)

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
from marketplace.payments.providers.units import (
    AmountNotRepresentable,
    from_gateway_units,
    to_gateway_units,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "x-razorpay-signature"
TIMEOUT_SECONDS: Final = 30
PAGE_SIZE: Final = 100  # Razorpay's largest `count`
# How far back a retried transfer looks for the one its key may have made already: longer
# than payouts are retried (the retry sweep gives up on a payout long before).
TRANSFER_LOOKBACK: Final = timedelta(days=7)
T = TypeVar("T")


# ISO 4217 minor units where they are not 2.
ZERO_DECIMAL: Final = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
     "VUV", "XAF", "XOF", "XPF"}
)  # fmt: skip
THREE_DECIMAL: Final = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def exponent(currency: str) -> int:
    """Razorpay's subunit: ISO 4217's minor unit."""
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def _units(amount: int, currency: str) -> int:
    try:
        return to_gateway_units(amount, currency, exponent(currency))
    except AmountNotRepresentable as error:
        raise ProviderError(f"razorpay: {error}") from None


def _amount(units: Any, currency: Any) -> int:
    code = str(currency or "INR").upper()
    return from_gateway_units(int(units or 0), code, exponent(code))


def _record(
    kind: RecordKind, item: Mapping[str, Any], fee: Any, *, sign: int = 1
) -> ProviderRecord:
    currency = str(item.get("currency") or "INR").upper()
    return ProviderRecord(
        kind=kind,
        source_id=str(item["id"]),
        amount=sign * _amount(item.get("amount"), currency),
        fee=_amount(fee, currency),
        currency=currency,
        created_at=datetime.fromtimestamp(int(item["created_at"]), UTC),
    )


def _notes(value: Any) -> Mapping[str, Any]:
    # Razorpay writes empty notes as `[]`.
    return value if isinstance(value, dict) else {}


class RazorpayProvider:
    """Razorpay through the official SDK (see the module docstring)."""

    name = "razorpay"

    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        webhook_secret: str,
        base_url: str | None = None,
    ) -> None:
        if not key_id or not key_secret or not webhook_secret:
            raise ValueError("razorpay needs a key id, a key secret and a webhook secret")
        options = {"base_url": base_url} if base_url else {}
        self._client = razorpay.Client(auth=(key_id, key_secret), **options)
        self._webhook_secret = webhook_secret

    def accepts_payment_method(self, payment_method: str) -> bool:
        return payment_method.startswith("pay_")

    async def _call(self, action: str, call: Callable[[], T]) -> T:
        """Run one SDK call in a thread and translate what cannot be a verdict."""
        try:
            return await asyncio.to_thread(call)
        except (requests.RequestException, ServerError, GatewayError) as error:
            raise ProviderUnavailable(f"razorpay {action}: {error!r}") from error

    # --- payments ---------------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        pay_id = request.payment_method
        try:
            payment = await self._call(
                "fetch", lambda: self._client.payment.fetch(pay_id, {}, timeout=TIMEOUT_SECONDS)
            )
        except BadRequestError as error:
            if "does not exist" in str(error):
                return _failed(pay_id, "payment_not_found", str(error))
            raise _refused("fetch", error) from error
        if (int(payment["amount"]), str(payment["currency"])) != (
            _units(request.amount, request.currency),
            request.currency,
        ):
            return _failed(pay_id, "amount_mismatch", "The authorised amount is not the order's.")
        status = payment.get("status")
        if status == "failed":
            return _failed(
                pay_id,
                payment.get("error_reason") or payment.get("error_code") or "payment_failed",
                payment.get("error_description"),
            )
        if status == "authorized":
            notes = {**_notes(payment.get("notes")), **request.metadata}
            try:
                await self._call(
                    "edit",
                    lambda: self._client.payment.edit(
                        pay_id, {"notes": notes}, timeout=TIMEOUT_SECONDS
                    ),
                )
                payment = await self._call(
                    "capture",
                    lambda: self._client.payment.capture(
                        pay_id,
                        _units(request.amount, request.currency),
                        {"currency": request.currency},
                        timeout=TIMEOUT_SECONDS,
                    ),
                )
            except BadRequestError as error:
                if "already been captured" not in str(error):
                    raise _refused("capture", error) from error
                payment = await self._call(
                    "fetch", lambda: self._client.payment.fetch(pay_id, {}, timeout=TIMEOUT_SECONDS)
                )
                if not _ours(payment, request):
                    return _failed(pay_id, "payment_already_used", _USED)
            status = payment.get("status")
        elif status == "captured" and not _ours(payment, request):
            # Captured before, for another of our payments: a payment id reused for a second
            # purchase. Ours (a retry after a lost answer) carries our payment id in its notes.
            return _failed(pay_id, "payment_already_used", _USED)
        if status != "captured":
            # `created`: the customer never completed the payment; `refunded`: not ours.
            return _failed(pay_id, f"payment_{status}", "The payment is not authorised.")
        return ChargeResult(
            provider_payment_id=pay_id,
            status="succeeded",
            amount_captured=_amount(payment["amount"], payment["currency"]),
            fee_amount=_amount(payment.get("fee"), payment["currency"]),
        )

    async def refund(self, request: RefundRequest) -> RefundResult:
        body = {
            "amount": _units(request.amount, request.currency),
            "notes": dict(request.metadata),
        }
        headers = {"X-Refund-Idempotency": request.idempotency_key}
        try:
            refund = await self._call(
                "refund",
                lambda: self._client.payment.refund(
                    request.provider_payment_id, body, headers=headers, timeout=TIMEOUT_SECONDS
                ),
            )
        except BadRequestError as error:
            message = str(error)
            if "refund amount" in message.lower() or "fully refunded" in message.lower():
                return RefundResult("", "failed", "amount_too_large", message)
            raise _refused("refund", error) from error
        status = refund.get("status")
        if status == "processed":
            return RefundResult(provider_refund_id=refund["id"], status="succeeded")
        if status == "failed":
            return RefundResult(
                refund["id"], "failed", "refund_failed", "Razorpay could not refund the payment."
            )
        raise ProviderUnavailable(f"razorpay refund {refund.get('id')} is {status}")

    async def transfer(self, request: TransferRequest) -> TransferResult:
        account = request.destination.get("razorpay_account", "")
        if not account.startswith("acc_"):
            raise ProviderError("razorpay transfer: destination needs razorpay_account (acc_…)")
        item: dict[str, Any] = {
            "account": account,
            "amount": _units(request.amount, request.currency),
            "currency": request.currency,
            "notes": {"vendor_id": request.vendor_id, "idempotency_key": request.idempotency_key},
        }
        source = request.destination.get("source_payment")
        # Razorpay takes no idempotency key for transfers: a retry after a lost answer first
        # looks for the transfer our key made, so it is never made twice.
        earlier = await self._transfer_with_key(request.idempotency_key, source)
        try:
            if earlier is not None:
                transfer = earlier
            elif source:
                answer = await self._call(
                    "transfer",
                    lambda: self._client.payment.transfer(
                        source, {"transfers": [item]}, timeout=TIMEOUT_SECONDS
                    ),
                )
                transfer = answer["items"][0]
            else:
                transfer = await self._call(
                    "transfer", lambda: self._client.transfer.create(item, timeout=TIMEOUT_SECONDS)
                )
        except BadRequestError as error:
            if "insufficient" in str(error).lower():
                return TransferResult("", "failed", failure_code="balance_insufficient")
            raise _refused("transfer", error) from error
        status = transfer.get("status")
        if status == "processed":
            return TransferResult(transfer["id"], "paid")
        if status in {"failed", "reversed"}:
            error_info = transfer.get("error") or {}
            return TransferResult(
                transfer["id"], "failed", failure_code=error_info.get("reason") or str(status)
            )
        return TransferResult(transfer["id"], "pending")

    async def _transfer_with_key(self, key: str, source: str | None) -> Mapping[str, Any] | None:
        """The transfer an earlier call with `key` made: among the source payment's
        transfers, or the account's transfers of the last `TRANSFER_LOOKBACK`."""
        if source:
            try:
                page = await self._call(
                    "list transfers",
                    lambda: self._client.payment.transfers(source, timeout=TIMEOUT_SECONDS),
                )
            except BadRequestError as error:
                raise _refused("list transfers", error) from error
            candidates: list[Mapping[str, Any]] = list(page.get("items") or [])
        else:
            now = datetime.now(UTC)
            candidates = await self._every(
                "transfers",
                self._client.transfer.all,
                math.floor((now - TRANSFER_LOOKBACK).timestamp()),
                math.ceil(now.timestamp()),
            )
        for item in candidates:
            if _notes(item.get("notes")).get("idempotency_key") == key:
                return item
        return None

    # --- reconciliation ---------------------------------------------------------------------

    async def list_records(self, *, start: datetime, end: datetime) -> list[ProviderRecord]:
        """Captured payments (their fee with GST), processed refunds and processed Route
        transfers created in [start, end), from `GET /v1/payments`, `/v1/refunds` and
        `/v1/transfers` with `from` / `to` (inclusive, in seconds), 100 per page by `skip`.
        Disputes are not listed: this adapter does not book Razorpay's disputes."""
        since, until = math.floor(start.timestamp()), math.ceil(end.timestamp()) - 1
        records: list[ProviderRecord] = []
        for item in await self._every("payments", self._client.payment.all, since, until):
            if item.get("captured") and item.get("status") in {"captured", "refunded"}:
                records.append(_record("charge", item, item.get("fee")))
        for item in await self._every("refunds", self._client.refund.all, since, until):
            if item.get("status") == "processed":
                records.append(_record("refund", item, 0, sign=-1))
        for item in await self._every("transfers", self._client.transfer.all, since, until):
            if item.get("status") == "processed":
                records.append(_record("transfer", item, item.get("fees"), sign=-1))
        return [r for r in records if start <= r.created_at < end]

    async def _every(
        self, what: str, fetch: Callable[..., Any], since: int, until: int
    ) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        while True:
            query = {"from": since, "to": until, "count": PAGE_SIZE, "skip": len(items)}
            try:
                page = await self._call(
                    f"list {what}", functools.partial(fetch, query, timeout=TIMEOUT_SECONDS)
                )
            except BadRequestError as error:
                raise _refused(f"list {what}", error) from error
            batch = page.get("items") or []
            items.extend(batch)
            if len(batch) < PAGE_SIZE:
                return items

    # --- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            raise InvalidSignature("missing X-Razorpay-Signature header")
        try:
            self._client.utility.verify_webhook_signature(
                body.decode("utf-8"), signature, self._webhook_secret
            )
        except (SignatureVerificationError, UnicodeDecodeError) as error:
            raise InvalidSignature(f"razorpay: {error}") from None

    def parse_webhook(self, body: bytes) -> ProviderEvent:
        try:
            payload = orjson.loads(body)
            type_ = str(payload["event"])
            entities = {
                name: part["entity"] for name, part in dict(payload.get("payload") or {}).items()
            }
        except (ValueError, KeyError, TypeError):
            raise ValueError("not a Razorpay event") from None
        main = type_.partition(".")[0]
        entity = entities.get(main)
        if not isinstance(entity, dict) or "id" not in entity:
            raise ValueError("not a Razorpay event")
        # Deliveries of one event carry the same name and entity: that is its identity.
        event_id = f"{type_}:{entity['id']}"
        return _normalise(event_id, type_, entity, entities.get("payment"))


_USED: Final = "This payment paid for another order."


def _ours(payment: Mapping[str, Any], request: ChargeRequest) -> bool:
    tagged = _notes(payment.get("notes")).get("payment_id")
    return bool(tagged) and tagged == request.metadata.get("payment_id")


def _failed(pay_id: str, code: str, message: str | None) -> ChargeResult:
    return ChargeResult(
        provider_payment_id=pay_id,
        status="failed",
        amount_captured=0,
        failure_code=code,
        failure_message=message,
    )


def _refused(action: str, error: BadRequestError) -> ProviderError:
    if "authentication failed" in str(error).lower():
        return ProviderError(f"razorpay {action}: the key id and secret were refused")
    return ProviderError(f"razorpay {action}: {error}")


def _normalise(
    event_id: str, type_: str, entity: Mapping[str, Any], payment: Mapping[str, Any] | None
) -> ProviderEvent:
    if type_ == "payment.captured":
        return ProviderEvent(
            event_id,
            type_,
            "payment_succeeded",
            payment_id=_notes(entity.get("notes")).get("payment_id"),
            provider_payment_id=entity["id"],
            amount_captured=_amount(entity.get("amount"), entity.get("currency")),
            fee_amount=_amount(entity.get("fee"), entity.get("currency")),
        )
    if type_ == "payment.failed":
        return ProviderEvent(
            event_id,
            type_,
            "payment_failed",
            payment_id=_notes(entity.get("notes")).get("payment_id"),
            provider_payment_id=entity["id"],
            failure_code=entity.get("error_reason") or entity.get("error_code"),
            failure_message=entity.get("error_description"),
        )
    if type_ in {"refund.processed", "refund.failed"}:
        notes = _notes(entity.get("notes"))
        currency = payment.get("currency") if payment else None
        captured = _amount(payment.get("amount"), currency) if payment else 0
        return ProviderEvent(
            event_id,
            type_,
            "refund_succeeded" if type_ == "refund.processed" else "refund_failed",
            payment_id=notes.get("payment_id"),
            provider_payment_id=entity.get("payment_id"),
            amount_captured=captured,
            fee_amount=_amount(payment.get("fee"), currency) if payment else 0,
            failure_code="refund_failed" if type_ == "refund.failed" else None,
            failure_message="Razorpay could not refund the payment."
            if type_ == "refund.failed"
            else None,
            refund_id=notes.get("refund_id"),
            provider_refund_id=entity["id"],
        )
    if type_ in {"transfer.processed", "transfer.failed"}:
        error = entity.get("error") or {}
        return ProviderEvent(
            event_id,
            type_,
            "payout_paid" if type_ == "transfer.processed" else "payout_failed",
            failure_code=error.get("reason") if type_ == "transfer.failed" else None,
            failure_message=error.get("description") if type_ == "transfer.failed" else None,
            provider_transfer_id=entity["id"],
        )
    return ProviderEvent(event_id, type_, "other")


__all__ = ["SIGNATURE_HEADER", "RazorpayProvider", "exponent"]
