"""PayPal adapter: Orders v2 and refunds on the official `paypal-server-sdk`; Payouts and
webhook verification, which that SDK does not cover, on PayPal's REST endpoints over httpx
with the SDK's OAuth token.

The SDK is synchronous (requests), so its calls run in a worker thread; the REST calls are
async. No database transaction is open during any of them.

* **What checkout passes as `payment_method`**: either the id of a PayPal order the buyer
  approved in PayPal's checkout (17 upper-case letters and digits, e.g. `5O190127TN364715T`),
  or `vault_<payment token id>` for a PayPal wallet the buyer saved with PayPal's vault.
* **Charge, approved order**: `GET /v2/checkout/orders/{id}` refuses (uncaptured) an order
  whose amount or currency is not the payment's or that the buyer has not approved; `PATCH`
  writes our payment id as the purchase unit's `custom_id` (so the capture's webhooks name
  our payment even if our call's answer is lost); `POST .../capture` with our persisted key
  as `PayPal-Request-Id`. An order already captured (a retry) answers with its capture.
* **Charge, vault token**: one `POST /v2/checkout/orders` with `intent=CAPTURE`, the
  vault id as `payment_source.paypal.vault_id`, our ids as `custom_id` / `invoice_id`, and
  `PayPal-Request-Id`; PayPal captures at once.
  Either way the provider payment id is the **capture** id (refunds act on captures), the
  fee is the capture's `seller_receivable_breakdown.paypal_fee`, a `PENDING` capture is not
  final (`ProviderUnavailable`, `PAYMENT.CAPTURE.COMPLETED` settles it) and a declined
  instrument is a failed charge (`instrument_declined`).
* **Refund**: `POST /v2/payments/captures/{id}/refund` with the amount, our refund id as
  `custom_id` and `PayPal-Request-Id`.
* **Transfer** (vendor payout): `POST /v1/payments/payouts`, one item to
  `destination["paypal_email"]` (or `paypal_payer_id`), our key as `sender_batch_id` and
  `PayPal-Request-Id`; the batch is `pending` until `PAYMENT.PAYOUTS-ITEM.*` webhooks.
* **Webhooks** are verified by PayPal (`POST /v1/notifications/verify-webhook-signature`
  with the five `PayPal-*` transmission headers, our webhook id and the event exactly as
  received); anything but `SUCCESS` is `InvalidSignature`. We also refuse a transmission
  time outside the tolerance, so a captured delivery cannot be replayed later.
  `PAYMENT.CAPTURE.COMPLETED` / `DENIED` / `DECLINED` / `REFUNDED`, and `PAYMENT.PAYOUTS-ITEM.*`
  are normalised.
* **Errors**: timeouts, connection errors, 409, 429 and 5xx are `ProviderUnavailable`;
  refused credentials and requests PayPal rejects are `ProviderError`.

Amounts are decimal strings; PayPal has no decimals for HUF, JPY and TWD.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, NoReturn, TypeVar

import httpx
import orjson
import requests
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from paypalserversdk.configuration import Environment
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from marketplace.payments.providers.base import (
    ChargeRequest,
    ChargeResult,
    InvalidSignature,
    ProviderError,
    ProviderEvent,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    TransferRequest,
    TransferResult,
)
from marketplace.payments.providers.units import (
    AmountNotRepresentable,
    from_decimal_string,
    to_decimal_string,
)

logger = logging.getLogger(__name__)

NO_DECIMALS: Final = frozenset({"HUF", "JPY", "TWD"})
ORDER_ID_RE: Final = re.compile(r"[A-Z0-9]{17}")
VAULT_PREFIX: Final = "vault_"
TRANSMISSION_HEADERS: Final = (
    "paypal-auth-algo",
    "paypal-cert-url",
    "paypal-transmission-id",
    "paypal-transmission-sig",
    "paypal-transmission-time",
)
TIMEOUT_SECONDS: Final = 30
T = TypeVar("T")


def exponent(currency: str) -> int:
    """PayPal's decimals: none for HUF, JPY and TWD, two for every currency it supports."""
    return 0 if currency in NO_DECIMALS else 2


def _value(amount: int, currency: str) -> dict[str, str]:
    try:
        text = to_decimal_string(amount, currency, exponent(currency))
        return {"currency_code": currency, "value": text}
    except AmountNotRepresentable as error:
        raise ProviderError(f"paypal: {error}") from None


def _minor(money: Mapping[str, Any] | None) -> int:
    if not money:
        return 0
    return from_decimal_string(str(money["value"]), str(money["currency_code"]))


def _issue(error: ApiException) -> str:
    """The first `details[].issue` of a PayPal error body (`INSTRUMENT_DECLINED`), or its name."""
    try:
        body = json.loads(error.response.text)
    except (ValueError, AttributeError):
        return ""
    details = body.get("details") or [{}]
    return str(details[0].get("issue") or body.get("name") or "")


def _raise_for(error: ApiException, action: str) -> NoReturn:
    status = error.response_code
    if status >= 500 or status in {409, 429}:
        raise ProviderUnavailable(f"paypal {action}: {status}") from error
    if status in {401, 403}:
        raise ProviderError(f"paypal {action}: the client id and secret were refused") from error
    raise ProviderError(f"paypal {action}: {status} {_issue(error)}") from error


class PayPalProvider:
    """PayPal through the official server SDK (see the module docstring)."""

    name = "paypal"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        webhook_id: str,
        environment: str = "sandbox",
        webhook_tolerance: timedelta = timedelta(minutes=5),
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not client_id or not client_secret or not webhook_id:
            raise ValueError("paypal needs a client id, a client secret and a webhook id")
        self._client = PaypalServersdkClient(
            client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                o_auth_client_id=client_id, o_auth_client_secret=client_secret
            ),
            environment=Environment.PRODUCTION
            if environment == "production"
            else Environment.SANDBOX,
            timeout=TIMEOUT_SECONDS,
        )
        self._base = self._client.config.get_base_uri()
        self._webhook_id = webhook_id
        self._tolerance = webhook_tolerance
        self._http = http or httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        self._token: tuple[str, float] | None = None

    def accepts_payment_method(self, payment_method: str) -> bool:
        return bool(ORDER_ID_RE.fullmatch(payment_method)) or (
            payment_method.startswith(VAULT_PREFIX) and len(payment_method) > len(VAULT_PREFIX)
        )

    async def _sdk(self, action: str, call: Callable[[], Any]) -> dict[str, Any]:
        """One SDK call in a thread; its answer as PayPal wrote it."""
        try:
            response = await asyncio.to_thread(call)
        except requests.RequestException as error:
            raise ProviderUnavailable(f"paypal {action}: {error!r}") from error
        except AuthValidationException as error:
            raise ProviderError(f"paypal {action}: no OAuth token (credentials?)") from error
        body: dict[str, Any] = json.loads(response.text) if response.text else {}
        return body

    # --- payments ---------------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        if request.payment_method.startswith(VAULT_PREFIX):
            return await self._charge_vaulted(request)
        return await self._capture_approved(request)

    async def _capture_approved(self, request: ChargeRequest) -> ChargeResult:
        order_id = request.payment_method
        orders = self._client.orders
        try:
            order = await self._sdk("get order", lambda: orders.get_order({"id": order_id}))
        except ApiException as error:
            if error.response_code == 404:
                return _failed(order_id, "order_not_found", "No such PayPal order.")
            _raise_for(error, "get order")
        unit = (order.get("purchase_units") or [{}])[0]
        approved = unit.get("amount") or {}
        if approved.get("currency_code") != request.currency or _minor(approved) != request.amount:
            return _failed(order_id, "amount_mismatch", "The approved amount is not the order's.")
        if order.get("status") == "COMPLETED":
            return _capture_result(order_id, order)
        if order.get("status") != "APPROVED":
            return _failed(order_id, "order_not_approved", "The buyer has not approved it.")
        reference = unit.get("reference_id") or "default"
        patch = [
            {
                "op": "add",
                "path": f"/purchase_units/@reference_id=='{reference}'/custom_id",
                "value": request.metadata.get("payment_id", ""),
            }
        ]
        try:
            await self._sdk(
                "patch order", lambda: orders.patch_order({"id": order_id, "body": patch})
            )
            captured = await self._sdk(
                "capture",
                lambda: orders.capture_order(
                    {
                        "id": order_id,
                        "paypal_request_id": request.idempotency_key,
                        "prefer": "return=representation",
                    }
                ),
            )
        except ApiException as error:
            issue = _issue(error)
            if issue == "ORDER_ALREADY_CAPTURED":
                order = await self._sdk("get order", lambda: orders.get_order({"id": order_id}))
                return _capture_result(order_id, order)
            if error.response_code == 422 and issue:
                return _failed(order_id, issue.lower(), f"PayPal refused the capture ({issue}).")
            _raise_for(error, "capture")
        return _capture_result(order_id, captured)

    async def _charge_vaulted(self, request: ChargeRequest) -> ChargeResult:
        body = {
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "reference_id": "default",
                    "custom_id": request.metadata.get("payment_id", ""),
                    "invoice_id": request.metadata.get("order_id", ""),
                    "amount": _value(request.amount, request.currency),
                }
            ],
            "payment_source": {
                "paypal": {"vault_id": request.payment_method.removeprefix(VAULT_PREFIX)}
            },
        }
        try:
            order = await self._sdk(
                "create order",
                lambda: self._client.orders.create_order(
                    {
                        "body": body,
                        "paypal_request_id": request.idempotency_key,
                        "prefer": "return=representation",
                    }
                ),
            )
        except ApiException as error:
            issue = _issue(error)
            if error.response_code == 422 and issue:
                return _failed(request.payment_method, issue.lower(), f"PayPal refused ({issue}).")
            _raise_for(error, "create order")
        return _capture_result(str(order.get("id", "")), order)

    async def refund(self, request: RefundRequest) -> RefundResult:
        body = {
            "amount": {
                "value": _value(request.amount, request.currency)["value"],
                "currency_code": request.currency,
            },
            "custom_id": request.metadata.get("refund_id", ""),
        }
        try:
            refund = await self._sdk(
                "refund",
                lambda: self._client.payments.refund_captured_payment(
                    {
                        "capture_id": request.provider_payment_id,
                        "body": body,
                        "paypal_request_id": request.idempotency_key,
                        "prefer": "return=representation",
                    }
                ),
            )
        except ApiException as error:
            issue = _issue(error)
            if error.response_code == 422 and issue:
                return RefundResult("", "failed", issue.lower(), f"PayPal refused ({issue}).")
            _raise_for(error, "refund")
        status = refund.get("status")
        if status == "COMPLETED":
            return RefundResult(provider_refund_id=refund["id"], status="succeeded")
        if status in {"CANCELLED", "FAILED"}:
            reason = (refund.get("status_details") or {}).get("reason") or status
            return RefundResult(refund["id"], "failed", str(reason).lower(), "PayPal refused.")
        raise ProviderUnavailable(f"paypal refund {refund.get('id')} is {status}")

    # --- REST calls the SDK does not cover --------------------------------------------------

    async def _bearer(self) -> str:
        """The SDK's OAuth token (fetched by the SDK, in a thread), reused until it expires."""
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        try:
            token = await asyncio.to_thread(self._client.oauth_2.fetch_token)
        except requests.RequestException as error:
            raise ProviderUnavailable(f"paypal token: {error!r}") from error
        except ApiException as error:
            _raise_for(error, "token")
        lifetime = float(getattr(token, "expires_in", 0) or 0)
        self._token = (token.access_token, time.monotonic() + max(lifetime - 60, 0))
        return str(token.access_token)

    async def _rest(self, action: str, path: str, content: bytes, key: str | None = None) -> Any:
        headers = {
            "Authorization": f"Bearer {await self._bearer()}",
            "Content-Type": "application/json",
        }
        if key is not None:
            headers["PayPal-Request-Id"] = key
        try:
            response = await self._http.post(
                f"{self._base}{path}", content=content, headers=headers
            )
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"paypal {action}: {error!r}") from error
        if response.status_code >= 500 or response.status_code in {409, 429}:
            raise ProviderUnavailable(f"paypal {action}: {response.status_code}")
        if response.status_code in {401, 403}:
            self._token = None
            raise ProviderError(f"paypal {action}: the client id and secret were refused")
        return response

    async def transfer(self, request: TransferRequest) -> TransferResult:
        if email := request.destination.get("paypal_email"):
            recipient = {"recipient_type": "EMAIL", "receiver": email}
        elif payer := request.destination.get("paypal_payer_id"):
            recipient = {"recipient_type": "PAYPAL_ID", "receiver": payer}
        else:
            raise ProviderError("paypal payout: destination needs paypal_email or paypal_payer_id")
        body = {
            "sender_batch_header": {
                "sender_batch_id": request.idempotency_key,
                "email_subject": "You have a payout",
            },
            "items": [
                {
                    **recipient,
                    "amount": {
                        "value": _value(request.amount, request.currency)["value"],
                        "currency": request.currency,
                    },
                    "sender_item_id": request.vendor_id,
                }
            ],
        }
        response = await self._rest(
            "payout", "/v1/payments/payouts", orjson.dumps(body), request.idempotency_key
        )
        answer = response.json()
        if response.status_code >= 400:
            issue = str(answer.get("name", response.status_code))
            return TransferResult("", "failed", failure_code=issue.lower())
        header = answer["batch_header"]
        status = {"SUCCESS": "paid", "DENIED": "failed", "CANCELED": "failed"}.get(
            header.get("batch_status"), "pending"
        )
        return TransferResult(header["payout_batch_id"], status)  # type: ignore[arg-type]

    # --- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        # Only PayPal can say whether a delivery is its own: never accept one unasked.
        raise InvalidSignature("paypal webhooks are verified by PayPal (verify_webhook_remotely)")

    async def verify_webhook_remotely(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> None:
        missing = [name for name in TRANSMISSION_HEADERS if not headers.get(name)]
        if missing:
            raise InvalidSignature(f"missing {', '.join(missing)}")
        try:
            sent_at = datetime.fromisoformat(headers["paypal-transmission-time"])
        except ValueError:
            raise InvalidSignature("malformed PayPal-Transmission-Time") from None
        if sent_at.tzinfo is None or abs(now - sent_at) > self._tolerance:
            raise InvalidSignature("transmission time outside the tolerance")
        fields = {
            "auth_algo": headers["paypal-auth-algo"],
            "cert_url": headers["paypal-cert-url"],
            "transmission_id": headers["paypal-transmission-id"],
            "transmission_sig": headers["paypal-transmission-sig"],
            "transmission_time": headers["paypal-transmission-time"],
            "webhook_id": self._webhook_id,
        }
        # The event goes back byte for byte: re-serialising it could change what was signed.
        content = orjson.dumps(fields)[:-1] + b',"webhook_event":' + body.strip() + b"}"
        response = await self._rest(
            "verify webhook", "/v1/notifications/verify-webhook-signature", content
        )
        if response.status_code >= 400:
            raise InvalidSignature(f"paypal refused to verify: {response.status_code}")
        if response.json().get("verification_status") != "SUCCESS":
            raise InvalidSignature("paypal: verification_status is not SUCCESS")

    def parse_webhook(self, body: bytes) -> ProviderEvent:
        try:
            payload = orjson.loads(body)
            event_id = str(payload["id"])
            type_ = str(payload["event_type"])
            resource = payload["resource"]
        except (ValueError, KeyError, TypeError):
            raise ValueError("not a PayPal event") from None
        if not isinstance(resource, dict):
            raise ValueError("not a PayPal event")
        return _normalise(event_id, type_, resource)

    async def aclose(self) -> None:
        await self._http.aclose()


def _failed(provider_id: str, code: str, message: str) -> ChargeResult:
    return ChargeResult(
        provider_payment_id=provider_id,
        status="failed",
        amount_captured=0,
        failure_code=code,
        failure_message=message,
    )


def _capture_result(order_id: str, order: Mapping[str, Any]) -> ChargeResult:
    unit = (order.get("purchase_units") or [{}])[0]
    captures = (unit.get("payments") or {}).get("captures") or []
    if not captures:
        raise ProviderUnavailable(f"paypal order {order_id} has no capture yet")
    capture = captures[-1]
    status = capture.get("status")
    if status == "COMPLETED":
        breakdown = capture.get("seller_receivable_breakdown") or {}
        fee = breakdown.get("paypal_fee")
        same_currency = (
            fee is None or fee.get("currency_code") == capture["amount"]["currency_code"]
        )
        return ChargeResult(
            provider_payment_id=capture["id"],
            status="succeeded",
            amount_captured=_minor(capture["amount"]),
            fee_amount=_minor(fee) if same_currency else 0,
        )
    if status in {"DECLINED", "FAILED"}:
        reason = (capture.get("status_details") or {}).get("reason") or status
        return _failed(capture["id"], str(reason).lower(), "PayPal declined the payment.")
    # PENDING: PayPal is still reviewing; PAYMENT.CAPTURE.COMPLETED or DENIED settles it.
    raise ProviderUnavailable(f"paypal capture {capture.get('id')} is {status}")


def _up_link(resource: Mapping[str, Any]) -> str | None:
    """The capture a refund belongs to: the id at the end of its `rel: up` link."""
    for link in resource.get("links") or []:
        if link.get("rel") == "up" and "/captures/" in str(link.get("href")):
            return str(link["href"]).rstrip("/").rsplit("/", 1)[-1]
    return None


def _normalise(event_id: str, type_: str, resource: Mapping[str, Any]) -> ProviderEvent:
    if type_ == "PAYMENT.CAPTURE.COMPLETED":
        fee = (resource.get("seller_receivable_breakdown") or {}).get("paypal_fee")
        return ProviderEvent(
            event_id,
            type_,
            "payment_succeeded",
            payment_id=resource.get("custom_id") or None,
            provider_payment_id=resource.get("id"),
            amount_captured=_minor(resource.get("amount")),
            fee_amount=_minor(fee),
        )
    if type_ in {"PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"}:
        reason = (resource.get("status_details") or {}).get("reason") or "denied"
        return ProviderEvent(
            event_id,
            type_,
            "payment_failed",
            payment_id=resource.get("custom_id") or None,
            provider_payment_id=resource.get("id"),
            failure_code=str(reason).lower(),
            failure_message="PayPal declined the payment.",
        )
    if type_ == "PAYMENT.CAPTURE.REFUNDED":
        return ProviderEvent(
            event_id,
            type_,
            "refund_succeeded",
            provider_payment_id=_up_link(resource),
            refund_id=resource.get("custom_id") or None,
            provider_refund_id=resource.get("id"),
        )
    if type_ == "PAYMENT.PAYOUTS-ITEM.SUCCEEDED":
        return ProviderEvent(
            event_id, type_, "transfer_paid", provider_transfer_id=resource.get("payout_batch_id")
        )
    if type_ in {
        "PAYMENT.PAYOUTS-ITEM.FAILED",
        "PAYMENT.PAYOUTS-ITEM.BLOCKED",
        "PAYMENT.PAYOUTS-ITEM.DENIED",
        "PAYMENT.PAYOUTS-ITEM.RETURNED",
        "PAYMENT.PAYOUTS-ITEM.CANCELED",
    }:
        errors = resource.get("errors") or {}
        return ProviderEvent(
            event_id,
            type_,
            "transfer_failed",
            failure_code=str(errors.get("name") or resource.get("transaction_status")).lower(),
            failure_message=errors.get("message"),
            provider_transfer_id=resource.get("payout_batch_id"),
        )
    return ProviderEvent(event_id, type_, "other")


__all__ = ["TRANSMISSION_HEADERS", "PayPalProvider", "exponent"]
