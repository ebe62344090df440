"""Payout rules: when a schedule is due, what a payout may take, and its postings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.payments.domain.ledger import unbalanced_currencies
from marketplace.payments.domain.payout import (
    WEEKDAYS,
    Schedule,
    failed_postings,
    is_due,
    next_due,
    paid_postings,
    payout_amount,
    reserve_postings,
    returned_postings,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        (Schedule("daily"), "2026-03-10T15:30:00", "2026-03-11T00:00:00"),
        (Schedule("daily"), "2026-12-31T00:00:00", "2027-01-01T00:00:00"),
        # 2026-03-10 is a Tuesday.
        (Schedule("weekly"), "2026-03-10T09:00:00", "2026-03-16T00:00:00"),
        (Schedule("weekly", "tuesday"), "2026-03-10T09:00:00", "2026-03-17T00:00:00"),
        (Schedule("weekly", "wednesday"), "2026-03-10T09:00:00", "2026-03-11T00:00:00"),
        (Schedule("monthly"), "2026-03-10T09:00:00", "2026-04-01T00:00:00"),
        (Schedule("monthly", monthly_anchor=15), "2026-03-10T09:00:00", "2026-03-15T00:00:00"),
        (Schedule("monthly", monthly_anchor=15), "2026-03-15T00:00:00", "2026-04-15T00:00:00"),
        # A day the month lacks is its last day.
        (Schedule("monthly", monthly_anchor=31), "2026-01-31T10:00:00", "2026-02-28T00:00:00"),
        (Schedule("monthly", monthly_anchor=30), "2028-02-01T00:00:00", "2028-02-29T00:00:00"),
        (Schedule("monthly", monthly_anchor=5), "2026-12-20T00:00:00", "2027-01-05T00:00:00"),
    ],
)
def test_next_due_date(schedule: Schedule, after: str, expected: str) -> None:
    assert next_due(schedule, at(after)) == at(expected)


def test_a_manual_schedule_is_never_due() -> None:
    assert next_due(Schedule("manual"), at("2026-03-10T00:00:00")) is None
    assert is_due(None, at("2030-01-01T00:00:00")) is False


def test_due_means_the_date_has_come() -> None:
    due = at("2026-03-11T00:00:00")
    assert is_due(due, due) is True
    assert is_due(due, due - timedelta(microseconds=1)) is False


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        Schedule("hourly")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="monthly_anchor"):
        Schedule("monthly", monthly_anchor=32)
    with pytest.raises(ValueError, match="weekday"):
        Schedule("weekly", "someday")  # type: ignore[arg-type]


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    interval=st.sampled_from(["daily", "weekly", "monthly"]),
    weekday=st.sampled_from(WEEKDAYS),
    anchor=st.integers(min_value=1, max_value=31),
    after=moments,
)
def test_next_due_is_the_first_period_start_after(
    interval: str, weekday: str, anchor: int, after: datetime
) -> None:
    schedule = Schedule(interval, weekday, anchor)  # type: ignore[arg-type]
    due = next_due(schedule, after)
    assert due is not None
    assert due > after
    assert (due.hour, due.minute, due.second, due.microsecond) == (0, 0, 0, 0)
    limit = {"daily": 1, "weekly": 7, "monthly": 31}[interval]
    assert due - after <= timedelta(days=limit)
    if interval == "weekly":
        assert WEEKDAYS[due.weekday()] == weekday
    if interval == "monthly":
        assert due.day == anchor or (due.day < anchor and (due + timedelta(days=1)).day == 1)
    # Nothing due in between: from any later moment before it, the next date is still it.
    assert next_due(schedule, max(after, due - timedelta(days=1))) == due


@pytest.mark.parametrize(
    ("available", "requested", "minimum", "expected"),
    [
        (10_000, None, 0, 10_000),
        (10_000, 4_000, 0, 4_000),
        (10_000, 10_000, 0, 10_000),
        (10_000, 10_001, 0, "exceeds_available"),
        (10_000, 0, 0, "not_positive"),
        (10_000, -5, 0, "not_positive"),
        (0, None, 0, "nothing_available"),
        (-500, None, 0, "nothing_available"),  # a negative balance nets off first
        (-500, 100, 0, "exceeds_available"),
        (999, None, 1_000, "below_minimum"),
        (1_000, None, 1_000, 1_000),
        (1, None, 0, 1),
    ],
)
def test_payout_amount(
    available: int, requested: int | None, minimum: int, expected: int | str
) -> None:
    assert payout_amount(available, requested=requested, minimum=minimum) == expected


@given(
    available=st.integers(min_value=-(10**9), max_value=10**9),
    requested=st.none() | st.integers(min_value=-(10**9), max_value=10**9),
    minimum=st.integers(min_value=0, max_value=10**9),
)
def test_a_payout_never_exceeds_the_available_balance(
    available: int, requested: int | None, minimum: int
) -> None:
    decided = payout_amount(available, requested=requested, minimum=minimum)
    if isinstance(decided, int):
        assert 0 < decided <= available
        assert decided >= minimum or requested is not None


@given(amount=st.integers(min_value=1, max_value=10**12))
def test_every_payout_transaction_balances_and_a_failure_restores_available(amount: int) -> None:
    transactions = [
        reserve_postings("v1", "EUR", amount),
        paid_postings("sandbox", "v1", "EUR", amount),
        returned_postings("sandbox", "v1", "EUR", amount),
        failed_postings("v1", "EUR", amount),
    ]
    for postings in transactions:
        assert unbalanced_currencies(postings) == {}
        assert all(p.amount != 0 for p in postings)
    totals: dict[str, int] = {}
    for postings in transactions:
        for p in postings:
            totals[p.account] = totals.get(p.account, 0) + p.amount
    # Reserved, paid, returned, failed: everything is back where it started.
    assert {a: t for a, t in totals.items() if t} == {}
    reserved_then_failed = reserve_postings("v1", "EUR", amount) + failed_postings(
        "v1", "EUR", amount
    )
    assert sum(p.amount for p in reserved_then_failed if p.account == "vendor_available:v1") == 0


def test_payout_postings_refuse_non_positive_amounts() -> None:
    with pytest.raises(ValueError, match="positive"):
        reserve_postings("v1", "EUR", 0)
