"""The ledger's posting builders: every split of any amounts balances per currency, the
vendor's earnings are what the formula says, and refunds in any number of parts reverse the
capture exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.payments.domain import ledger as rules
from marketplace.payments.domain.ledger import CommissionLine, Posting, VendorShare
from marketplace.payments.domain.payment import provider_key, share_problems


@st.composite
def shares(draw: st.DrawFn) -> VendorShare:
    gross = draw(st.integers(min_value=1, max_value=10**9))
    tax = draw(st.integers(min_value=0, max_value=gross))
    lines = draw(st.lists(st.integers(min_value=0, max_value=10**8), max_size=4))
    return VendorShare(
        vendor_order_id=f"vo_{draw(st.integers(0, 10**6))}",
        vendor_id=draw(st.sampled_from(["vnd_a", "vnd_b", "vnd_c"])),
        gross_amount=gross,
        tax_amount=tax,
        commission_amount=sum(lines),
        commission_tax_amount=draw(st.integers(min_value=0, max_value=10**7)),
        platform_discount_amount=draw(st.integers(min_value=0, max_value=10**8)),
        lines=tuple(
            CommissionLine(f"item_{i}", "cr_1", 1000, amount) for i, amount in enumerate(lines)
        ),
    )


def _sum(postings: list[Posting], prefix: str) -> int:
    return sum(p.amount for p in postings if p.account.startswith(prefix))


@given(st.lists(shares(), min_size=1, max_size=5), st.sampled_from(["USD", "EUR", "JPY"]))
def test_capture_balances_and_pays_each_vendor_its_earnings(
    split: list[VendorShare], currency: str
) -> None:
    postings = rules.capture_postings("sandbox", currency, split)

    assert rules.unbalanced_currencies(postings) == {}
    assert all(p.amount != 0 and p.currency == currency for p in postings)
    gross = sum(s.gross_amount for s in split)
    assert _sum(postings, "gateway_clearing:") == gross
    for vendor in {s.vendor_id for s in split}:
        earned = sum(
            s.gross_amount
            - s.tax_amount
            - s.commission_amount
            - s.commission_tax_amount
            + s.platform_discount_amount
            for s in split
            if s.vendor_id == vendor
        )
        assert _sum(postings, f"vendor_pending:{vendor}") == -earned
    assert _sum(postings, rules.COMMISSION_REVENUE) == -sum(s.commission_amount for s in split)
    assert _sum(postings, rules.TAX_PAYABLE) == -sum(
        s.tax_amount + s.commission_tax_amount for s in split
    )
    assert _sum(postings, rules.DISCOUNT_EXPENSE) == sum(s.platform_discount_amount for s in split)


@given(shares(), st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=6))
def test_refunds_in_parts_balance_and_a_full_refund_reverses_the_capture_exactly(
    share: VendorShare, wanted: list[int]
) -> None:
    refunded = 0
    refunded_earnings = 0
    postings: list[Posting] = []
    parts = []
    for amount in wanted:
        amount = min(amount, share.gross_amount - sum(parts))
        if amount <= 0:
            break
        parts.append(amount)
    if sum(parts) < share.gross_amount:
        parts.append(share.gross_amount - sum(parts))  # refund the rest: everything back
    for amount in parts:
        split = rules.refund_split(share, refunded_before=refunded, amount=amount)
        transaction = rules.refund_postings("sandbox", "USD", share, split, released=False)
        assert rules.unbalanced_currencies(transaction) == {}
        assert split.earnings == (
            amount - split.tax - split.commission - split.commission_tax + split.platform_discount
        )
        # Never more than the vendor order earned so far, whatever the rounding.
        assert 0 <= refunded_earnings + split.earnings <= share.earnings or share.earnings < 0
        refunded_earnings += split.earnings
        postings += transaction
        refunded += amount

    capture = rules.capture_postings("sandbox", "USD", [share])
    totals: dict[str, int] = {}
    for p in capture + postings:
        totals[p.account] = totals.get(p.account, 0) + p.amount
    assert {a: t for a, t in totals.items() if t} == {}


def test_refund_split_of_an_example() -> None:
    share = VendorShare("vo", "vnd", 10_000, 800, 800, 160, 1_000)

    first = rules.refund_split(share, refunded_before=0, amount=5_000)
    second = rules.refund_split(share, refunded_before=5_000, amount=3_333)

    assert (first.tax, first.commission, first.commission_tax, first.platform_discount) == (
        400,
        400,
        80,
        500,
    )
    assert first.earnings == 4_620
    # Cumulative 8333: earnings floor(9240 * .8333) = 7699 - 4620; commission takes the rest.
    assert (second.earnings, second.tax, second.commission_tax, second.platform_discount) == (
        3_079,
        266,
        53,
        333,
    )
    assert second.commission == 268


@pytest.mark.parametrize(("before", "amount"), [(0, 0), (0, -1), (9_000, 1_001), (-1, 10)])
def test_refund_split_refuses_amounts_outside_the_capture(before: int, amount: int) -> None:
    share = VendorShare("vo", "vnd", 10_000, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="outside"):
        rules.refund_split(share, refunded_before=before, amount=amount)


def test_refund_after_release_comes_out_of_available() -> None:
    share = VendorShare("vo", "vnd", 1_000, 0, 100, 0, 0)
    split = rules.refund_split(share, refunded_before=0, amount=1_000)

    postings = rules.refund_postings("sandbox", "USD", share, split, released=True)

    assert [(p.account, p.amount) for p in postings] == [
        ("gateway_clearing:sandbox", -1_000),
        ("vendor_available:vnd", 900),
        ("platform_commission_revenue", 100),
    ]


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_release_and_fee_balance(amount: int) -> None:
    release = rules.release_postings("vnd", "vo", "EUR", amount)
    fee = rules.fee_postings("sandbox", "EUR", abs(amount))
    assert rules.unbalanced_currencies(release) == {}
    assert rules.unbalanced_currencies(fee) == {}
    assert len(release) == (0 if amount == 0 else 2)


def test_unbalanced_currencies_reports_the_residue_per_currency() -> None:
    postings = [Posting("a", "USD", 5), Posting("b", "USD", -5), Posting("c", "EUR", 3)]
    assert rules.unbalanced_currencies(postings) == {"EUR": 3}


def test_share_problems_name_what_is_wrong() -> None:
    good = VendorShare("vo1", "vnd", 700, 0, 100, 0, 0, (CommissionLine("i", None, None, 100),))
    bad_lines = VendorShare("vo2", "vnd", 300, 400, 50, 0, 0)

    assert share_problems(700, [good]) == []
    assert share_problems(1_000, [good, bad_lines]) == [
        (("shares", 1, "tax_amount"), "tax exceeds the gross amount"),
        (("shares", 1, "commission_amount"), "must equal the sum of its lines"),
    ]
    assert share_problems(999, [good]) == [
        (("amount",), "must equal the sum of the vendor shares' gross amounts")
    ]


def test_provider_keys_are_stable_per_caller_key_and_distinct_per_scope() -> None:
    key = provider_key("payment", "ord_1", "abc")
    assert key == provider_key("payment", "ord_1", "abc")
    assert key.startswith("mk_payment_")
    assert len(key) <= 80
    assert key != provider_key("payment", "ord_2", "abc")
    assert key != provider_key("refund", "ord_1", "abc")
