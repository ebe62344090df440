"""What PayPal's answers mean for us: amounts as PayPal writes them, its error bodies, and a
capture's outcome."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final, NoReturn

from paypalserversdk.exceptions.api_exception import ApiException

from marketplace.payments.providers.base import (
    ChargeResult,
    ProviderError,
    ProviderUnavailable,
)
from marketplace.payments.providers.units import (
    AmountNotRepresentable,
    from_decimal_string,
    to_decimal_string,
)

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


def exponent(currency: str) -> int:
    """PayPal's decimals: none for HUF, JPY and TWD, two for every currency it supports."""
    return 0 if currency in NO_DECIMALS else 2


def value_of(amount: int, currency: str) -> dict[str, str]:
    try:
        text = to_decimal_string(amount, currency, exponent(currency))
        return {"currency_code": currency, "value": text}
    except AmountNotRepresentable as error:
        raise ProviderError(f"paypal: {error}") from None


def minor_of(money: Mapping[str, Any] | None) -> int:
    if not money:
        return 0
    return from_decimal_string(str(money["value"]), str(money["currency_code"]))


def issue_of(error: ApiException) -> str:
    """The first `details[].issue` of a PayPal error body (`INSTRUMENT_DECLINED`), or its name."""
    try:
        body = json.loads(error.response.text)
    except (ValueError, AttributeError):
        return ""
    details = body.get("details") or [{}]
    return str(details[0].get("issue") or body.get("name") or "")


def error_name(response: Any) -> str:
    """PayPal's error `name` in an httpx answer (`INVALID_REQUEST`), or nothing."""
    try:
        return str(response.json().get("name") or "")
    except (ValueError, AttributeError):
        return ""


def raise_for(error: ApiException, action: str) -> NoReturn:
    status = error.response_code
    if status >= 500 or status in {409, 429}:
        raise ProviderUnavailable(f"paypal {action}: {status}") from error
    if status in {401, 403}:
        raise ProviderError(f"paypal {action}: the client id and secret were refused") from error
    raise ProviderError(f"paypal {action}: {status} {issue_of(error)}") from error


def failed(provider_id: str, code: str, message: str) -> ChargeResult:
    return ChargeResult(
        provider_payment_id=provider_id,
        status="failed",
        amount_captured=0,
        failure_code=code,
        failure_message=message,
    )


def capture_result(order_id: str, order: Mapping[str, Any]) -> ChargeResult:
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
            amount_captured=minor_of(capture["amount"]),
            fee_amount=minor_of(fee) if same_currency else 0,
        )
    if status in {"DECLINED", "FAILED"}:
        reason = (capture.get("status_details") or {}).get("reason") or status
        return failed(capture["id"], str(reason).lower(), "PayPal declined the payment.")
    # PENDING: PayPal is still reviewing; PAYMENT.CAPTURE.COMPLETED or DENIED settles it.
    raise ProviderUnavailable(f"paypal capture {capture.get('id')} is {status}")
