"""Payouts' own rules: statuses and their transitions, schedules (when a vendor is due), the
amount a payout may take, and its ledger postings.

A payout moves a vendor's *available* balance to the vendor's bank or wallet:

    pending ──(provider accepted)──> in_transit ──(payout.paid)──> paid
       │                                 │                          │
       └──────────(failed)───────────────┴──────(failed)────────────┘──> failed

* created (`pending`): Dr `vendor_available`, Cr `payouts_in_transit`: the money is reserved,
  so the same balance cannot be paid twice;
* paid: Dr `payouts_in_transit`, Cr `gateway_clearing:<provider>`: it left the platform;
* failed before paid: Dr `payouts_in_transit`, Cr `vendor_available`: the money is back;
* failed after paid (the bank returned it, as Stripe reports with `payout.failed` after
  `payout.paid`): first Dr clearing, Cr in transit (the money came back to the provider),
  then the same reversal to available.

Schedules are evaluated in UTC. A due date is the start (00:00 UTC) of a period: every day,
every week on the anchor weekday, every month on the anchor day (the month's last day when it
is shorter). Pure: no I/O, no framework.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from marketplace.payments.domain.ledger import Posting, gateway_clearing, vendor_available

PayoutStatus = Literal["pending", "in_transit", "paid", "failed"]
Interval = Literal["daily", "weekly", "monthly", "manual"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

INTERVALS: Final = ("daily", "weekly", "monthly", "manual")
WEEKDAYS: Final[tuple[Weekday, ...]] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
# Until a vendor chooses a schedule, payouts are made on request only: paying someone on a
# schedule they never agreed to (and to an account they may still be changing) is worse than
# waiting for them to ask.
DEFAULT_INTERVAL: Final[Interval] = "manual"
DEFAULT_WEEKLY_ANCHOR: Final[Weekday] = "monday"
DEFAULT_MONTHLY_ANCHOR: Final = 1
# Statuses from which the outcome can still change, and what a transition may start from.
OPEN_STATUSES: Final = ("pending", "in_transit")


def payouts_in_transit(vendor_id: str) -> str:
    return f"payouts_in_transit:{vendor_id}"


# --- schedules ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    interval: Interval
    weekly_anchor: Weekday = DEFAULT_WEEKLY_ANCHOR
    monthly_anchor: int = DEFAULT_MONTHLY_ANCHOR  # 1..31

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise ValueError(f"unknown interval {self.interval!r}")
        if self.weekly_anchor not in WEEKDAYS:
            raise ValueError(f"unknown weekday {self.weekly_anchor!r}")
        if not 1 <= self.monthly_anchor <= 31:
            raise ValueError("monthly_anchor must be 1 to 31")


def _midnight(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, tzinfo=UTC)


def _month_day(year: int, month: int, anchor: int) -> datetime:
    last = calendar.monthrange(year, month)[1]
    return datetime(year, month, min(anchor, last), tzinfo=UTC)


def next_due(schedule: Schedule, after: datetime) -> datetime | None:
    """The first due date strictly after `after`; None for a manual schedule."""
    if schedule.interval == "manual":
        return None
    day = _midnight(after)
    if schedule.interval == "daily":
        return day + timedelta(days=1)
    if schedule.interval == "weekly":
        target = WEEKDAYS.index(schedule.weekly_anchor)
        ahead = (target - day.weekday()) % 7 or 7
        return day + timedelta(days=ahead)
    this_month = _month_day(day.year, day.month, schedule.monthly_anchor)
    if this_month > after:
        return this_month
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return _month_day(year, month, schedule.monthly_anchor)


def is_due(next_run_at: datetime | None, now: datetime) -> bool:
    return next_run_at is not None and next_run_at <= now


# --- amounts --------------------------------------------------------------------------------


PayoutRefusal = Literal["nothing_available", "below_minimum", "exceeds_available", "not_positive"]


def payout_amount(
    available: int, *, requested: int | None, minimum: int = 0
) -> int | PayoutRefusal:
    """What a payout may take from an `available` balance (which may be negative: refunds
    after a payout net off first), or why it cannot be made.

    A request for an amount is paid in full or not at all; without one, the whole balance is
    paid if it reaches `minimum` (a schedule's threshold; at least one minor unit)."""
    if requested is not None:
        if requested <= 0:
            return "not_positive"
        return requested if requested <= available else "exceeds_available"
    if available <= 0:
        return "nothing_available"
    if available < minimum:
        return "below_minimum"
    return available


# --- postings -------------------------------------------------------------------------------


def reserve_postings(vendor_id: str, currency: str, amount: int) -> list[Posting]:
    """The payout is created: its amount leaves available and waits in transit."""
    _positive(amount)
    return [
        Posting(vendor_available(vendor_id), currency, amount, vendor_id),
        Posting(payouts_in_transit(vendor_id), currency, -amount, vendor_id),
    ]


def paid_postings(provider: str, vendor_id: str, currency: str, amount: int) -> list[Posting]:
    """The provider paid it: the platform no longer owes it, and clearing holds less."""
    _positive(amount)
    return [
        Posting(payouts_in_transit(vendor_id), currency, amount, vendor_id),
        Posting(gateway_clearing(provider), currency, -amount),
    ]


def returned_postings(provider: str, vendor_id: str, currency: str, amount: int) -> list[Posting]:
    """A paid payout came back (the bank returned it): the provider holds it again."""
    return [
        Posting(gateway_clearing(provider), currency, amount),
        Posting(payouts_in_transit(vendor_id), currency, -amount, vendor_id),
    ]


def failed_postings(vendor_id: str, currency: str, amount: int) -> list[Posting]:
    """The payout failed: its amount is available to the vendor again."""
    _positive(amount)
    return [
        Posting(payouts_in_transit(vendor_id), currency, amount, vendor_id),
        Posting(vendor_available(vendor_id), currency, -amount, vendor_id),
    ]


def _positive(amount: int) -> None:
    if amount <= 0:
        raise ValueError("a payout amount is positive")


__all__ = [
    "DEFAULT_INTERVAL",
    "INTERVALS",
    "OPEN_STATUSES",
    "WEEKDAYS",
    "Interval",
    "PayoutRefusal",
    "PayoutStatus",
    "Schedule",
    "Weekday",
    "failed_postings",
    "is_due",
    "next_due",
    "paid_postings",
    "payout_amount",
    "payouts_in_transit",
    "reserve_postings",
    "returned_postings",
]
