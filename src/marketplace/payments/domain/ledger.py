"""The ledger's rules: accounts, and the postings of every kind of money movement.

Double entry, in integer minor units. A posting is `(account, currency, amount)` where a
positive amount is a debit and a negative amount a credit. The invariants, which every
builder below keeps and the tests check with hypothesis:

1. Every transaction's postings sum to zero per currency (`unbalanced_currencies` is empty).
2. No posting is zero (a zero line says nothing and hides mistakes).
3. Postings are append-only: a correction is a new transaction, never an edit; a balance is
   always `sum(amount)` over an account's postings, never a stored number.
4. On capture, per vendor order:
   `earnings = gross - tax - commission - commission_tax + platform_discount`, and
   `gross + platform_discount == earnings + commission + tax + commission_tax`.
5. Refunds reverse a vendor order's capture in proportion to the gross refunded, computed on
   the cumulative refunded amount, so refunding the whole gross (in any number of parts)
   reverses every component exactly, with no rounding residue. Rounding never makes a
   vendor order give back more than it earned: the residue falls on commission.
6. A vendor's payable is credit-normal: its balance as the vendor sees it is `-sum(amount)`.
   Only refunds (and, later, chargebacks) may drive a vendor's available balance below zero;
   it then stays visible as a negative balance until earnings or a top-up cover it.

Accounts (one per code and currency; the code names the owner where there is one):

| code | kind | normal side | meaning |
|---|---|---|---|
| `gateway_clearing:<provider>` | asset | debit | money the provider holds for us |
| `gateway_fee_expense:<provider>` | expense | debit | what the provider charged |
| `platform_commission_revenue` | revenue | credit | commission earned |
| `platform_discount_expense` | expense | debit | discounts the platform funded |
| `tax_payable` | liability | credit | sales tax and tax on commission, owed to authorities |
| `vendor_pending:<vendor>` | liability | credit | earned, inside the hold period |
| `vendor_available:<vendor>` | liability | credit | payable to the vendor |
| `payouts_in_transit:<vendor>` | liability | credit | reserved for a payout, not yet paid |

Pure: no I/O, no framework.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "COMMISSION_REVENUE",
    "DISCOUNT_EXPENSE",
    "TAX_PAYABLE",
    "CommissionLine",
    "Posting",
    "RefundSplit",
    "VendorShare",
    "capture_postings",
    "fee_postings",
    "gateway_clearing",
    "gateway_fee_expense",
    "refund_postings",
    "refund_split",
    "release_postings",
    "unbalanced_currencies",
    "vendor_available",
    "vendor_pending",
]

COMMISSION_REVENUE: Final = "platform_commission_revenue"
DISCOUNT_EXPENSE: Final = "platform_discount_expense"
TAX_PAYABLE: Final = "tax_payable"

AccountKind = Literal["asset", "liability", "revenue", "expense"]


def gateway_clearing(provider: str) -> str:
    return f"gateway_clearing:{provider}"


def gateway_fee_expense(provider: str) -> str:
    return f"gateway_fee_expense:{provider}"


def vendor_pending(vendor_id: str) -> str:
    return f"vendor_pending:{vendor_id}"


def vendor_available(vendor_id: str) -> str:
    return f"vendor_available:{vendor_id}"


def account_kind(account: str) -> AccountKind:
    base = account.split(":", 1)[0]
    if base in {"gateway_clearing"}:
        return "asset"
    if base in {"gateway_fee_expense", DISCOUNT_EXPENSE}:
        return "expense"
    if base == COMMISSION_REVENUE:
        return "revenue"
    return "liability"


@dataclass(frozen=True, slots=True)
class CommissionLine:
    """The commission of one order line, frozen at sale."""

    order_item_id: str
    rule_id: str | None
    rate_bps: int | None  # None for flat-only rules
    amount: int  # minor units


@dataclass(frozen=True, slots=True)
class VendorShare:
    """One vendor order's part of a customer payment (see `earnings`)."""

    vendor_order_id: str
    vendor_id: str
    gross_amount: int  # items - discounts + shipping + tax
    tax_amount: int  # sales tax inside gross (the platform collects and remits it)
    commission_amount: int  # == sum(lines.amount)
    commission_tax_amount: int  # tax the platform charges on its commission
    platform_discount_amount: int  # discount funded by the platform: paid to the vendor on top
    lines: tuple[CommissionLine, ...] = ()

    @property
    def earnings(self) -> int:
        return (
            self.gross_amount
            - self.tax_amount
            - self.commission_amount
            - self.commission_tax_amount
            + self.platform_discount_amount
        )


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    currency: str
    amount: int  # > 0 debit, < 0 credit
    vendor_id: str | None = None
    vendor_order_id: str | None = None
    order_item_id: str | None = None


def unbalanced_currencies(postings: Iterable[Posting]) -> dict[str, int]:
    """Currencies whose postings do not sum to zero, with the residue (empty when balanced)."""
    sums: dict[str, int] = defaultdict(int)
    for posting in postings:
        sums[posting.currency] += posting.amount
    return {currency: total for currency, total in sums.items() if total != 0}


def _nonzero(postings: Iterable[Posting]) -> list[Posting]:
    return [p for p in postings if p.amount != 0]


def capture_postings(provider: str, currency: str, shares: Sequence[VendorShare]) -> list[Posting]:
    """The split of a captured payment: per vendor order, the gross into clearing, the
    vendor's earnings to its pending payable, commission (one posting per order line, so the
    frozen commission is itself in the ledger), tax, and the platform-funded discount."""
    postings: list[Posting] = []
    for share in shares:
        vo, vid = share.vendor_order_id, share.vendor_id
        postings.append(Posting(gateway_clearing(provider), currency, share.gross_amount, None, vo))
        postings.append(
            Posting(DISCOUNT_EXPENSE, currency, share.platform_discount_amount, vid, vo)
        )
        postings.append(Posting(vendor_pending(vid), currency, -share.earnings, vid, vo))
        line_total = 0
        for line in share.lines:
            line_total += line.amount
            postings.append(
                Posting(COMMISSION_REVENUE, currency, -line.amount, vid, vo, line.order_item_id)
            )
        # Commission not attributed to a line (a share without lines) is still revenue.
        postings.append(
            Posting(COMMISSION_REVENUE, currency, -(share.commission_amount - line_total), vid, vo)
        )
        postings.append(
            Posting(
                TAX_PAYABLE, currency, -(share.tax_amount + share.commission_tax_amount), vid, vo
            )
        )
    return _nonzero(postings)


def fee_postings(provider: str, currency: str, fee: int) -> list[Posting]:
    """The provider's fee: an expense of the platform, taken out of clearing."""
    return _nonzero(
        [
            Posting(gateway_fee_expense(provider), currency, fee),
            Posting(gateway_clearing(provider), currency, -fee),
        ]
    )


@dataclass(frozen=True, slots=True)
class RefundSplit:
    """What a refund takes back from each component of a vendor order's capture:
    `amount + platform_discount == earnings + tax + commission + commission_tax`."""

    amount: int
    earnings: int
    tax: int
    commission: int
    commission_tax: int
    platform_discount: int


def _portion(component: int, refunded: int, gross: int) -> int:
    return component * refunded // gross if gross else 0


def refund_split(share: VendorShare, *, refunded_before: int, amount: int) -> RefundSplit:
    """The proportional reversal of `amount`, given `refunded_before` already refunded.

    Each component's reversal is `portion(total refunded after) - portion(before)`, so the
    parts of any sequence of refunds add up to `portion(sum)`, and a full refund reverses
    each component exactly. Portions round down, the vendor's earnings included, so a
    vendor order never gives back more than it earned; the rounding residue (a minor unit or
    two, either way) falls on the platform's commission, which balances the transaction."""
    if amount <= 0 or refunded_before < 0 or refunded_before + amount > share.gross_amount:
        raise ValueError("refund outside the vendor order's captured amount")
    after = refunded_before + amount

    def part(component: int) -> int:
        gross = share.gross_amount
        return _portion(component, after, gross) - _portion(component, refunded_before, gross)

    earnings = part(share.earnings)
    tax = part(share.tax_amount)
    commission_tax = part(share.commission_tax_amount)
    platform_discount = part(share.platform_discount_amount)
    return RefundSplit(
        amount=amount,
        earnings=earnings,
        tax=tax,
        commission=amount + platform_discount - earnings - tax - commission_tax,
        commission_tax=commission_tax,
        platform_discount=platform_discount,
    )


def refund_postings(
    provider: str, currency: str, share: VendorShare, split: RefundSplit, *, released: bool
) -> list[Posting]:
    """Money back to the customer out of clearing; the vendor's part comes out of pending,
    or out of available once the hold was released (which may then go below zero)."""
    vo, vid = share.vendor_order_id, share.vendor_id
    vendor_account = vendor_available(vid) if released else vendor_pending(vid)
    return _nonzero(
        [
            Posting(gateway_clearing(provider), currency, -split.amount, None, vo),
            Posting(vendor_account, currency, split.earnings, vid, vo),
            Posting(COMMISSION_REVENUE, currency, split.commission, vid, vo),
            Posting(TAX_PAYABLE, currency, split.tax + split.commission_tax, vid, vo),
            Posting(DISCOUNT_EXPENSE, currency, -split.platform_discount, vid, vo),
        ]
    )


def release_postings(
    vendor_id: str, vendor_order_id: str, currency: str, pending: int
) -> list[Posting]:
    """The hold is over: the vendor order's pending balance (as the vendor sees it, a
    positive number when owed) becomes available."""
    return _nonzero(
        [
            Posting(vendor_pending(vendor_id), currency, pending, vendor_id, vendor_order_id),
            Posting(vendor_available(vendor_id), currency, -pending, vendor_id, vendor_order_id),
        ]
    )
