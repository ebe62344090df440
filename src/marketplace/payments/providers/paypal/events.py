"""PayPal webhook events normalised to `ProviderEvent`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marketplace.payments.providers.base import ProviderEvent
from marketplace.payments.providers.paypal.answers import minor_of


def up_link(resource: Mapping[str, Any]) -> str | None:
    """The capture a refund belongs to: the id at the end of its `rel: up` link."""
    for link in resource.get("links") or []:
        if link.get("rel") == "up" and "/captures/" in str(link.get("href")):
            return str(link["href"]).rstrip("/").rsplit("/", 1)[-1]
    return None


def normalise(event_id: str, type_: str, resource: Mapping[str, Any]) -> ProviderEvent:
    if type_ == "PAYMENT.CAPTURE.COMPLETED":
        fee = (resource.get("seller_receivable_breakdown") or {}).get("paypal_fee")
        return ProviderEvent(
            event_id,
            type_,
            "payment_succeeded",
            payment_id=resource.get("custom_id") or None,
            provider_payment_id=resource.get("id"),
            amount_captured=minor_of(resource.get("amount")),
            fee_amount=minor_of(fee),
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
            provider_payment_id=up_link(resource),
            refund_id=resource.get("custom_id") or None,
            provider_refund_id=resource.get("id"),
        )
    if type_ == "PAYMENT.PAYOUTS-ITEM.SUCCEEDED":
        return ProviderEvent(
            event_id,
            type_,
            "payout_paid",
            provider_transfer_id=resource.get("payout_batch_id"),
            # Transaction Search lists the item's transaction, never the batch.
            provider_settlement_id=resource.get("transaction_id") or None,
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
            "payout_failed",
            failure_code=str(errors.get("name") or resource.get("transaction_status")).lower(),
            failure_message=errors.get("message"),
            provider_transfer_id=resource.get("payout_batch_id"),
        )
    return ProviderEvent(event_id, type_, "other")
