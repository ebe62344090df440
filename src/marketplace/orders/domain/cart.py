"""Cart rules without I/O: the limits on lines and quantities, what merging two carts does,
which problems a line has given live catalog and stock facts, totals per currency, and how
guest tokens are made and checked.

The service applies these under the cart's row lock (its conditional UPDATE); stating them in
plain Python lets them be property-tested.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

MAX_QUANTITY: Final = 99
MAX_LINES: Final = 100
# A cart nobody touched for this long is abandoned; the periodic purge deletes it.
STALE_AFTER: Final = timedelta(days=30)

CartStatus = Literal["open", "merged", "converted"]
CART_STATUSES: Final = ("open", "merged", "converted")

Problem = Literal["not_purchasable", "out_of_stock", "insufficient_stock"]


@dataclass(frozen=True, slots=True)
class Line:
    variant_id: str
    quantity: int


def valid_quantity(quantity: int) -> bool:
    return 1 <= quantity <= MAX_QUANTITY


def added_quantity(current: int, added: int) -> int | None:
    """The line's quantity after adding `added` units, or None when that breaks the limit
    (the caller refuses rather than silently capping what the shopper asked for)."""
    total = current + added
    return total if valid_quantity(added) and valid_quantity(total) else None


def merge_lines(into: Sequence[Line], source: Sequence[Line]) -> list[Line]:
    """The lines of `into` after merging `source` into it: a variant in both keeps one line
    whose quantity is the sum capped at MAX_QUANTITY; the source's other variants follow in
    their order while there is room (MAX_LINES); the rest are dropped, because a merge happens
    at sign-in and must not fail the sign-in."""
    merged = {line.variant_id: line.quantity for line in into}
    for line in source:
        if line.variant_id in merged:
            merged[line.variant_id] = min(merged[line.variant_id] + line.quantity, MAX_QUANTITY)
        elif len(merged) < MAX_LINES:
            merged[line.variant_id] = min(line.quantity, MAX_QUANTITY)
    return [Line(variant_id, quantity) for variant_id, quantity in merged.items()]


def line_problems(
    *, quantity: int, known: bool, purchasable: bool, available: int | None
) -> list[Problem]:
    """What stands between this line and a checkout, as far as live data tells.

    `available` is None when the variant has no stock row: nothing can be reserved for it.
    """
    problems: list[Problem] = []
    if not known or not purchasable:
        problems.append("not_purchasable")
    units = available or 0
    if units <= 0:
        problems.append("out_of_stock")
    elif units < quantity:
        problems.append("insufficient_stock")
    return problems


def totals_by_currency(amounts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Sums of (currency, amount) pairs per currency, in currency order: a cart with
    several vendors may be priced in several currencies, which are never added together."""
    totals: dict[str, int] = {}
    for currency, amount in amounts:
        totals[currency] = totals.get(currency, 0) + amount
    return dict(sorted(totals.items()))


def new_guest_token() -> str:
    """A secret that proves possession of a guest cart (256 bits, URL-safe)."""
    return "ct_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Only the hash is stored: a leaked database does not hand out access to guest carts.
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str | None, token_hash: str | None) -> bool:
    if not token or not token_hash:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)
