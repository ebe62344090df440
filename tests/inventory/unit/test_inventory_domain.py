"""Inventory rules without a database: the counts model, low-stock alerts once per crossing,
in/out-of-stock flips, and the reservation lifecycle."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.inventory.domain import (
    MAX_DELTA,
    MAX_ON_HAND,
    InvalidReservationTransition,
    StockCounts,
    StockRuleViolation,
    in_stock_flip,
    is_low,
    low_stock_signal,
    reservation_transition,
)

# One operation on a variant with its open reservations (quantities held, in order).
Op = tuple[str, int]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(min_value=1, max_value=8)),
        st.tuples(st.just("commit"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("adjust"), st.integers(min_value=-15, max_value=15)),
        st.tuples(st.just("set"), st.integers(min_value=0, max_value=30)),
    ),
    max_size=60,
)


def _apply(counts: StockCounts, held: list[int], op: Op) -> StockCounts:
    """Apply `op` as checkout and vendors would; reservations commit or release whole."""
    kind, value = op
    if kind == "reserve":
        counts = counts.reserve(value)
        held.append(value)
        return counts
    if kind in {"commit", "release"}:
        if not held:
            return counts
        quantity = held.pop(value % len(held))
        return counts.commit(quantity) if kind == "commit" else counts.release(quantity)
    if kind == "adjust":
        return counts.adjust(value)
    return counts.set_on_hand(value)


@given(initial=st.integers(min_value=0, max_value=30), ops=operations)
def test_no_sequence_oversells_or_holds_more_than_on_hand(initial: int, ops: list[Op]) -> None:
    counts = StockCounts().set_on_hand(initial)
    held: list[int] = []
    for op in ops:
        before, held_before = counts, list(held)
        try:
            counts = _apply(counts, held, op)
        except StockRuleViolation:
            # A refused change changes nothing.
            assert counts == before
            assert held == held_before
        assert 0 <= counts.reserved <= counts.on_hand
        assert counts.reserved == sum(held)
        assert counts.on_hand == counts.stocked - counts.sold - counts.removed
        assert counts.sold <= counts.stocked


@given(
    on_hand=st.integers(min_value=0, max_value=50),
    reserved=st.integers(min_value=0, max_value=50),
    quantity=st.integers(min_value=1, max_value=60),
)
def test_reserve_succeeds_exactly_when_enough_is_available(
    on_hand: int, reserved: int, quantity: int
) -> None:
    reserved = min(reserved, on_hand)
    counts = StockCounts(on_hand=on_hand, reserved=reserved, stocked=on_hand)

    if on_hand - reserved >= quantity:
        assert counts.reserve(quantity).reserved == reserved + quantity
    else:
        with pytest.raises(StockRuleViolation) as refused:
            counts.reserve(quantity)
        assert refused.value.code == "out_of_stock"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda c: c.adjust(-8), "insufficient_stock"),  # 10 - 8 < 3 reserved
        (lambda c: c.adjust(-11), "insufficient_stock"),  # negative
        (lambda c: c.adjust(0), "invalid_delta"),
        (lambda c: c.adjust(MAX_DELTA + 1), "invalid_delta"),
        (lambda c: c.set_on_hand(2), "insufficient_stock"),
        (lambda c: c.set_on_hand(MAX_ON_HAND + 1), "stock_limit_exceeded"),
        (lambda c: c.reserve(0), "invalid_quantity"),
        (lambda c: c.commit(4), "not_reserved"),
        (lambda c: c.release(4), "not_reserved"),
    ],
)
def test_refused_changes_name_their_rule(
    change: Callable[[StockCounts], StockCounts], code: str
) -> None:
    counts = StockCounts(on_hand=10, reserved=3, stocked=10)

    with pytest.raises(StockRuleViolation) as refused:
        change(counts)

    assert refused.value.code == code


def test_commit_sells_held_units_and_leaves_available_unchanged() -> None:
    counts = StockCounts(on_hand=10, stocked=10).reserve(4)

    sold = counts.commit(4)

    assert (sold.on_hand, sold.reserved, sold.available, sold.sold) == (6, 0, 6, 4)
    assert sold.available == counts.available


@given(
    threshold=st.integers(min_value=0, max_value=10),
    levels=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=40),
)
def test_low_stock_alerts_once_per_crossing(threshold: int, levels: list[int]) -> None:
    # Start above the threshold (as after a restock), then follow the available counts.
    alerted = False
    alerts = 0
    previous = threshold + 1
    crossings = 0
    for units in levels:
        if is_low(units, threshold) and not is_low(previous, threshold):
            crossings += 1
        signal = low_stock_signal(alerted=alerted, available_units=units, threshold=threshold)
        if signal == "alert":
            alerts += 1
            alerted = True
        elif signal == "rearm":
            alerted = False
        previous = units
    assert alerts == crossings


def test_low_stock_signal_cases() -> None:
    assert low_stock_signal(alerted=False, available_units=3, threshold=3) == "alert"
    assert low_stock_signal(alerted=True, available_units=2, threshold=3) is None
    assert low_stock_signal(alerted=True, available_units=4, threshold=3) == "rearm"
    assert low_stock_signal(alerted=False, available_units=4, threshold=3) is None
    # A threshold of 0 alerts when the variant sells out.
    assert low_stock_signal(alerted=False, available_units=0, threshold=0) == "alert"


@pytest.mark.parametrize(
    ("before", "after", "flip"),
    [(1, 0, False), (0, 1, True), (5, 1, None), (0, 0, None), (1, 5, None)],
)
def test_in_stock_flips_only_across_zero(before: int, after: int, flip: bool | None) -> None:
    assert in_stock_flip(before, after) is flip


@pytest.mark.parametrize(
    ("current", "action", "target"),
    [
        ("active", "commit", "committed"),
        ("committed", "commit", None),
        ("active", "release", "released"),
        ("released", "release", None),
        ("expired", "release", None),
        ("active", "expire", "expired"),
        ("committed", "expire", None),
        ("released", "expire", None),
    ],
)
def test_reservation_transitions(current: str, action: str, target: str | None) -> None:
    assert reservation_transition(current, action) == target  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "action"),
    [("released", "commit"), ("expired", "commit"), ("committed", "release")],
)
def test_reservation_transitions_that_would_lose_or_double_units_are_refused(
    current: str, action: str
) -> None:
    with pytest.raises(InvalidReservationTransition) as refused:
        reservation_transition(current, action)  # type: ignore[arg-type]

    assert refused.value.current == current
