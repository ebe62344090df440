"""Amounts as each gateway writes them, from our minor units and back.

Our amounts are integers in the currency's minor unit as `platform/money.py` defines it.
Gateways count in their own units, which differ from ours for some currencies: Stripe
counts JPY or MGA in whole units but HUF, IDR and ISK in hundredths, PayPal writes decimal
strings without decimals for HUF, JPY and TWD. Each adapter states its exponent per
currency; these functions convert exactly, and refuse an amount that the gateway cannot
express rather than round money away.
"""

from __future__ import annotations

from decimal import Decimal

from marketplace.platform.money import currency_exponent


class AmountNotRepresentable(ValueError):
    """The amount has more precision than the gateway accepts in this currency."""


def _shift(currency: str, gateway_exponent: int) -> int:
    return gateway_exponent - currency_exponent(currency)


def to_gateway_units(
    amount: int, currency: str, gateway_exponent: int, *, multiple_of: int = 1
) -> int:
    """`amount` (our minor units) counted in units of 10**-gateway_exponent of `currency`.
    `multiple_of` is a gateway rule on the last digits (Stripe's three-decimal currencies
    must end in 0)."""
    shift = _shift(currency, gateway_exponent)
    if shift >= 0:
        units = amount * int(10**shift)
    else:
        units, rest = divmod(amount, int(10**-shift))
        if rest:
            raise AmountNotRepresentable(
                f"{amount} minor units of {currency} are not a whole gateway amount"
            )
    if units % multiple_of:
        raise AmountNotRepresentable(f"{currency} amounts must be multiples of {multiple_of}")
    return units


def from_gateway_units(units: int, currency: str, gateway_exponent: int) -> int:
    """The inverse of `to_gateway_units`: our minor units of a gateway amount."""
    shift = _shift(currency, gateway_exponent)
    if shift >= 0:
        amount, rest = divmod(units, int(10**shift))
        if rest:
            raise AmountNotRepresentable(f"{units} is finer than our unit of {currency}")
        return amount
    return units * int(10**-shift)


def to_decimal_string(amount: int, currency: str, gateway_exponent: int) -> str:
    """`1999 USD` → `"19.99"`; `1500 JPY` → `"1500"` (with the gateway's decimals)."""
    units = to_gateway_units(amount, currency, gateway_exponent)
    return str(Decimal(units).scaleb(-gateway_exponent))


def from_decimal_string(value: str, currency: str) -> int:
    """`"19.99" USD` → `1999`, exactly (never through a float)."""
    scaled = Decimal(value).scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise AmountNotRepresentable(f"{value} {currency} is finer than our minor unit")
    return int(scaled)


__all__ = [
    "AmountNotRepresentable",
    "from_decimal_string",
    "from_gateway_units",
    "to_decimal_string",
    "to_gateway_units",
]
