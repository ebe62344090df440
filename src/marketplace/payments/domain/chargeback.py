"""Chargeback rules: how a disputed amount is shared among a payment's vendor orders, and the
postings of a dispute opened and of one won. Pure: no I/O, no framework.

* **Allocation.** The disputed amount is charged to the vendor orders in proportion to what
  is still theirs (`gross - refunds reserved or done - open or lost chargebacks`), largest
  remainder first, never more than that per vendor order. What no vendor order can absorb
  (the provider disputed money we had refunded already) is the platform's loss
  (`platform_dispute_loss`) until the platform contests the dispute with the refund as
  evidence. So refunds + chargebacks of a vendor order never exceed its gross, and of a
  payment never exceed what was captured.
* **Which part of the sale.** Refunds reverse a vendor order's split from the bottom of its
  gross up (`[0, refunded)`); a chargeback takes the top (`[gross - charged back, gross)`),
  through the same proportional reversal (`ledger.refund_split`). The ranges never overlap,
  so any mix of refunds and chargebacks of the whole gross reverses every component exactly.
* **Postings.** Opening: clearing pays the disputed amount out; each vendor order gives back
  its earnings part (from pending inside the hold, from available after, which may go
  negative: invariant 8), tax is no longer owed, the platform-funded discount is taken back,
  and the commission is reversed when `reverse_commission` (the default, like a refund)
  or else borne by the vendor as well. The provider's dispute fee is a platform expense.
  Won: the same postings negated (the provider gives the fee back too), the vendor's part
  credited to available if the hold has ended since. Lost: nothing more moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from marketplace.payments.domain.ledger import (
    COMMISSION_REVENUE,
    Posting,
    VendorShare,
    gateway_clearing,
    refund_postings,
    refund_split,
    vendor_available,
    vendor_pending,
)

__all__ = [
    "DISPUTE_LOSS",
    "ShareRoom",
    "VendorPart",
    "allocate",
    "dispute_fee_expense",
    "opening_postings",
    "reversal_postings",
]

DISPUTE_LOSS: Final = "platform_dispute_loss"


def dispute_fee_expense(provider: str) -> str:
    return f"gateway_dispute_fee_expense:{provider}"


@dataclass(frozen=True, slots=True)
class ShareRoom:
    """What a vendor order can still give back. `reserved` counts refunds (reserved or done)
    and open or lost chargebacks; `charged_back` is the latter's part of it, and `top` the
    lowest start of their ranges (None: `gross - charged_back`, the ranges being
    contiguous). A won chargeback frees its range, which can leave a hole above `top`: a new
    chargeback goes below `top` all the same, so ranges never overlap."""

    vendor_order_id: str
    gross: int
    reserved: int
    charged_back: int
    top: int | None = None

    @property
    def ceiling(self) -> int:
        return self.gross - self.charged_back if self.top is None else self.top

    @property
    def free(self) -> int:
        # Refunds take [0, reserved - charged_back); a new chargeback fits below the ceiling.
        return self.ceiling - (self.reserved - self.charged_back)


@dataclass(frozen=True, slots=True)
class VendorPart:
    """One vendor order's part of a chargeback and the range of its gross it reverses."""

    vendor_order_id: str
    amount: int
    range_start: int


def allocate(amount: int, rooms: Sequence[ShareRoom]) -> tuple[list[VendorPart], int]:
    """Split `amount` over the vendor orders in proportion to their free room; returns the
    parts (zero parts left out) and the unallocated rest."""
    if amount <= 0:
        raise ValueError("a chargeback amount is positive")
    total_free = sum(max(r.free, 0) for r in rooms)
    if total_free <= amount:
        shares = {r.vendor_order_id: max(r.free, 0) for r in rooms}
    else:
        exact = [(r, amount * max(r.free, 0)) for r in rooms]
        shares = {r.vendor_order_id: q // total_free for r, q in exact}
        residue = amount - sum(shares.values())
        # Largest remainder first; ties in the payment's order of vendor orders.
        by_remainder = sorted(range(len(exact)), key=lambda i: -(exact[i][1] % total_free))
        for i in by_remainder[:residue]:
            shares[exact[i][0].vendor_order_id] += 1
    parts = [
        VendorPart(
            vendor_order_id=r.vendor_order_id,
            amount=shares[r.vendor_order_id],
            range_start=r.ceiling - shares[r.vendor_order_id],
        )
        for r in rooms
        if shares[r.vendor_order_id] > 0
    ]
    return parts, amount - sum(p.amount for p in parts)


def _vendor_postings(
    provider: str,
    currency: str,
    share: VendorShare,
    part: VendorPart,
    *,
    released: bool,
    reverse_commission: bool,
) -> list[Posting]:
    split = refund_split(share, refunded_before=part.range_start, amount=part.amount)
    postings = refund_postings(provider, currency, share, split, released=released)
    if reverse_commission:
        return postings
    # The platform keeps its commission: the vendor gives it back instead.
    vendor_account = (vendor_available if released else vendor_pending)(share.vendor_id)
    moved: list[Posting] = []
    for posting in postings:
        if posting.account == COMMISSION_REVENUE:
            moved.append(
                Posting(
                    vendor_account,
                    currency,
                    posting.amount,
                    share.vendor_id,
                    share.vendor_order_id,
                )
            )
        else:
            moved.append(posting)
    return moved


def opening_postings(
    provider: str,
    currency: str,
    parts: Sequence[tuple[VendorShare, VendorPart, bool]],
    *,
    unallocated: int,
    fee: int,
    reverse_commission: bool,
) -> list[Posting]:
    """`parts`: (share, part, released) per vendor order."""
    postings: list[Posting] = []
    for share, part, released in parts:
        postings += _vendor_postings(
            provider,
            currency,
            share,
            part,
            released=released,
            reverse_commission=reverse_commission,
        )
    if unallocated:
        postings.append(Posting(DISPUTE_LOSS, currency, unallocated))
        postings.append(Posting(gateway_clearing(provider), currency, -unallocated))
    if fee:
        postings.append(Posting(dispute_fee_expense(provider), currency, fee))
        postings.append(Posting(gateway_clearing(provider), currency, -fee))
    return [p for p in postings if p.amount != 0]


def reversal_postings(
    provider: str,
    currency: str,
    parts: Sequence[tuple[VendorShare, VendorPart, bool]],
    *,
    unallocated: int,
    fee: int,
    reverse_commission: bool,
) -> list[Posting]:
    """A won dispute: the opening negated; `released` is the vendor order's hold *now*."""
    opened = opening_postings(
        provider,
        currency,
        parts,
        unallocated=unallocated,
        fee=fee,
        reverse_commission=reverse_commission,
    )
    return [
        Posting(p.account, p.currency, -p.amount, p.vendor_id, p.vendor_order_id, p.order_item_id)
        for p in opened
    ]
