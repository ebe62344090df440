"""The PayPal adapter (see the package docstring for what each call does)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

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
    ProviderRecord,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    TransferRequest,
    TransferResult,
)
from marketplace.payments.providers.paypal.answers import (
    ORDER_ID_RE,
    TIMEOUT_SECONDS,
    TRANSMISSION_HEADERS,
    VAULT_PREFIX,
    capture_result,
    error_name,
    failed,
    issue_of,
    minor_of,
    raise_for,
    value_of,
)
from marketplace.payments.providers.paypal.events import normalise
from marketplace.payments.providers.paypal.records import SEARCH_PATH, query, record_of, windows

logger = logging.getLogger(__name__)


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
                return failed(order_id, "order_not_found", "No such PayPal order.")
            raise_for(error, "get order")
        unit = (order.get("purchase_units") or [{}])[0]
        approved = unit.get("amount") or {}
        if (
            approved.get("currency_code") != request.currency
            or minor_of(approved) != request.amount
        ):
            return failed(order_id, "amount_mismatch", "The approved amount is not the order's.")
        if order.get("status") == "COMPLETED":
            return _captured_for(order_id, order, request)
        if order.get("status") != "APPROVED":
            return failed(order_id, "order_not_approved", "The buyer has not approved it.")
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
            issue = issue_of(error)
            if issue == "ORDER_ALREADY_CAPTURED":
                order = await self._sdk("get order", lambda: orders.get_order({"id": order_id}))
                return _captured_for(order_id, order, request)
            if error.response_code == 422 and issue:
                return failed(order_id, issue.lower(), f"PayPal refused the capture ({issue}).")
            raise_for(error, "capture")
        return capture_result(order_id, captured)

    async def _charge_vaulted(self, request: ChargeRequest) -> ChargeResult:
        body = {
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "reference_id": "default",
                    "custom_id": request.metadata.get("payment_id", ""),
                    "invoice_id": request.metadata.get("order_id", ""),
                    "amount": value_of(request.amount, request.currency),
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
            issue = issue_of(error)
            if error.response_code == 422 and issue:
                return failed(request.payment_method, issue.lower(), f"PayPal refused ({issue}).")
            raise_for(error, "create order")
        return capture_result(str(order.get("id", "")), order)

    async def refund(self, request: RefundRequest) -> RefundResult:
        body = {
            "amount": {
                "value": value_of(request.amount, request.currency)["value"],
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
            issue = issue_of(error)
            if error.response_code == 422 and issue:
                return RefundResult("", "failed", issue.lower(), f"PayPal refused ({issue}).")
            raise_for(error, "refund")
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
            raise_for(error, "token")
        lifetime = float(getattr(token, "expires_in", 0) or 0)
        self._token = (token.access_token, time.monotonic() + max(lifetime - 60, 0))
        return str(token.access_token)

    async def _rest(
        self,
        action: str,
        path: str,
        content: bytes | None,
        key: str | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """A POST of `content`, or a GET with `params` when there is no content."""
        headers = {
            "Authorization": f"Bearer {await self._bearer()}",
            "Content-Type": "application/json",
        }
        if key is not None:
            headers["PayPal-Request-Id"] = key
        try:
            response = await self._http.request(
                "GET" if content is None else "POST",
                f"{self._base}{path}",
                content=content,
                params=params,
                headers=headers,
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
                        "value": value_of(request.amount, request.currency)["value"],
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

    # --- reconciliation ---------------------------------------------------------------------

    async def list_records(self, *, start: datetime, end: datetime) -> list[ProviderRecord]:
        """Transaction Search (`GET /v1/reporting/transactions`) over [start, end), in
        windows of at most 31 days, every page of each; rows mapped by `records.record_of`.
        PayPal makes a transaction searchable up to three hours after it happened: the
        daily run reconciles yesterday, well after that."""
        found: list[ProviderRecord] = []
        for lower, upper in windows(start, end):
            page, pages = 1, 1
            while page <= pages:
                response = await self._rest(
                    "transaction search", SEARCH_PATH, None, params=query(lower, upper, page)
                )
                if response.status_code >= 400:
                    raise ProviderError(
                        f"paypal transaction search: {response.status_code} {error_name(response)}"
                    )
                answer = response.json()
                for row in answer.get("transaction_details") or []:
                    record = record_of(row)
                    if record is not None and lower <= record.created_at < upper:
                        found.append(record)
                pages = int(answer.get("total_pages") or 1)
                page += 1
        return found

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
        return normalise(event_id, type_, resource)

    async def aclose(self) -> None:
        await self._http.aclose()


def _captured_for(order_id: str, order: Mapping[str, Any], request: ChargeRequest) -> ChargeResult:
    """An order found captured already: ours (a retry after a lost answer) only if it carries
    our payment id; otherwise an approved order is being reused for a second purchase."""
    unit = (order.get("purchase_units") or [{}])[0]
    captures = (unit.get("payments") or {}).get("captures") or [{}]
    tagged = captures[-1].get("custom_id") or unit.get("custom_id")
    if not tagged or tagged != request.metadata.get("payment_id"):
        return failed(order_id, "order_already_used", "This PayPal order paid for another order.")
    return capture_result(order_id, order)
