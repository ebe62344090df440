"""Pricing a checkout: the split adds up to the order, discounts are prorated exactly to who
funds them, tax and commission follow the documented bases."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from marketplace.orders.domain.pricing import Discount, LineInput, quote


def ten_percent(line: LineInput, base: int) -> int:
    return base // 10


def test_a_three_vendor_checkout_splits_into_vendor_orders_that_add_up() -> None:
    lines = [
        LineInput("v1", "ven_a", 1000, 2),
        LineInput("v2", "ven_b", 2500, 1),
        LineInput("v3", "ven_c", 999, 3),
        LineInput("v4", "ven_a", 500, 1),
    ]

    q = quote(
        "EUR",
        lines,
        shipping={"ven_a": 490, "ven_b": 0, "ven_c": 300},
        tax_bps=2000,
        commission_of=ten_percent,
    )

    by_vendor = {v.vendor_id: v for v in q.vendor_orders}
    assert [v.vendor_id for v in q.vendor_orders] == ["ven_a", "ven_b", "ven_c"]
    a = by_vendor["ven_a"]
    assert (a.subtotal, a.shipping, a.tax, a.total, a.commission) == (
        2500,
        490,
        500 + 98,
        2500 + 490 + 598,
        250,
    )
    assert by_vendor["ven_b"].total == 2500 + 500
    assert by_vendor["ven_c"].total == 2997 + 300 + 599 + 60
    assert q.total == sum(v.total for v in q.vendor_orders)
    assert (q.subtotal, q.shipping) == (2500 + 2500 + 2997, 790)


def test_discounts_are_prorated_to_who_funds_them() -> None:
    lines = [
        LineInput("v1", "ven_a", 3000, 1),
        LineInput("v2", "ven_a", 1000, 1),
        LineInput("v3", "ven_b", 4000, 1),
    ]

    q = quote(
        "USD",
        lines,
        shipping={},
        tax_bps=0,
        commission_of=ten_percent,
        discounts=[
            Discount("platform", 801),
            Discount("vendor", 400, vendor_id="ven_a"),
        ],
    )

    priced = {line.key: line for v in q.vendor_orders for line in v.lines}
    # ven_a's 400 first, by subtotal 3:1; then the platform's 801 over what is left
    # (2700, 900, 4000): floors 284, 94, 421 and the two units left to the largest
    # remainders (.86 and .58).
    assert {k: (p.discount - p.platform_discount) for k, p in priced.items()} == {
        "v1": 300,
        "v2": 100,
        "v3": 0,
    }
    assert {k: p.platform_discount for k, p in priced.items()} == {"v1": 284, "v2": 95, "v3": 422}
    # Commission is on what the vendor sells for: less its own discount, not the platform's.
    assert {k: p.commission for k, p in priced.items()} == {"v1": 270, "v2": 90, "v3": 400}
    assert q.discount == 1201
    assert q.total == 8000 - 1201


amounts = st.integers(min_value=0, max_value=50_000)


@given(
    lines=st.lists(
        st.tuples(st.sampled_from(["ven_a", "ven_b", "ven_c"]), amounts, st.integers(1, 9)),
        min_size=1,
        max_size=8,
    ),
    platform=amounts,
    vendor=amounts,
    tax_bps=st.integers(0, 3000),
    shipping=amounts,
)
def test_any_checkout_adds_up_and_never_discounts_below_zero(
    lines: list[tuple[str, int, int]],
    platform: int,
    vendor: int,
    tax_bps: int,
    shipping: int,
) -> None:
    inputs = [LineInput(f"v{i}", v, price, qty) for i, (v, price, qty) in enumerate(lines)]

    q = quote(
        "EUR",
        inputs,
        shipping=dict.fromkeys(("ven_a", "ven_b", "ven_c"), shipping),
        tax_bps=tax_bps,
        commission_of=ten_percent,
        discounts=[Discount("platform", platform), Discount("vendor", vendor, "ven_a")],
    )

    subtotal = sum(line.unit_price * line.quantity for line in inputs)
    a_subtotal = sum(
        line.unit_price * line.quantity for line in inputs if line.vendor_id == "ven_a"
    )
    vendor_part = min(vendor, a_subtotal)
    assert q.total == sum(v.total for v in q.vendor_orders)
    assert q.total == q.subtotal - q.discount + q.shipping + q.tax
    assert q.subtotal == subtotal
    assert q.discount == vendor_part + min(platform, subtotal - vendor_part)
    for v in q.vendor_orders:
        assert v.total == sum(line.total for line in v.lines) + v.shipping + (
            v.tax - sum(line.tax for line in v.lines)
        )
        for line in v.lines:
            assert 0 <= line.discount <= line.subtotal
            assert line.total >= 0
