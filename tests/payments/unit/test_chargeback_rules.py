"""Chargeback rules: the disputed amount is shared exactly (never more than a vendor order
has left, the rest unallocated), every opening balances, a won dispute undoes it to the
minor unit, and refunds plus chargebacks of a whole gross reverse every component exactly."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from marketplace.payments.domain import chargeback as rules
from marketplace.payments.domain import ledger
from marketplace.payments.domain.chargeback import ShareRoom, VendorPart
from marketplace.payments.domain.ledger import CommissionLine, Posting, VendorShare


@st.composite
def rooms(draw: st.DrawFn) -> list[ShareRoom]:
    count = draw(st.integers(min_value=1, max_value=5))
    result = []
    for i in range(count):
        gross = draw(st.integers(min_value=1, max_value=10**7))
        reserved = draw(st.integers(min_value=0, max_value=gross))
        result.append(ShareRoom(f"vo_{i}", gross, reserved, 0))
    return result


@given(rooms(), st.integers(min_value=1, max_value=5 * 10**7))
def test_allocation_is_exact_proportional_and_within_each_room(
    shares: list[ShareRoom], amount: int
) -> None:
    parts, unallocated = rules.allocate(amount, shares)

    free = {r.vendor_order_id: r.free for r in shares}
    total_free = sum(free.values())
    assert sum(p.amount for p in parts) + unallocated == amount
    assert sum(p.amount for p in parts) == min(amount, total_free)
    for part in parts:
        room = next(r for r in shares if r.vendor_order_id == part.vendor_order_id)
        assert 0 < part.amount <= room.free
        # Largest remainder: within one minor unit of the exact proportion.
        exact = min(amount, total_free) * room.free / total_free
        assert abs(part.amount - exact) < 1
        assert part.range_start == room.gross - part.amount  # the top of its gross


def test_allocation_example() -> None:
    parts, unallocated = rules.allocate(
        1_000, [ShareRoom("vo_a", 600, 0, 0), ShareRoom("vo_b", 700, 300, 0)]
    )

    # Free 600 and 400: 600 and 400 of 1000.
    assert (parts, unallocated) == (
        [VendorPart("vo_a", 600, 0), VendorPart("vo_b", 400, 300)],
        0,
    )
    parts, unallocated = rules.allocate(
        7, [ShareRoom("vo_a", 10, 0, 0), ShareRoom("vo_b", 10, 0, 0), ShareRoom("vo_c", 10, 0, 0)]
    )
    assert ([p.amount for p in parts], unallocated) == ([3, 2, 2], 0)


@st.composite
def share_and_cuts(draw: st.DrawFn) -> tuple[VendorShare, list[int], int]:
    """A vendor order, refunds (from the bottom) and one chargeback (from the top) that
    together take its whole gross."""
    gross = draw(st.integers(min_value=1, max_value=10**8))
    tax = draw(st.integers(min_value=0, max_value=gross))
    commission = draw(st.integers(min_value=0, max_value=gross - tax))
    share = VendorShare(
        vendor_order_id="vo_1",
        vendor_id="vnd_1",
        gross_amount=gross,
        tax_amount=tax,
        commission_amount=commission,
        commission_tax_amount=draw(st.integers(min_value=0, max_value=10**6)),
        platform_discount_amount=draw(st.integers(min_value=0, max_value=10**6)),
        lines=(CommissionLine("item_1", "cr", 1000, commission),),
    )
    charged_back = draw(st.integers(min_value=1, max_value=gross))
    left = gross - charged_back
    # Up to four refunds that add up to what the chargeback left.
    points = sorted(
        set(draw(st.lists(st.integers(min_value=1, max_value=max(left, 1)), max_size=3))) | {left}
    )
    points = [p for p in points if p <= left]
    refunds = [b - a for a, b in zip([0, *points], points, strict=False) if b > a]
    assert sum(refunds) == left
    return share, refunds, charged_back


def _totals(postings: list[Posting]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for p in postings:
        sums[p.account] += p.amount
    return {a: v for a, v in sums.items() if v}


@given(share_and_cuts(), st.booleans(), st.integers(min_value=0, max_value=5_000))
def test_refunds_and_a_chargeback_of_the_whole_gross_reverse_the_capture_exactly(
    case: tuple[VendorShare, list[int], int], reverse_commission: bool, fee: int
) -> None:
    share, refunds, charged_back = case
    postings = ledger.capture_postings("sandbox", "USD", [share])
    refunded = 0
    for amount in refunds:
        split = ledger.refund_split(share, refunded_before=refunded, amount=amount)
        postings += ledger.refund_postings("sandbox", "USD", share, split, released=False)
        refunded += amount
    [part], unallocated = rules.allocate(
        charged_back, [ShareRoom("vo_1", share.gross_amount, refunded, 0)]
    )
    opening = rules.opening_postings(
        "sandbox",
        "USD",
        [(share, part, False)],
        unallocated=unallocated,
        fee=fee,
        reverse_commission=reverse_commission,
    )
    assert ledger.unbalanced_currencies(opening) == {}
    assert all(p.amount != 0 for p in opening)

    everything = _totals(postings + opening)

    # Nothing is left with the vendor, the tax authority or the discount; clearing paid
    # out everything it took in, and the fee.
    expected = {"gateway_clearing:sandbox": -fee, "gateway_dispute_fee_expense:sandbox": fee}
    if not reverse_commission:
        # The vendor gave back the commission too: the platform keeps it, the vendor owes it.
        gave = sum(p.amount for p in opening if p.account == "vendor_pending:vnd_1")
        split = ledger.refund_split(share, refunded_before=part.range_start, amount=part.amount)
        assert gave == split.earnings + split.commission
        if split.commission:
            expected["platform_commission_revenue"] = -split.commission
            expected["vendor_pending:vnd_1"] = split.commission
    assert everything == {k: v for k, v in expected.items() if v}


@given(share_and_cuts(), st.booleans(), st.booleans(), st.integers(min_value=0, max_value=5_000))
def test_a_won_dispute_undoes_its_opening(
    case: tuple[VendorShare, list[int], int],
    reverse_commission: bool,
    released_since: bool,
    fee: int,
) -> None:
    share, _refunds, charged_back = case
    [part], unallocated = rules.allocate(
        charged_back, [ShareRoom("vo_1", share.gross_amount, 0, 0)]
    )
    opening = rules.opening_postings(
        "sandbox",
        "USD",
        [(share, part, False)],
        unallocated=unallocated,
        fee=fee,
        reverse_commission=reverse_commission,
    )
    won = rules.reversal_postings(
        "sandbox",
        "USD",
        [(share, part, released_since)],
        unallocated=unallocated,
        fee=fee,
        reverse_commission=reverse_commission,
    )

    assert ledger.unbalanced_currencies(won) == {}
    net = _totals(opening + won)
    if not released_since:
        assert net == {}
    else:
        # Taken from pending, given back to available (the hold ended meanwhile).
        assert set(net) <= {"vendor_pending:vnd_1", "vendor_available:vnd_1"}
        assert sum(net.values()) == 0


def test_a_new_chargeback_goes_below_the_lowest_open_or_lost_range() -> None:
    """A lost chargeback holds [6000, 8000) and a won one freed [8000, 10000); refunds
    reserved 1000. The new one fits in [1000, 6000), never over the lost one's range."""
    room = ShareRoom("vo_1", 10_000, reserved=3_000, charged_back=2_000, top=6_000)

    parts, unallocated = rules.allocate(6_000, [room])

    assert room.free == 5_000
    assert (parts, unallocated) == ([VendorPart("vo_1", 5_000, 1_000)], 1_000)
