"""Amounts as each gateway writes them, from our ISO 4217 minor units and back.

Our amounts are integers in the currency's ISO 4217 minor unit (`platform/money.py`).
Gateways mostly agree, but not always: Stripe counts JPY or MGA in whole units and ISK in
hundredths, PayPal writes decimal strings and has no decimals for HUF, JPY and TWD. Each
adapter states its exponents; these functions convert exactly and refuse an amount that
the gateway cannot express rather than round money away.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from marketplace.platform.money import currency_exponent


class AmountNotRepresentable(ValueError):
    """The amount has more precision than the gateway accepts in this currency."""


def _scale(shift: int) -> int:
    return int(10 ** abs(shift))


def to_gateway_units(
    amount: int, currency: str, overrides: Mapping[str, int], *, multiple_of: int = 1
) -> int:
    """`amount` (ISO minor units) in the gateway's units for `currency`, whose exponent is
    `overrides.get(currency)` or ISO's. `multiple_of` is a gateway rule on the last digits
    (Stripe's three-decimal currencies must end in 0)."""
    shift = overrides.get(currency, currency_exponent(currency)) - currency_exponent(currency)
    if shift >= 0:
        units = amount * _scale(shift)
    else:
        units, rest = divmod(amount, _scale(shift))
        if rest:
            raise AmountNotRepresentable(
                f"{amount} minor units of {currency} are not a whole gateway amount"
            )
    if units % multiple_of:
        raise AmountNotRepresentable(f"{currency} amounts must be multiples of {multiple_of}")
    return units


def from_gateway_units(units: int, currency: str, overrides: Mapping[str, int]) -> int:
    """The inverse of `to_gateway_units`: ISO minor units of a gateway amount."""
    shift = overrides.get(currency, currency_exponent(currency)) - currency_exponent(currency)
    if shift >= 0:
        amount, rest = divmod(units, _scale(shift))
        if rest:
            raise AmountNotRepresentable(f"{units} is finer than ISO's unit of {currency}")
        return amount
    return units * _scale(shift)


def to_decimal_string(amount: int, currency: str, overrides: Mapping[str, int]) -> str:
    """`1999 USD` → `"19.99"`; `1500 JPY` → `"1500"` (the gateway's exponent decides)."""
    exponent = overrides.get(currency, currency_exponent(currency))
    units = to_gateway_units(amount, currency, overrides)
    return str(Decimal(units).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def from_decimal_string(value: str, currency: str) -> int:
    """`"19.99" USD` → `1999`, exactly (never through a float)."""
    scaled = Decimal(value).scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise AmountNotRepresentable(f"{value} {currency} is finer than ISO's minor unit")
    return int(scaled)


__all__ = [
    "AmountNotRepresentable",
    "from_decimal_string",
    "from_gateway_units",
    "to_decimal_string",
    "to_gateway_units",
]
