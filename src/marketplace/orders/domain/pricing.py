"""Pricing a checkout: lines, discounts, shipping and tax, split into vendor orders.

Rules (all amounts integer minor units of the order's one currency):

* A line's subtotal is unit price x quantity.
* Discounts are attributed to who funds them. A platform-funded discount is prorated over
  every line of the checkout by line subtotal; a vendor-funded one over that vendor's lines
  only. Proration is largest-remainder (`platform.money.allocate`): the parts sum exactly to
  the discount, and no line is discounted below zero (a discount is capped at what it
  applies to).
* Tax is `tax_bps` of each line's discounted subtotal and of each vendor order's shipping,
  rounded half-to-even per line (the rate is the destination country's).
* Commission is charged on what the vendor sells the line for: the subtotal less the
  vendor's own discount. A platform-funded discount is the platform's cost, paid to the
  vendor on top, so it lowers neither the vendor's earnings nor the commission base.
* A vendor order's total is its lines' discounted subtotals + shipping + tax; the order's
  total is the sum of its vendor orders' totals, so the split always adds up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from marketplace.platform.money import Money, allocate, percent_of

FundedBy = Literal["platform", "vendor"]


@dataclass(frozen=True, slots=True)
class LineInput:
    key: str  # the variant id: one line per variant
    vendor_id: str
    unit_price: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Discount:
    funded_by: FundedBy
    amount: int
    vendor_id: str | None = None  # the funding vendor, for vendor-funded discounts
    code: str | None = None


@dataclass(frozen=True, slots=True)
class PricedLine:
    key: str
    vendor_id: str
    unit_price: int
    quantity: int
    subtotal: int
    discount: int
    platform_discount: int  # the platform-funded part of `discount`
    tax: int
    total: int  # subtotal - discount + tax
    commission: int


@dataclass(frozen=True, slots=True)
class PricedVendorOrder:
    vendor_id: str
    lines: tuple[PricedLine, ...]
    subtotal: int
    discount: int
    platform_discount: int
    shipping: int
    tax: int
    total: int
    commission: int


@dataclass(frozen=True, slots=True)
class Quote:
    currency: str
    vendor_orders: tuple[PricedVendorOrder, ...]
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int


CommissionOf = Callable[[LineInput, int], int]  # (line, commission base) -> commission


def _spread(
    currency: str, amount: int, lines: Sequence[LineInput], room: Mapping[str, int]
) -> dict[str, int]:
    """`amount` prorated over `lines` by subtotal, capped at each line's remaining `room`."""
    if not lines or amount <= 0:
        return {}
    total_room = sum(room[line.key] for line in lines)
    amount = min(amount, total_room)
    if amount == 0:
        return {}
    parts = allocate(Money(amount, currency), [room[line.key] for line in lines])
    return {line.key: part.amount for line, part in zip(lines, parts, strict=True)}


def quote(
    currency: str,
    lines: Sequence[LineInput],
    *,
    shipping: Mapping[str, int],
    tax_bps: int,
    commission_of: CommissionOf,
    discounts: Sequence[Discount] = (),
) -> Quote:
    if not lines:
        raise ValueError("a checkout has at least one line")
    if len({line.key for line in lines}) != len(lines):
        raise ValueError("one line per variant")
    for line in lines:
        if line.unit_price < 0 or line.quantity <= 0:
            raise ValueError(f"line {line.key}: price must be >= 0 and quantity > 0")
    subtotal = {line.key: line.unit_price * line.quantity for line in lines}
    room = dict(subtotal)
    vendor_discount = dict.fromkeys(subtotal, 0)
    platform_discount = dict.fromkeys(subtotal, 0)
    # Vendor-funded first: they change what the vendor sells for (and so the commission);
    # the platform's then cover what is left.
    for discount in sorted(discounts, key=lambda d: d.funded_by != "vendor"):
        if discount.amount < 0:
            raise ValueError("a discount is not negative")
        if discount.funded_by == "vendor":
            scope = [line for line in lines if line.vendor_id == discount.vendor_id]
            target = vendor_discount
        else:
            scope = list(lines)
            target = platform_discount
        for key, part in _spread(currency, discount.amount, scope, room).items():
            target[key] += part
            room[key] -= part

    priced: dict[str, list[PricedLine]] = {}
    for line in lines:
        off = vendor_discount[line.key] + platform_discount[line.key]
        net = subtotal[line.key] - off
        tax = percent_of(Money(net, currency), tax_bps).amount
        commission = commission_of(line, subtotal[line.key] - vendor_discount[line.key])
        priced.setdefault(line.vendor_id, []).append(
            PricedLine(
                key=line.key,
                vendor_id=line.vendor_id,
                unit_price=line.unit_price,
                quantity=line.quantity,
                subtotal=subtotal[line.key],
                discount=off,
                platform_discount=platform_discount[line.key],
                tax=tax,
                total=net + tax,
                commission=commission,
            )
        )

    vendor_orders = []
    for vendor_id, vendor_lines in priced.items():
        ship = shipping.get(vendor_id, 0)
        if ship < 0:
            raise ValueError("shipping is not negative")
        ship_tax = percent_of(Money(ship, currency), tax_bps).amount
        v_subtotal = sum(line.subtotal for line in vendor_lines)
        v_discount = sum(line.discount for line in vendor_lines)
        v_tax = sum(line.tax for line in vendor_lines) + ship_tax
        vendor_orders.append(
            PricedVendorOrder(
                vendor_id=vendor_id,
                lines=tuple(vendor_lines),
                subtotal=v_subtotal,
                discount=v_discount,
                platform_discount=sum(line.platform_discount for line in vendor_lines),
                shipping=ship,
                tax=v_tax,
                total=v_subtotal - v_discount + ship + v_tax,
                commission=sum(line.commission for line in vendor_lines),
            )
        )
    return Quote(
        currency=currency,
        vendor_orders=tuple(vendor_orders),
        subtotal=sum(v.subtotal for v in vendor_orders),
        discount=sum(v.discount for v in vendor_orders),
        shipping=sum(v.shipping for v in vendor_orders),
        tax=sum(v.tax for v in vendor_orders),
        total=sum(v.total for v in vendor_orders),
    )
