"""Ledger use cases: posting captures, fees, refunds and hold releases; reading balances,
a vendor's ledger, the trial balance and an order's transactions.

Postings are built by `domain.ledger` and checked to balance before anything is written;
each transaction has a unique key (`capture:<payment>`, `refund:<refund>`, ...) so the same
movement is never posted twice, whoever calls. None of these functions commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from marketplace.payments.domain import ledger as rules
from marketplace.payments.domain.ledger import CommissionLine, Posting, VendorShare
from marketplace.payments.errors import VendorOrderNotFound
from marketplace.payments.models import (
    CommissionLineRow,
    LedgerPosting,
    LedgerTransaction,
    Payment,
    PaymentShare,
)
from marketplace.payments.repository import ledger as repo
from marketplace.payments.repository import payment as payments_repo
from marketplace.platform.clock import utcnow
from marketplace.platform.money import Money
from marketplace.platform.pagination import PageParams
from marketplace.platform.uow import UnitOfWork

RELEASE_BATCH: Final = 200


class UnbalancedTransaction(AssertionError):
    """A builder produced postings that do not sum to zero: a bug, never posted."""


async def _post(
    uow: UnitOfWork,
    *,
    key: str,
    type_: str,
    currency: str,
    postings: Sequence[Posting],
    description: str,
    order_id: str | None = None,
    vendor_order_id: str | None = None,
    payment_id: str | None = None,
    refund_id: str | None = None,
    now: datetime | None = None,
) -> str | None:
    if not postings:
        return None  # nothing moved: a transaction without postings would only be noise
    _balanced(key, postings)
    return await repo.append(
        uow.session,
        key=key,
        type_=type_,
        currency=currency,
        postings=postings,
        now=now or utcnow(),
        description=description,
        order_id=order_id,
        vendor_order_id=vendor_order_id,
        payment_id=payment_id,
        refund_id=refund_id,
    )


# Other movements of money (payouts) post through the same checks.
post = _post


def _balanced(key: str, postings: Sequence[Posting]) -> Sequence[Posting]:
    residue = rules.unbalanced_currencies(postings)
    if residue:
        raise UnbalancedTransaction(f"{key}: postings do not balance: {residue}")
    return postings


def vendor_share(row: PaymentShare, lines: Sequence[CommissionLineRow] = ()) -> VendorShare:
    return VendorShare(
        vendor_order_id=row.vendor_order_id,
        vendor_id=row.vendor_id,
        gross_amount=row.gross_amount,
        tax_amount=row.tax_amount,
        commission_amount=row.commission_amount,
        commission_tax_amount=row.commission_tax_amount,
        platform_discount_amount=row.platform_discount_amount,
        lines=tuple(
            CommissionLine(line.order_item_id, line.rule_id, line.rate_bps, line.amount)
            for line in lines
        ),
    )


async def post_capture(
    uow: UnitOfWork, payment: Payment, *, fee: int, shares: Sequence[VendorShare] | None = None
) -> None:
    """The split of a captured payment, and the provider's fee as its own transaction,
    written when the unit of work commits. Only for the caller that has just moved the
    payment to succeeded (see below). `shares`: the payment's shares if the caller has them
    (they never change), else read."""
    if shares is None:
        shares = [
            vendor_share(row, lines)
            for row, lines in await payments_repo.shares_with_lines(uow.session, payment.id)
        ]
    else:
        # In the order reading them gives, so the postings are the same either way.
        shares = [
            replace(share, lines=tuple(sorted(share.lines, key=lambda line: line.order_item_id)))
            for share in sorted(shares, key=lambda share: share.vendor_order_id)
        ]
    entries = [
        repo.NewTransaction(
            key=f"capture:{payment.id}",
            type="capture",
            currency=payment.currency,
            postings=_balanced(
                f"capture:{payment.id}",
                rules.capture_postings(payment.provider, payment.currency, shares),
            ),
            description=f"capture of payment {payment.id}",
            order_id=payment.order_id,
            payment_id=payment.id,
        )
    ]
    if fee:
        entries.append(
            repo.NewTransaction(
                key=f"fee:{payment.id}",
                type="fee",
                currency=payment.currency,
                postings=_balanced(
                    f"fee:{payment.id}",
                    rules.fee_postings(payment.provider, payment.currency, fee),
                ),
                description=f"{payment.provider} fee on payment {payment.id}",
                order_id=payment.order_id,
                payment_id=payment.id,
            )
        )
    # Written with the commit, in the statement that writes the transaction's other new rows
    # (`uow.add_new`): only the settler whose conditional UPDATE moved the payment to
    # succeeded gets here, once, so the keys are new; were one taken, the unique index would
    # refuse the commit, and nothing would be posted twice.
    uow.add_new(*repo.new_rows([e for e in entries if e.postings], now=utcnow()))


async def post_refund(
    uow: UnitOfWork,
    payment: Payment,
    *,
    refund_id: str,
    vendor_order_id: str,
    amount: int,
) -> None:
    """Count the refund against its vendor order (locking the share row) and post its
    proportional reversal, out of pending or, after the hold, out of available."""
    counted = await payments_repo.add_refunded(uow.session, vendor_order_id, payment.id, amount)
    row = await payments_repo.share(uow.session, vendor_order_id)
    assert row is not None
    share = vendor_share(row)
    split = rules.refund_split(share, refunded_before=counted.refunded_before, amount=amount)
    await _post(
        uow,
        key=f"refund:{refund_id}",
        type_="refund",
        currency=payment.currency,
        postings=rules.refund_postings(
            payment.provider,
            payment.currency,
            share,
            split,
            released=counted.hold_status == "released",
        ),
        description=f"refund {refund_id} of vendor order {vendor_order_id}",
        order_id=payment.order_id,
        vendor_order_id=vendor_order_id,
        payment_id=payment.id,
        refund_id=refund_id,
    )


async def vendor_order_delivered(
    uow: UnitOfWork, *, vendor_order_id: str, delivered_at: datetime, hold_period: timedelta
) -> bool:
    """Start the hold; False when it had started already (a repeated delivery)."""
    if await payments_repo.start_hold(
        uow.session,
        vendor_order_id,
        delivered_at=delivered_at,
        release_at=delivered_at + hold_period,
    ):
        return True
    if await payments_repo.share(uow.session, vendor_order_id) is None:
        raise VendorOrderNotFound(f"no payment covers vendor order {vendor_order_id}")
    return False


async def release_due_holds(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """Move the pending earnings of every vendor order whose hold is over to available."""
    now = now or utcnow()
    released = 0
    for vendor_order_id in await payments_repo.due_holds(uow.session, now, RELEASE_BATCH):
        # The conditional UPDATE locks the share: a refund of this vendor order waits, then
        # sees "released" and debits available instead of pending.
        if not await payments_repo.release_hold(uow.session, vendor_order_id, now):
            continue
        row = await payments_repo.share(uow.session, vendor_order_id)
        assert row is not None
        account = rules.vendor_pending(row.vendor_id)
        for currency, total in await repo.vendor_order_balance(
            uow.session, account, vendor_order_id
        ):
            if total == 0:
                continue  # refunded in full before the hold ended: nothing to move
            await _post(
                uow,
                key=f"release:{vendor_order_id}:{currency}",
                type_="release",
                currency=currency,
                postings=rules.release_postings(row.vendor_id, vendor_order_id, currency, -total),
                description=f"hold of vendor order {vendor_order_id} released",
                vendor_order_id=vendor_order_id,
                payment_id=row.payment_id,
                now=now,
            )
        released += 1
    return released


# --- reads ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VendorBalance:
    """What the platform owes the vendor, per currency (negative: the vendor owes)."""

    pending: list[Money]
    available: list[Money]


async def vendor_balance(uow: UnitOfWork, vendor_id: str) -> VendorBalance:
    pending_account = rules.vendor_pending(vendor_id)
    available_account = rules.vendor_available(vendor_id)
    pending: list[Money] = []
    available: list[Money] = []
    for account, currency, debits, credits in await repo.balances(
        uow.session, [pending_account, available_account]
    ):
        total = debits - credits
        # Liabilities are credit-normal: the vendor's balance is the negated sum.
        target = pending if account == pending_account else available
        target.append(Money(-total, currency))
    return VendorBalance(pending=pending, available=available)


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account: str
    kind: str
    currency: str
    debits: int
    credits: int
    balance: int  # debits - credits


@dataclass(frozen=True, slots=True)
class TrialBalance:
    balanced: bool
    currencies: dict[str, tuple[int, int]]  # currency -> (debits, credits)
    accounts: list[AccountBalance]


async def trial_balance(uow: UnitOfWork) -> TrialBalance:
    currencies: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    accounts = []
    for account, currency, debits, credits in await repo.balances(uow.session):
        currencies[currency][0] += debits
        currencies[currency][1] += credits
        accounts.append(
            AccountBalance(
                account=account,
                kind=rules.account_kind(account),
                currency=currency,
                debits=debits,
                credits=credits,
                balance=debits - credits,
            )
        )
    totals = {c: (d, cr) for c, (d, cr) in sorted(currencies.items())}
    return TrialBalance(
        balanced=all(d == cr for d, cr in totals.values()), currencies=totals, accounts=accounts
    )


def vendor_accounts(vendor_id: str) -> list[str]:
    return [rules.vendor_pending(vendor_id), rules.vendor_available(vendor_id)]


async def vendor_ledger(
    uow: UnitOfWork, vendor_id: str, page: PageParams
) -> tuple[list[tuple[LedgerPosting, LedgerTransaction]], str | None]:
    rows, cursor = await repo.vendor_postings(
        uow.session, vendor_id, vendor_accounts(vendor_id), page
    )
    return [(row[0], row[1]) for row in rows], cursor


async def transactions(
    uow: UnitOfWork, *, order_id: str | None, page: PageParams
) -> tuple[list[tuple[LedgerTransaction, list[LedgerPosting]]], str | None]:
    items, cursor = await repo.transactions(uow.session, order_id=order_id, page=page)
    postings = await repo.postings_of(uow.session, [t.id for t in items])
    by_transaction: dict[str, list[LedgerPosting]] = defaultdict(list)
    for posting in postings:
        by_transaction[posting.transaction_id].append(posting)
    return [(t, by_transaction[t.id]) for t in items], cursor


# Sibling use cases (chargebacks) post their own transactions through the same checks.
post_transaction = _post
