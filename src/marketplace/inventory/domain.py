"""Pure inventory rules: what "available" means, when a variant is low or out of stock, the
reservation lifecycle, and the stock counts model the database's conditional updates follow.

No I/O here. The service applies these rules with conditional UPDATEs (the database decides
under concurrency); `StockCounts` states the same rules in plain Python so they can be
property-tested, and so tests can compare what the database did with what it should do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

# Ceilings that keep every count inside a 32-bit integer column with room to spare: a run of
# large adjustments is refused as invalid instead of overflowing into a database error.
MAX_ON_HAND: Final = 1_000_000_000
MAX_DELTA: Final = 1_000_000
MAX_THRESHOLD: Final = 1_000_000
SKU_MAX_LENGTH: Final = 64
REASON_MAX_LENGTH: Final = 200

ReservationStatus = Literal["active", "committed", "released", "expired"]
ReservationAction = Literal["commit", "release", "expire"]

# action -> (the status it applies to, the status it leads to, statuses where it is a no-op)
_TRANSITIONS: Final[dict[str, tuple[str, str, frozenset[str]]]] = {
    "commit": ("active", "committed", frozenset({"committed"})),
    "release": ("active", "released", frozenset({"released", "expired"})),
    "expire": ("active", "expired", frozenset({"committed", "released", "expired"})),
}


class InvalidReservationTransition(Exception):
    def __init__(self, action: str, current: str) -> None:
        self.action = action
        self.current = current
        super().__init__(f"cannot {action} a reservation that is {current}")


def reservation_transition(current: str, action: ReservationAction) -> str | None:
    """The status `action` leads to from `current`; None when it has already happened (a
    retried commit or release is a no-op). Committing units that were given back, or giving
    back units that were sold, is refused."""
    source, target, done = _TRANSITIONS[action]
    if current == source:
        return target
    if current in done:
        return None
    raise InvalidReservationTransition(action, current)


def available(on_hand: int, reserved: int) -> int:
    return on_hand - reserved


def in_stock(available_units: int) -> bool:
    return available_units > 0


def is_low(available_units: int, threshold: int) -> bool:
    """Low stock includes out of stock: a threshold of 0 alerts when the last unit goes."""
    return available_units <= threshold


LowStockSignal = Literal["alert", "rearm"]


def low_stock_signal(
    *, alerted: bool, available_units: int, threshold: int
) -> LowStockSignal | None:
    """What to do with the low-stock flag after a change.

    The vendor is alerted once per crossing: "alert" when the variant is low and has not been
    alerted yet, "rearm" when it is above the threshold again (so the next crossing alerts),
    None otherwise (another sale while already low alerts nobody).
    """
    low = is_low(available_units, threshold)
    if low and not alerted:
        return "alert"
    if not low and alerted:
        return "rearm"
    return None


def in_stock_flip(available_before: int, available_after: int) -> bool | None:
    """The new `in_stock` when a change crossed zero either way, else None: the catalog's flag
    only needs news when the answer to "can it be bought" changes."""
    before, after = in_stock(available_before), in_stock(available_after)
    return after if before != after else None


class StockRuleViolation(ValueError):
    """A change the stock rules refuse; `code` names which rule."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class StockCounts:
    """One variant's counts, with the history the invariant speaks about.

    `stocked` is every unit ever received, `sold` every unit committed to a sale and `removed`
    every unit taken out otherwise (damage, recount). Invariant: 0 <= reserved <= on_hand and
    on_hand == stocked - sold - removed, hence sold <= stocked.
    """

    on_hand: int = 0
    reserved: int = 0
    stocked: int = 0
    sold: int = 0
    removed: int = 0

    @property
    def available(self) -> int:
        return available(self.on_hand, self.reserved)

    def reserve(self, quantity: int) -> StockCounts:
        # SQL: SET reserved = reserved + :q WHERE on_hand - reserved >= :q
        _positive(quantity)
        if self.available < quantity:
            raise StockRuleViolation("out_of_stock", f"{quantity} wanted, {self.available} left")
        return replace(self, reserved=self.reserved + quantity)

    def commit(self, quantity: int) -> StockCounts:
        # SQL: SET on_hand = on_hand - :q, reserved = reserved - :q WHERE reserved >= :q
        _positive(quantity)
        if self.reserved < quantity:
            raise StockRuleViolation("not_reserved", f"{quantity} to sell, {self.reserved} held")
        return replace(
            self,
            on_hand=self.on_hand - quantity,
            reserved=self.reserved - quantity,
            sold=self.sold + quantity,
        )

    def release(self, quantity: int) -> StockCounts:
        # SQL: SET reserved = reserved - :q WHERE reserved >= :q
        _positive(quantity)
        if self.reserved < quantity:
            raise StockRuleViolation("not_reserved", f"{quantity} to free, {self.reserved} held")
        return replace(self, reserved=self.reserved - quantity)

    def adjust(self, delta: int) -> StockCounts:
        # SQL: SET on_hand = on_hand + :d WHERE on_hand + :d >= reserved AND on_hand + :d <= max
        if delta == 0 or abs(delta) > MAX_DELTA:
            raise StockRuleViolation("invalid_delta", f"delta must be 1..{MAX_DELTA} either way")
        return self.set_on_hand(self.on_hand + delta)

    def set_on_hand(self, on_hand: int) -> StockCounts:
        if on_hand > MAX_ON_HAND:
            raise StockRuleViolation("stock_limit_exceeded", f"on_hand above {MAX_ON_HAND}")
        if on_hand < self.reserved:
            raise StockRuleViolation(
                "insufficient_stock", f"on_hand {on_hand} below the {self.reserved} reserved"
            )
        delta = on_hand - self.on_hand
        return replace(
            self,
            on_hand=on_hand,
            stocked=self.stocked + max(delta, 0),
            removed=self.removed + max(-delta, 0),
        )


def _positive(quantity: int) -> None:
    if quantity <= 0:
        raise StockRuleViolation("invalid_quantity", "quantity must be at least 1")
