"""Pure notification rules and the templates: who may switch what off, languages, backoff,
signed links and webhook signatures, and every message kind rendering in every language
with every string translated."""

from __future__ import annotations

import hmac
import re
from datetime import timedelta
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.notifications.domain import (
    CATEGORIES,
    KINDS,
    LANGUAGES,
    channel_enabled,
    language_of,
    read_unsubscribe_token,
    retry_delay,
    unsubscribe_token,
    webhook_signature,
)
from marketplace.notifications.templates import _catalog, render

SECRET = b"s" * 32
MONEY = {"amount": 1999, "currency": "EUR"}

CONTEXTS: dict[str, dict[str, Any]] = {
    "order_confirmation": {
        "order_id": "ord_1",
        "total": MONEY,
        "parts": [
            {
                "vendor_name": "Acme",
                "total": MONEY,
                "lines": [{"title": "Mug", "quantity": 1, "total": MONEY}],
            }
        ],
    },
    "vendor_new_order": {
        "order_id": "ord_1",
        "vendor_order_id": "vo_1",
        "vendor_name": "Acme",
        "total": MONEY,
        "lines": [{"title": "Mug", "sku": "M-1", "quantity": 1}],
    },
    "order_shipped": {
        "order_id": "ord_1",
        "vendor_name": "Acme",
        "carrier": "dhl",
        "tracking_number": "T1",
        "complete": False,
    },
    "order_delivered": {"order_id": "ord_1", "vendor_name": "Acme"},
    "order_canceled": {"order_id": "ord_1", "vendor_name": "Acme", "reason": "out of stock"},
    "order_refunded": {"order_id": "ord_1", "vendor_name": "Acme", "amount": MONEY},
    "return_requested": {"order_id": "ord_1", "vendor_order_id": "vo_1", "return_id": "ret_1"},
    "return_decided": {
        "order_id": "ord_1",
        "vendor_name": "Acme",
        "return_id": "ret_1",
        "approved": True,
        "refund_amount": MONEY,
    },
    "receipt": {"order_id": "ord_1"},
    "vendor_statement": {"order_id": "ord_1", "vendor_order_id": "vo_1"},
    "vendor_status": {
        "vendor_id": "ven_1",
        "vendor_name": "Acme",
        "status": "suspended",
        "reason": "KYC",
    },
    "payout_sent": {"payout_id": "po_1", "amount": MONEY},
    "payout_failed": {"payout_id": "po_1", "amount": MONEY, "failure_message": "closed account"},
    "chargeback_opened": {
        "order_id": "ord_1",
        "chargeback_id": "cb_1",
        "amount": MONEY,
        "reason": "fraud",
    },
    "stock_low": {"variant_id": "var_1", "sku": "M-1", "available": 1, "threshold": 2},
    "reconciliation_mismatch": {"run_id": "run_1", "provider": "stripe", "mismatch_count": 3},
    "tracking_update": {
        "order_id": "ord_1",
        "vendor_name": "Acme",
        "shipment_id": "s",
        "status": "exception",
        "carrier": "dhl",
        "tracking_number": "T1",
        "description": "address unknown",
    },
}


def test_every_kind_has_a_sample_context_and_a_known_category() -> None:
    assert sorted(CONTEXTS) == sorted(KINDS)
    assert {k.category for k in KINDS.values()} <= set(CATEGORIES)


def test_every_translatable_string_is_in_every_catalog() -> None:
    folder = resources.files("marketplace.notifications").joinpath("templates", "email")
    strings: set[str] = set()
    for template in folder.iterdir():
        strings |= set(re.findall(r'_\("([^"]*)"', template.read_text(encoding="utf-8")))
    assert len(strings) > 50
    for language in LANGUAGES:
        if language == "en":
            continue
        catalog = _catalog(language)
        assert sorted(strings - catalog.keys()) == [], language
        for source, translated in catalog.items():
            # Placeholders must survive translation, or rendering would fail or lose data.
            assert set(re.findall(r"%\(\w+\)s", source)) == set(
                re.findall(r"%\(\w+\)s", translated)
            )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_in_every_language(kind: str, language: str) -> None:
    rendered = render(
        kind, language, CONTEXTS[kind], site_name="Shop", recipient_name="Ada", unsubscribe_url=None
    )
    greeting = {"en": "Hello Ada,", "de": "Hallo Ada,", "fr": "Bonjour Ada,"}[language]
    assert rendered.text.startswith(greeting + "\n")
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert rendered.summary
    assert f'<html lang="{language}">' in rendered.html


MONEY_KINDS = sorted(k for k, context in CONTEXTS.items() if "1999" in str(context))


@pytest.mark.parametrize(
    ("language", "formatted"), [("en", "€19.99"), ("de", "19,99\xa0€"), ("fr", "19,99\xa0€")]
)
@pytest.mark.parametrize("kind", MONEY_KINDS)
def test_money_is_formatted_for_the_language(kind: str, language: str, formatted: str) -> None:
    rendered = render(
        kind, language, CONTEXTS[kind], site_name="S", recipient_name="A", unsubscribe_url=None
    )
    assert formatted in rendered.text


def test_an_amount_formatted_once_is_formatted_again_for_each_language_and_currency() -> None:
    # Formatted amounts are kept per process: what one message formatted must not leak into
    # another message's language or currency.
    def refund(language: str, amount: int, currency: str) -> str:
        context = {
            "order_id": "ord_1",
            "vendor_name": "Lamps",
            "amount": {"amount": amount, "currency": currency},
        }
        return render(
            "order_refunded",
            language,
            context,
            site_name="S",
            recipient_name="A",
            unsubscribe_url=None,
        ).text

    assert "€19.99" in refund("en", 1999, "EUR")
    assert "19,99\xa0€" in refund("de", 1999, "EUR")
    assert "$19.99" in refund("en", 1999, "USD")
    assert "¥1,999" in refund("en", 1999, "JPY")
    assert "€19.99" in refund("en", 1999, "EUR")


def test_html_escapes_what_vendors_and_customers_typed_but_text_keeps_it() -> None:
    context = {
        **CONTEXTS["vendor_new_order"],
        "lines": [{"title": "<script>x</script>", "sku": "A&B", "quantity": 1}],
    }
    rendered = render(
        "vendor_new_order", "en", context, site_name="S", recipient_name="<b>", unsubscribe_url=None
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;x&lt;/script&gt;" in rendered.html
    assert "1 x <script>x</script> (SKU A&B)" in rendered.text


def test_an_unknown_language_falls_back_to_english() -> None:
    rendered = render(
        "receipt",
        "ja",
        {"order_id": "ord_9"},
        site_name="S",
        recipient_name="Y",
        unsubscribe_url=None,
    )
    assert rendered.subject == "Your receipt for order ord_9"


def test_transactional_messages_cannot_be_switched_off_but_optional_ones_can() -> None:
    off = {(c, ch): False for c in CATEGORIES for ch in ("email", "in_app", "sms")}
    assert channel_enabled(KINDS["receipt"], "email", off)
    assert channel_enabled(KINDS["order_confirmation"], "in_app", off)
    assert not channel_enabled(KINDS["order_confirmation"], "sms", off)
    assert not channel_enabled(KINDS["order_shipped"], "email", off)
    assert not channel_enabled(KINDS["stock_low"], "in_app", off)
    # Defaults: email and in-app on, SMS off, and never SMS for kinds without a short form.
    assert channel_enabled(KINDS["order_shipped"], "email", {})
    assert not channel_enabled(KINDS["order_shipped"], "sms", {})
    assert channel_enabled(KINDS["order_shipped"], "sms", {("order_updates", "sms"): True})
    assert not channel_enabled(KINDS["order_delivered"], "sms", {("order_updates", "sms"): True})


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        (None, "en"),
        ("de", "de"),
        ("de-AT", "de"),
        ("fr_CH", "fr"),
        ("FR", "fr"),
        ("ja-JP", "en"),
        ("", "en"),
    ],
)
def test_language_of_a_locale(locale: str | None, language: str) -> None:
    assert language_of(locale) == language


def test_retry_delays_double_from_thirty_seconds_up_to_an_hour() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


@given(st.integers(min_value=0, max_value=10_000))
def test_retry_delays_never_shrink_and_stay_capped(attempts: int) -> None:
    assert timedelta(seconds=30) <= retry_delay(attempts) <= timedelta(hours=1)
    assert retry_delay(attempts) <= retry_delay(attempts + 1)


@given(st.text(min_size=1, max_size=40), st.sampled_from(sorted(CATEGORIES)))
def test_unsubscribe_tokens_round_trip_and_resist_tampering(user_id: str, category: str) -> None:
    token = unsubscribe_token(SECRET, user_id=user_id, category=category)
    assert read_unsubscribe_token(SECRET, token) == (user_id, category)
    assert read_unsubscribe_token(b"t" * 32, token) is None
    for other in sorted(CATEGORIES):
        if other != category:
            forged = unsubscribe_token(b"t" * 32, user_id=user_id, category=other)
            assert read_unsubscribe_token(SECRET, forged) is None


def test_malformed_unsubscribe_tokens_are_refused() -> None:
    for token in ("", "x", "a.b", "....", "%%%.%%%"):
        assert read_unsubscribe_token(SECRET, token) is None


def test_the_webhook_signature_covers_timestamp_and_body() -> None:
    header = webhook_signature("whsec_1", timestamp=1700000000, body=b'{"a":1}')
    expected = hmac.new(b"whsec_1", b'1700000000.{"a":1}', "sha256").hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert header != webhook_signature("whsec_1", timestamp=1700000001, body=b'{"a":1}')
    assert header != webhook_signature("whsec_1", timestamp=1700000000, body=b'{"a":2}')
