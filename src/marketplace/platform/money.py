"""Owns money: integer minor units plus an ISO 4217 code, and every rounding rule for it.

Floats never touch an amount. Arithmetic on :class:`Money` is exact; the only operations
that round are :func:`convert` (currency conversion) and :func:`percent_of` (basis-point
fees and taxes), both with banker's rounding, and :func:`allocate`, which splits an amount
without losing or inventing a single minor unit.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Self, TypedDict

import pycountry
from babel import Locale
from babel.numbers import format_currency
from pydantic import AfterValidator, BaseModel, ConfigDict, StrictInt, StringConstraints

__all__ = [
    "CurrencyMismatch",
    "Money",
    "MoneyDict",
    "MoneySchema",
    "UnknownCurrency",
    "allocate",
    "convert",
    "currency_exponent",
    "percent_of",
]


class UnknownCurrency(ValueError):
    """The code is not an ISO 4217 currency that can price goods."""


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined or compared."""


_CODE_RE = re.compile(r"[A-Z]{3}")

# ISO 4217 codes that are not legal tender: precious metals, bond-market and accounting
# units, SDR, testing/no-currency codes (all "N.A." minor units in ISO), plus the ISO
# "fund" codes (indexed units and same-day/next-day dollars). Babel reports 2 digits for
# all of them, so without this list they would be silently accepted as prices.
_NOT_TENDER = frozenset(
    {
        # metals
        "XAG", "XAU", "XPD", "XPT",
        # bond-market, accounting and supranational units of account
        "XAD", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA",
        # reserved: testing and "no currency involved"
        "XTS", "XXX",
        # funds
        "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW",
    }
)  # fmt: skip

# ISO 4217 minor units of the tender currencies that do not have two (ISO's table, list
# one). Settlement and card networks use these. CLDR (and so Babel) records the digits
# people use in practice instead, and changes them between releases (Babel 2.19 moved COP,
# HUF and others to 0), so amounts in minor units never depend on it.
_ISO_ZERO_DECIMALS = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
        "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
_ISO_THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

# Bounds that keep hostile inputs such as Decimal("1e999999999") from turning into
# gigantic integer powers; no real amount or exchange rate comes near them.
_MAX_MINOR_DIGITS = 38
_MAX_RATE_MAGNITUDE = 30


@cache
def _exponent_of_valid_code(code: str) -> int:
    if code in _NOT_TENDER or pycountry.currencies.get(alpha_3=code) is None:
        raise UnknownCurrency(f"unknown or non-tender currency code: {code!r}")
    if code in _ISO_ZERO_DECIMALS:
        return 0
    return 3 if code in _ISO_THREE_DECIMALS else 2


def currency_exponent(code: str) -> int:
    """Return the ISO 4217 minor-unit exponent of ``code`` (USD 2, JPY 0, BHD 3).

    ``code`` must be an uppercase, current ISO 4217 code of a tender currency; anything
    else (lowercase, withdrawn, metals, funds, XTS/XXX) raises :class:`UnknownCurrency`.
    """
    if not isinstance(code, str) or _CODE_RE.fullmatch(code) is None:
        raise UnknownCurrency(f"currency must be a 3-letter uppercase ISO 4217 code: {code!r}")
    return _exponent_of_valid_code(code)


def _div_round_half_even(numerator: int, denominator: int) -> int:
    # Floor division keeps 0 <= remainder < denominator for negative numerators too, so
    # the half-even test below is symmetric around zero without any sign juggling.
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def _require_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


class MoneyDict(TypedDict):
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in minor units (cents, yen, fils) of one currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        # int subclasses (IntEnum, numpy-ish wrappers) are normalised so equality and
        # hashing only ever see plain ints.
        object.__setattr__(self, "amount", _require_int(self.amount, "amount"))
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, value: Decimal | str, currency: str) -> Self:
        """Build from major units (``"19.99"``), refusing anything that would need rounding."""
        if isinstance(value, str):
            try:
                value = Decimal(value)
            except InvalidOperation:
                raise ValueError(f"not a decimal number: {value!r}") from None
        elif not isinstance(value, Decimal):
            raise TypeError(f"value must be a Decimal or str, got {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"amount must be finite, got {value}")
        exponent = currency_exponent(currency)
        sign, digits, exp = value.as_tuple()
        assert isinstance(exp, int)  # finite, checked above
        coefficient = int("".join(map(str, digits)))
        shift = exp + exponent
        if coefficient == 0:
            minor = 0
        elif shift >= 0:
            if value.adjusted() + exponent >= _MAX_MINOR_DIGITS:
                raise ValueError(f"amount out of range: {value}")
            minor = coefficient * 10**shift
        else:
            # Exact only if the digits below the minor unit are all zeros; more of them
            # than the coefficient has digits means a non-zero digit is lost for sure.
            if -shift > len(digits) or coefficient % 10**-shift:
                raise ValueError(
                    f"{value} has more than {exponent} decimal places allowed for {currency}"
                )
            minor = coefficient // 10**-shift
        return cls(-minor if sign else minor, currency)

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def to_decimal(self) -> Decimal:
        """Return the amount in major units with exactly ``exponent`` decimal places."""
        return Decimal(f"{self.amount}e-{self.exponent}")

    def format(self, locale: str | Locale = "en_US") -> str:
        """Render for humans, always showing the ISO number of decimals.

        Babel's default uses CLDR digits, which would print IQD 1.500 as "IQD2"; the
        locale's own pattern is reused with the fraction digits pinned to ISO instead.
        """
        parsed = Locale.parse(locale)
        pattern = copy.copy(parsed.currency_formats["standard"])
        pattern.frac_prec = (self.exponent, self.exponent)
        return str(
            format_currency(
                self.to_decimal(),
                self.currency,
                format=pattern,
                locale=parsed,
                currency_digits=False,
            )
        )

    def as_dict(self) -> MoneyDict:
        return {"amount": self.amount, "currency": self.currency}

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, quantity: int) -> Money:
        # Only integer quantities: scaling by a fraction needs a rounding rule, and those
        # live in convert() and percent_of().
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            return NotImplemented
        return Money(self.amount * quantity, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount >= other.amount


def convert(money: Money, rate: Decimal, to_currency: str) -> Money:
    """Convert at ``rate`` (units of ``to_currency`` per one unit of ``money.currency``).

    This is the one place conversion rounds: the exact product is rounded half-to-even to
    the target currency's minor unit. It is computed on integers, which is the same as
    quantizing the Decimal major-unit product but cannot hit the Decimal context's
    28-digit precision limit.
    """
    if not isinstance(rate, Decimal):
        raise TypeError(f"rate must be a Decimal, got {type(rate).__name__}")
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate must be a positive finite Decimal, got {rate}")
    if abs(rate.adjusted()) > _MAX_RATE_MAGNITUDE:
        raise ValueError(f"rate out of range: {rate}")
    to_exponent = currency_exponent(to_currency)
    _, digits, rate_exp = rate.as_tuple()
    assert isinstance(rate_exp, int)  # finite, checked above
    coefficient = int("".join(map(str, digits)))
    # target_minor = amount * coefficient * 10**shift, exactly
    shift = rate_exp + to_exponent - money.exponent
    product = money.amount * coefficient
    if shift >= 0:
        return Money(product * 10**shift, to_currency)
    return Money(_div_round_half_even(product, 10**-shift), to_currency)


def percent_of(money: Money, bps: int) -> Money:
    """Return ``bps`` basis points (1/100 of a percent) of ``money``, rounded half-to-even."""
    bps = _require_int(bps, "bps")
    if bps < 0:
        raise ValueError(f"bps must be non-negative, got {bps}")
    return Money(_div_round_half_even(money.amount * bps, 10_000), money.currency)


def allocate(money: Money, weights: Sequence[int]) -> list[Money]:
    """Split ``money`` in proportion to ``weights`` so the parts sum exactly to it.

    Largest-remainder method: every part gets the floor of its exact share, and the
    leftover minor units go one each to the largest fractional remainders, earlier index
    first on ties. A zero weight always gets zero. Negative amounts split like their
    absolute value, negated, so a refund prorates exactly like the charge did.
    """
    if isinstance(weights, str | bytes):
        raise TypeError("weights must be a sequence of ints")
    checked = [_require_int(weight, "weight") for weight in weights]
    if any(weight < 0 for weight in checked):
        raise ValueError("weights must be non-negative")
    total_weight = sum(checked)
    if total_weight == 0:
        raise ValueError("at least one weight must be positive")

    total = abs(money.amount)
    parts: list[int] = []
    remainders: list[int] = []
    for weight in checked:
        part, remainder = divmod(total * weight, total_weight)
        parts.append(part)
        remainders.append(remainder)
    leftover = total - sum(parts)
    by_remainder = sorted(range(len(checked)), key=lambda i: (-remainders[i], i))
    for index in by_remainder[:leftover]:
        parts[index] += 1

    sign = -1 if money.amount < 0 else 1
    return [Money(sign * part, money.currency) for part in parts]


def _validate_currency_code(code: str) -> str:
    currency_exponent(code)
    return code


class MoneySchema(BaseModel):
    """Money on the wire: an integer amount in minor units and an ISO 4217 currency code.

    Strict on purpose: 19.99, "1999" and true are rejected rather than coerced, because a
    client sending major units by mistake must fail loudly, not pay a hundredth.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={"examples": [{"amount": 1999, "currency": "USD"}]},
    )

    amount: StrictInt
    currency: Annotated[
        str,
        StringConstraints(strict=True, min_length=3, max_length=3, pattern=r"^[A-Z]{3}$"),
        AfterValidator(_validate_currency_code),
    ]

    def to_money(self) -> Money:
        return Money(self.amount, self.currency)

    @classmethod
    def from_money(cls, money: Money) -> Self:
        return cls(amount=money.amount, currency=money.currency)
