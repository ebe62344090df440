"""What a checkout buys and at what price: the request, its lines (from the cart or given,
merged by variant, bounded in count and quantity) and their pricing against the catalog,
each vendor's shipping option and commission rules. Refusals name the field (422) and
change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from marketplace.catalog import public as catalog
from marketplace.identity.public import Principal
from marketplace.orders.domain.pricing import LineInput, Quote, quote
from marketplace.orders.errors import CheckoutRefused
from marketplace.orders.service import carts
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.money import Money
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

MAX_LINES: Final = 100
MAX_QUANTITY: Final = 99


@dataclass(frozen=True, slots=True)
class CheckoutItem:
    variant_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Checkout:
    shipping_address: Mapping[str, str]
    shipping_options: Mapping[str, str]
    provider: str
    payment_method: str
    cart_id: str | None = None
    items: Sequence[CheckoutItem] = ()
    coupon_codes: Sequence[str] = ()
    currency: str | None = None
    language: str | None = None
    tax_rates: Mapping[str, int] = field(default_factory=dict)  # country -> bps


def _refuse(loc: Sequence[str | int], msg: str, code: str) -> ValidationFailed:
    return CheckoutRefused.on_field(loc, msg, code)


async def _lines(uow: UnitOfWork, customer: Principal, request: Checkout) -> list[CheckoutItem]:
    if request.cart_id and request.items:
        raise _refuse(["body", "items"], "give a cart_id or items, not both", "ambiguous")
    if request.cart_id:
        found = await carts.checkout_lines(uow, cart_id=request.cart_id, customer_id=customer.id)
        items = [CheckoutItem(line.variant_id, line.quantity) for line in found]
    else:
        items = list(request.items)
    if not items:
        raise _refuse(["body", "items"], "nothing to buy", "empty")
    merged: dict[str, int] = {}
    for index, item in enumerate(items):
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise _refuse(
                ["body", "items", index, "quantity"], f"1 to {MAX_QUANTITY} per line", "quantity"
            )
        merged[item.variant_id] = merged.get(item.variant_id, 0) + item.quantity
    if len(merged) > MAX_LINES:
        raise _refuse(["body", "items"], f"at most {MAX_LINES} different items", "too_many")
    return [CheckoutItem(v, min(q, MAX_QUANTITY)) for v, q in merged.items()]


@dataclass(frozen=True, slots=True)
class _Priced:
    quote: Quote
    infos: dict[str, catalog.VariantInfo]
    commissions: dict[str, tuple[int | None, str | None]]  # variant -> (rate bps, rule id)
    shipping: dict[str, vendors.ShippingOptionInfo]
    return_windows: dict[str, int]
    tax_bps: int


async def _price(
    uow: UnitOfWork, items: Sequence[CheckoutItem], request: Checkout, now: datetime
) -> _Priced:
    infos = await catalog.variants_info(uow, [item.variant_id for item in items])
    for index, item in enumerate(items):
        info = infos.get(item.variant_id)
        if info is None or not info.purchasable:
            raise _refuse(
                ["body", "items", index, "variant_id"],
                f"{item.variant_id} is not for sale",
                "not_purchasable",
            )
    currencies = {infos[item.variant_id].price.currency for item in items}
    if len(currencies) > 1:
        raise _refuse(
            ["body", "items"], "items are priced in several currencies", "mixed_currencies"
        )
    currency = currencies.pop()
    if request.currency is not None and request.currency != currency:
        raise _refuse(
            ["body", "currency"], f"these items are sold in {currency}", "currency_unavailable"
        )
    if request.coupon_codes:
        raise _refuse(["body", "coupon_codes", 0], "no such coupon", "coupon_not_found")
    country = request.shipping_address["country"]
    vendor_ids = list(dict.fromkeys(infos[item.variant_id].vendor_id for item in items))
    shipping: dict[str, vendors.ShippingOptionInfo] = {}
    windows: dict[str, int] = {}
    # Every vendor of the cart with its options, then the commission rules: two queries.
    sellers, options_of = await vendors.sellers_of(uow, vendor_ids)
    for vendor_id in vendor_ids:
        vendor = sellers.get(vendor_id)
        if vendor is None or not vendor.can_sell:
            raise _refuse(["body", "items"], f"vendor {vendor_id} is not selling", "vendor_closed")
        windows[vendor_id] = vendor.return_window_days
        option_id = request.shipping_options.get(vendor_id)
        loc: list[str | int] = ["body", "shipping_options", vendor_id]
        if option_id is None:
            raise _refuse(loc, "choose a shipping option for this vendor", "missing")
        options = {o.id: o for o in options_of[vendor_id]}
        option = options.get(option_id)
        if option is None:
            raise _refuse(loc, "no such shipping option", "unknown_shipping_option")
        if not option.ships_to(country):
            raise _refuse(loc, f"this option does not ship to {country}", "not_shipped_there")
        if option.price.currency != currency:
            raise _refuse(loc, "shipping is priced in another currency", "mixed_currencies")
        shipping[vendor_id] = option

    resolved = await vendors.resolve_commissions(
        uow,
        sales=[
            (infos[item.variant_id].vendor_id, infos[item.variant_id].category_path)
            for item in items
        ],
        at=now,
    )
    rules = {item.variant_id: rule for item, rule in zip(items, resolved, strict=True)}

    def commission_of(line: LineInput, base: int) -> int:
        rule = rules[line.key]
        return 0 if rule is None else rule.on(Money(base, currency)).amount

    tax_bps = request.tax_rates.get(country, 0)
    priced = quote(
        currency,
        [
            LineInput(
                key=item.variant_id,
                vendor_id=infos[item.variant_id].vendor_id,
                unit_price=infos[item.variant_id].price.amount,
                quantity=item.quantity,
            )
            for item in items
        ],
        shipping={v: o.price.amount for v, o in shipping.items()},
        tax_bps=tax_bps,
        commission_of=commission_of,
    )
    commissions: dict[str, tuple[int | None, str | None]] = {
        v: (r.terms.percent_bps, r.rule_id) if r is not None else (None, None)
        for v, r in rules.items()
    }
    return _Priced(priced, infos, commissions, shipping, windows, tax_bps)
