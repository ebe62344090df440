"""Amounts in each gateway's units: exact both ways, and refused rather than rounded when a
gateway cannot express them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.payments.providers import paypal, razorpay, stripe
from marketplace.payments.providers.units import (
    AmountNotRepresentable,
    from_decimal_string,
    from_gateway_units,
    to_decimal_string,
    to_gateway_units,
)
from marketplace.platform.money import currency_exponent

CURRENCIES = ["USD", "EUR", "JPY", "KRW", "ISK", "MGA", "HUF", "IDR", "TWD", "KWD", "INR", "CLP"]
EXPONENTS: list[Callable[[str], int]] = [stripe.exponent, paypal.exponent, razorpay.exponent]


@pytest.mark.parametrize(
    ("amount", "currency", "stripe_units"),
    [
        (1_999, "USD", 1_999),
        (1_500, "JPY", 1_500),  # zero-decimal for us and for Stripe
        (1_500, "ISK", 150_000),  # whole krónur for us, hundredths at Stripe
        (1_500, "HUF", 1_500),  # hundredths for us (ISO) and at Stripe
        (2_500, "MGA", 25),  # hundredths for us (ISO), zero-decimal at Stripe
        (1_230, "KWD", 1_230),  # three decimals, the last one 0
    ],
)
def test_stripe_units(amount: int, currency: str, stripe_units: int) -> None:
    assert to_gateway_units(amount, currency, stripe.exponent(currency)) == stripe_units
    assert from_gateway_units(stripe_units, currency, stripe.exponent(currency)) == amount


def test_amounts_a_gateway_cannot_express_are_refused() -> None:
    with pytest.raises(AmountNotRepresentable):
        to_gateway_units(2_550, "MGA", stripe.exponent("MGA"))  # 25.50 ariary
    with pytest.raises(AmountNotRepresentable):
        to_gateway_units(1_235, "KWD", stripe.exponent("KWD"), multiple_of=10)
    with pytest.raises(AmountNotRepresentable):
        to_decimal_string(1_050, "TWD", paypal.exponent("TWD"))  # 10.50 dollars: PayPal has none
    with pytest.raises(AmountNotRepresentable):
        to_decimal_string(1_234, "KWD", paypal.exponent("KWD"))  # fils: PayPal writes 2 decimals
    with pytest.raises(AmountNotRepresentable):
        from_decimal_string("19.999", "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(1_999, "USD", "19.99"), (5, "EUR", "0.05"), (1_500, "JPY", "1500"), (1_000, "HUF", "10"),
     (1_000, "TWD", "10"), (0, "USD", "0.00")],
)  # fmt: skip
def test_paypal_decimal_strings(amount: int, currency: str, text: str) -> None:
    assert to_decimal_string(amount, currency, paypal.exponent(currency)) == text
    assert from_decimal_string(text, currency) == amount


@given(amount=st.integers(min_value=0, max_value=10**15), currency=st.sampled_from(CURRENCIES))
def test_every_representable_amount_round_trips_exactly(amount: int, currency: str) -> None:
    for exponent in EXPONENTS:
        try:
            units = to_gateway_units(amount, currency, exponent(currency))
        except AmountNotRepresentable:
            # Refused only when the gateway's unit is coarser and the amount has a remainder.
            coarser = currency_exponent(currency) - exponent(currency)
            assert coarser > 0
            assert amount % 10**coarser != 0
            continue
        assert from_gateway_units(units, currency, exponent(currency)) == amount
        text = to_decimal_string(amount, currency, exponent(currency))
        assert from_decimal_string(text, currency) == amount
