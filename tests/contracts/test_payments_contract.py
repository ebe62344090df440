"""What the orders context relies on in payments: the facade's names and keyword arguments,
the DTOs' fields, and the events' names and payloads. Changing any of these breaks a caller
in another context; this test makes that a deliberate decision."""

from __future__ import annotations

import dataclasses
import inspect

from marketplace.payments import events
from marketplace.payments import public as payments


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _keywords(function: object) -> list[str]:
    assert callable(function)
    return [
        name
        for name, p in inspect.signature(function).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]


def test_facade_functions_and_their_keywords() -> None:
    assert _keywords(payments.start_payment) == [
        "order_id",
        "customer_id",
        "currency",
        "amount",
        "provider",
        "payment_method",
        "shares",
        "idempotency_key",
        "new_order",  # optional (False): the caller created the order in this transaction
    ]
    assert inspect.signature(payments.start_payment).parameters["new_order"].default is False
    assert _keywords(payments.confirm_payment) == ["payment_id"]
    assert _keywords(payments.cancel_payment) == ["payment_id"]
    assert _keywords(payments.request_refund) == [
        "order_id",
        "vendor_order_id",
        "amount",
        "reason",
        "items",
        "idempotency_key",
        "actor_id",
    ]
    assert _keywords(payments.vendor_order_delivered) == ["vendor_order_id", "delivered_at"]
    assert list(inspect.signature(payments.payment_of_order).parameters) == ["uow", "order_id"]
    assert all(
        inspect.iscoroutinefunction(f)
        for f in (
            payments.start_payment,
            payments.confirm_payment,
            payments.cancel_payment,
            payments.payment_of_order,
            payments.request_refund,
            payments.vendor_order_delivered,
        )
    )


def test_dto_fields() -> None:
    assert _fields(payments.CommissionLine) == ["order_item_id", "rule_id", "rate_bps", "amount"]
    assert _fields(payments.VendorShare) == [
        "vendor_order_id",
        "vendor_id",
        "gross_amount",
        "tax_amount",
        "commission_amount",
        "commission_tax_amount",
        "platform_discount_amount",
        "lines",
    ]
    assert _fields(payments.PaymentView) == [
        "id",
        "order_id",
        "provider",
        "status",
        "amount",
        "currency",
        "captured_amount",
        "refunded_amount",
        "failure_code",
        "failure_message",
        "provider_payment_id",
    ]
    assert {"id", "order_id", "vendor_order_id", "status", "amount"} <= set(
        _fields(payments.RefundView)
    )


def test_event_names_and_payloads() -> None:
    published = {
        e.name: list(e.model_fields)
        for e in (
            events.PaymentSucceeded,
            events.PaymentFailed,
            events.RefundSucceeded,
            events.RefundFailed,
        )
    }
    assert published == {
        "payments.payment_succeeded.v1": [
            "payment_id",
            "order_id",
            "amount",
            "currency",
            "confirmed_synchronously",
        ],
        "payments.payment_failed.v1": [
            "payment_id",
            "order_id",
            "failure_code",
            "failure_message",
            "confirmed_synchronously",
        ],
        "payments.refund_succeeded.v1": [
            "refund_id",
            "order_id",
            "vendor_order_id",
            "amount",
            "currency",
        ],
        "payments.refund_failed.v1": [
            "refund_id",
            "order_id",
            "vendor_order_id",
            "amount",
            "currency",
            "failure_code",
            "failure_message",
        ],
    }
