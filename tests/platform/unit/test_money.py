"""Money: ISO exponents, exact arithmetic, the rounding rules, and the wire schema."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pycountry
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from marketplace.platform.money import (
    CurrencyMismatch,
    Money,
    MoneySchema,
    UnknownCurrency,
    allocate,
    convert,
    currency_exponent,
    percent_of,
)

# ISO 4217 list one: every current tender currency has 2 minor units except these.
ISO_ZERO = {
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
    "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
ISO_THREE = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
NOT_TENDER = {
    "XAG", "XAU", "XPD", "XPT", "XAD", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA",
    "XTS", "XXX", "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW",
}  # fmt: skip

CURRENCIES = ["USD", "EUR", "JPY", "KRW", "BHD", "KWD", "IQD", "CLP", "GBP"]
amounts = st.integers(min_value=-(10**12), max_value=10**12)
currencies = st.sampled_from(CURRENCIES)
monies = st.builds(Money, amounts, currencies)


def _sum(parts: list[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for part in parts:
        total += part
    return total


# --- currency exponents -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("JPY", 0),
        ("KRW", 0),
        ("USD", 2),
        ("EUR", 2),
        ("BHD", 3),
        ("KWD", 3),
        ("JOD", 3),
        ("TND", 3),
        ("ISK", 0),
        ("CLP", 0),
        ("IQD", 3),
        ("LBP", 2),
        ("XAF", 0),
    ],
)
def test_currency_exponent_matches_iso(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


def test_every_tender_currency_has_its_iso_exponent() -> None:
    # Guards the CLDR override table: a Babel upgrade that changes digits shows up here.
    for currency in pycountry.currencies:
        code = currency.alpha_3
        if code in NOT_TENDER:
            continue
        expected = 0 if code in ISO_ZERO else 3 if code in ISO_THREE else 2
        assert currency_exponent(code) == expected, code


@pytest.mark.parametrize("code", sorted(NOT_TENDER))
def test_non_tender_codes_are_rejected(code: str) -> None:
    with pytest.raises(UnknownCurrency):
        currency_exponent(code)


@pytest.mark.parametrize("code", ["usd", "Usd", "US", "USDD", "QQQ", "HRK", "", " USD", 840])
def test_malformed_or_unknown_codes_are_rejected(code: object) -> None:
    with pytest.raises(UnknownCurrency):
        currency_exponent(code)  # type: ignore[arg-type]


def test_unknown_currency_is_a_value_error() -> None:
    assert issubclass(UnknownCurrency, ValueError)
    assert issubclass(CurrencyMismatch, ValueError)


# --- construction and arithmetic ----------------------------------------------------


@pytest.mark.parametrize("amount", [True, False, 19.99, 19.0, "1999", Decimal("19"), None])
def test_amount_must_be_a_real_int(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["usd", "XAU", "XXX", "XTS", "ABC"])
def test_currency_must_be_known_and_uppercase(currency: str) -> None:
    with pytest.raises(UnknownCurrency):
        Money(1, currency)


def test_zero_and_is_zero() -> None:
    assert Money.zero("JPY") == Money(0, "JPY")
    assert Money.zero("JPY").is_zero
    assert not Money(-1, "JPY").is_zero


def test_add_sub_neg_mul() -> None:
    a, b = Money(1999, "USD"), Money(1, "USD")
    assert a + b == Money(2000, "USD")
    assert a - b == Money(1998, "USD")
    assert -a == Money(-1999, "USD")
    assert a * 3 == Money(5997, "USD")
    assert 3 * a == Money(5997, "USD")


def test_arithmetic_refuses_other_currencies_and_types() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(CurrencyMismatch):
        Money(1, "USD") - Money(1, "EUR")
    with pytest.raises(TypeError):
        Money(1, "USD") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "USD") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "USD") * True


def test_comparisons_within_one_currency() -> None:
    small, big = Money(1, "USD"), Money(2, "USD")
    assert small < big
    assert small <= big
    assert big > small
    assert big >= small
    assert small <= Money(1, "USD")
    assert sorted([big, small]) == [small, big]
    assert max(small, big) == big


def test_comparisons_across_currencies_raise_but_equality_is_false() -> None:
    with pytest.raises(CurrencyMismatch):
        _ = Money(1, "USD") < Money(2, "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money(1, "USD") >= Money(2, "EUR")
    assert Money(1, "USD") != Money(1, "EUR")
    not_money: object = 1
    assert Money(1, "USD") != not_money


def test_money_is_immutable_and_hashable() -> None:
    money = Money(5, "USD")
    with pytest.raises(AttributeError):
        money.amount = 6  # type: ignore[misc]
    assert {Money(5, "USD"), Money(5, "USD"), Money(5, "EUR")} == {
        Money(5, "USD"),
        Money(5, "EUR"),
    }


def test_as_dict() -> None:
    assert Money(1999, "USD").as_dict() == {"amount": 1999, "currency": "USD"}


# --- decimal conversion and formatting ----------------------------------------------


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        (Money(1999, "USD"), "19.99"),
        (Money(2000, "USD"), "20.00"),
        (Money(-5, "EUR"), "-0.05"),
        (Money(1999, "JPY"), "1999"),
        (Money(1500, "IQD"), "1.500"),
        (Money(1, "BHD"), "0.001"),
    ],
)
def test_to_decimal_has_exactly_the_currency_digits(money: Money, expected: str) -> None:
    assert str(money.to_decimal()) == expected


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("19.99", "USD", 1999),
        ("19.990", "USD", 1999),
        (Decimal("19.9"), "USD", 1990),
        ("-0.05", "EUR", -5),
        ("1999", "JPY", 1999),
        (Decimal("1E+3"), "JPY", 1000),
        ("1.5", "BHD", 1500),
        ("0", "USD", 0),
        ("-0.000", "USD", 0),
        ("0E-20", "USD", 0),
    ],
)
def test_from_decimal_exact(value: Decimal | str, currency: str, expected: int) -> None:
    assert Money.from_decimal(value, currency) == Money(expected, currency)


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("19.999", "USD"),
        ("0.001", "USD"),
        ("0.5", "JPY"),
        ("1.0001", "BHD"),
        ("1E-999999999", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("-Infinity", "USD"),
        ("abc", "USD"),
        ("", "USD"),
        ("1E+999999999", "USD"),
    ],
)
def test_from_decimal_rejects_inexact_or_invalid(value: str, currency: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Money.from_decimal(value, currency)


@pytest.mark.parametrize("value", [19.99, 1999, None])
def test_from_decimal_rejects_non_decimal_types(value: object) -> None:
    with pytest.raises(TypeError):
        Money.from_decimal(value, "USD")  # type: ignore[arg-type]


@given(monies)
def test_decimal_round_trip(money: Money) -> None:
    assert Money.from_decimal(money.to_decimal(), money.currency) == money
    assert Money.from_decimal(str(money.to_decimal()), money.currency) == money


@pytest.mark.parametrize(
    ("money", "locale", "expected"),
    [
        (Money(1999, "USD"), "en_US", "$19.99"),
        (Money(123456789, "USD"), "en_US", "$1,234,567.89"),
        (Money(-500, "EUR"), "en_US", "-€5.00"),
        (Money(1999, "USD"), "de_DE", "19,99\xa0$"),
        (Money(123456, "EUR"), "de_DE", "1.234,56\xa0€"),
        (Money(1999, "JPY"), "en_US", "¥1,999"),
        (Money(1999, "JPY"), "ja_JP", "￥1,999"),
        (Money(1234, "BHD"), "en_US", "BHD1.234"),
        # CLDR says IQD has 0 digits; Babel alone would print "IQD2" for this amount.
        (Money(1500, "IQD"), "en_US", "IQD1.500"),
        (Money(1230, "ALL"), "en_US", "ALL12.30"),
    ],
)
def test_format(money: Money, locale: str, expected: str) -> None:
    assert money.format(locale) == expected


def test_format_defaults_to_en_us() -> None:
    assert Money(5, "USD").format() == "$0.05"


# --- convert ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "rate", "to_currency", "expected"),
    [
        # exact halves go to the even neighbour: 0.125 -> 0.12, 0.135 -> 0.14
        (Money(125, "BHD"), "1", "USD", 12),
        (Money(135, "BHD"), "1", "USD", 14),
        (Money(-125, "BHD"), "1", "USD", -12),
        (Money(-135, "BHD"), "1", "USD", -14),
        (Money(1, "USD"), "50", "JPY", 0),  # 0.5 -> 0
        (Money(3, "USD"), "50", "JPY", 2),  # 1.5 -> 2
        (Money(5, "USD"), "50", "JPY", 2),  # 2.5 -> 2
        (Money(126, "BHD"), "1", "USD", 13),  # not a half: ordinary rounding
        (Money(1999, "USD"), "151.237", "JPY", 3023),  # 3023.22763
        (Money(10000, "JPY"), "0.0066", "USD", 6600),
        (Money(1000, "USD"), "0.3078", "KWD", 3078),
        (Money(1999, "EUR"), "1", "EUR", 1999),
    ],
)
def test_convert_exact_cases(money: Money, rate: str, to_currency: str, expected: int) -> None:
    assert convert(money, Decimal(rate), to_currency) == Money(expected, to_currency)


@pytest.mark.parametrize("rate", [1.1, 1, "1.1", None])
def test_convert_rate_must_be_decimal(rate: object) -> None:
    with pytest.raises(TypeError):
        convert(Money(100, "USD"), rate, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", ["0", "-1.2", "NaN", "Infinity", "1E+40", "1E-40"])
def test_convert_rate_must_be_positive_finite_and_sane(rate: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        convert(Money(100, "USD"), Decimal(rate), "EUR")


def test_convert_rejects_unknown_target() -> None:
    with pytest.raises(UnknownCurrency):
        convert(Money(100, "USD"), Decimal("1"), "XAU")


rates = st.decimals(
    min_value=Decimal("0.000001"),
    max_value=Decimal("100000"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)


@given(monies, rates, currencies)
def test_convert_equals_decimal_half_even_quantize(
    money: Money, rate: Decimal, to_currency: str
) -> None:
    exponent = currency_exponent(to_currency)
    with localcontext(prec=200):
        expected = (money.to_decimal() * rate).quantize(
            Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_EVEN
        )
    assert convert(money, rate, to_currency) == Money.from_decimal(expected, to_currency)


@given(
    st.integers(min_value=-(10**9), max_value=10**9),
    currencies,
    currencies,
    rates,
)
def test_convert_round_trip_within_one_minor_unit(
    amount: int, source: str, target: str, rate: Decimal
) -> None:
    # Only sensible when one source minor unit is worth at least one target minor unit;
    # otherwise the first conversion already throws information away.
    scale = Decimal(10) ** (currency_exponent(target) - currency_exponent(source))
    assume(rate * scale >= 1)
    money = Money(amount, source)
    there = convert(money, rate, target)
    back = convert(there, Decimal(1) / rate, source)
    assert abs(back.amount - money.amount) <= 1


# --- percent_of ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "bps", "expected"),
    [
        (10000, 250, 250),
        (1999, 1000, 200),  # 199.9
        (250, 100, 2),  # 2.5 -> 2
        (350, 100, 4),  # 3.5 -> 4
        (-250, 100, -2),
        (-350, 100, -4),
        (1999, 0, 0),
        (1999, 10000, 1999),
        (1999, 20000, 3998),
        (1, 4999, 0),
        (1, 5000, 0),  # 0.5 -> 0
        (1, 5001, 1),
    ],
)
def test_percent_of_exact_cases(amount: int, bps: int, expected: int) -> None:
    assert percent_of(Money(amount, "USD"), bps) == Money(expected, "USD")


def test_percent_of_validates_bps() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        percent_of(Money(100, "USD"), -1)
    with pytest.raises(TypeError):
        percent_of(Money(100, "USD"), 2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        percent_of(Money(100, "USD"), True)


bps_values = st.integers(min_value=0, max_value=10_000)


@given(monies, bps_values)
def test_percent_of_matches_decimal_half_even(money: Money, bps: int) -> None:
    with localcontext(prec=100):
        exact = Decimal(money.amount) * bps / 10_000
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert percent_of(money, bps) == Money(expected, money.currency)


@given(monies, bps_values)
def test_percent_of_complements_sum_to_total_within_one(money: Money, bps: int) -> None:
    total = percent_of(money, bps) + percent_of(money, 10_000 - bps)
    assert abs(total.amount - money.amount) <= 1


@given(amounts, amounts, bps_values, currencies)
def test_percent_of_is_additive_within_one(a: int, b: int, bps: int, currency: str) -> None:
    x, y = Money(a, currency), Money(b, currency)
    difference = percent_of(x + y, bps) - percent_of(x, bps) - percent_of(y, bps)
    assert abs(difference.amount) <= 1


# --- allocate -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (1, [1, 1], [1, 0]),
        (2, [1, 1, 1], [1, 1, 0]),
        (5, [0, 1, 0, 1], [0, 3, 0, 2]),
        (1000, [7], [1000]),
        (0, [1, 2], [0, 0]),
        (10, [3, 7], [3, 7]),
        (101, [50, 50, 1], [50, 50, 1]),
        # shares 0.3, 0.2, 0.5: the single cent goes to the largest remainder
        (1, [3, 2, 5], [0, 0, 1]),
        # shares 0.75 each: equal remainders, so the earlier indexes get the leftovers
        (3, [1, 1, 1, 1], [1, 1, 1, 0]),
        (100, [1, 2], [33, 67]),
    ],
)
def test_allocate_exact_cases(amount: int, weights: list[int], expected: list[int]) -> None:
    assert allocate(Money(amount, "USD"), weights) == [Money(e, "USD") for e in expected]


@pytest.mark.parametrize(
    ("weights", "error"),
    [
        ([], ValueError),
        ([0, 0], ValueError),
        ([1, -1, 2], ValueError),
        ([1.5, 1], TypeError),
        ([True, 1], TypeError),
        ("12", TypeError),
    ],
)
def test_allocate_rejects_bad_weights(weights: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        allocate(Money(100, "USD"), weights)  # type: ignore[arg-type]


weight_lists = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=25).filter(
    lambda ws: sum(ws) > 0
)


@given(monies, weight_lists)
def test_allocate_parts_sum_exactly_and_stay_within_one_of_share(
    money: Money, weights: list[int]
) -> None:
    parts = allocate(money, weights)
    total_weight = sum(weights)

    assert len(parts) == len(weights)
    assert all(part.currency == money.currency for part in parts)
    assert _sum(parts, money.currency) == money
    for part, weight in zip(parts, weights, strict=True):
        # |part - amount * weight / total_weight| < 1, compared without fractions
        assert abs(part.amount * total_weight - money.amount * weight) < total_weight
        if weight == 0:
            assert part.is_zero
        assert part.amount * money.amount >= 0  # never flips sign


@given(monies, weight_lists)
def test_allocate_negative_mirrors_positive(money: Money, weights: list[int]) -> None:
    assert allocate(-money, weights) == [-part for part in allocate(money, weights)]


# --- MoneySchema --------------------------------------------------------------------


def test_schema_round_trip() -> None:
    schema = MoneySchema.model_validate({"amount": 1999, "currency": "USD"})
    assert schema.to_money() == Money(1999, "USD")
    assert MoneySchema.from_money(Money(-5, "JPY")) == MoneySchema(amount=-5, currency="JPY")
    assert json.loads(MoneySchema.from_money(Money(1999, "USD")).model_dump_json()) == {
        "amount": 1999,
        "currency": "USD",
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"amount": 19.99, "currency": "USD"},
        {"amount": 19.0, "currency": "USD"},
        {"amount": "19", "currency": "USD"},
        {"amount": True, "currency": "USD"},
        {"amount": None, "currency": "USD"},
        {"amount": 1999, "currency": "usd"},
        {"amount": 1999, "currency": "QQQ"},
        {"amount": 1999, "currency": "XAU"},
        {"amount": 1999, "currency": "US"},
        {"amount": 1999, "currency": 840},
        {"amount": 1999},
        {"amount": 1999, "currency": "USD", "extra": 1},
    ],
)
def test_schema_rejects(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MoneySchema.model_validate(payload)
    with pytest.raises(ValidationError):
        MoneySchema.model_validate_json(json.dumps(payload))


def test_schema_json_schema_has_example_and_integer_amount() -> None:
    schema = MoneySchema.model_json_schema()
    assert schema["examples"] == [{"amount": 1999, "currency": "USD"}]
    assert schema["properties"]["amount"]["type"] == "integer"
    assert schema["properties"]["currency"]["pattern"] == "^[A-Z]{3}$"
