"""Every query of the ledger: appending a transaction with its postings, and the sums that
balances are (a balance is never stored). Nothing here updates or deletes a posting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.payments.domain.ledger import Posting
from marketplace.payments.models import LedgerPosting, LedgerTransaction
from marketplace.platform import direct
from marketplace.platform.db import built_once, insert_ignore_rows, transient
from marketplace.platform.ids import new_id
from marketplace.platform.pagination import PageParams, SortKey, paginate

_transactions = cast(Table, LedgerTransaction.__table__)
_postings = cast(Table, LedgerPosting.__table__)


@dataclass(frozen=True, slots=True)
class NewTransaction:
    key: str
    type: str
    currency: str
    postings: Sequence[Posting]
    description: str
    order_id: str | None = None
    vendor_order_id: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None


async def append(
    session: AsyncSession,
    *,
    key: str,
    type_: str,
    currency: str,
    postings: Sequence[Posting],
    now: datetime,
    description: str,
    order_id: str | None = None,
    vendor_order_id: str | None = None,
    payment_id: str | None = None,
    refund_id: str | None = None,
) -> str | None:
    """Append one transaction unless one with `key` exists; its id, or None if it existed."""
    appended = await append_many(
        session,
        [
            NewTransaction(
                key=key,
                type=type_,
                currency=currency,
                postings=postings,
                description=description,
                order_id=order_id,
                vendor_order_id=vendor_order_id,
                payment_id=payment_id,
                refund_id=refund_id,
            )
        ],
        now=now,
    )
    return appended.get(key)


async def append_many(
    session: AsyncSession, entries: Sequence[NewTransaction], *, now: datetime
) -> dict[str, str]:
    """Append each transaction whose key is not taken yet, with its postings: one INSERT for
    the transactions and one for all their postings. Answers key -> id of those appended
    (a key already posted is skipped, with its postings)."""
    if not entries:
        return {}
    ids = {entry.key: new_id("ltx") for entry in entries}
    dialect = session.get_bind().dialect.name
    inserted = await direct.execute(
        session,
        built_once(
            ("ledger.append_transactions", dialect),
            lambda: insert_ignore_rows(_transactions, dialect).returning(_transactions.c.key),
        ),
        [
            {
                "id": ids[entry.key],
                "key": entry.key,
                "type": entry.type,
                "currency": entry.currency,
                "order_id": entry.order_id,
                "vendor_order_id": entry.vendor_order_id,
                "payment_id": entry.payment_id,
                "refund_id": entry.refund_id,
                "description": entry.description,
                "created_at": now,
            }
            for entry in entries
        ],
    )
    appended = {str(key): ids[str(key)] for key in inserted.scalars()}
    rows = [
        {
            "id": new_id("pst"),
            "transaction_id": appended[entry.key],
            "account": p.account,
            "currency": p.currency,
            "amount": p.amount,
            "vendor_id": p.vendor_id,
            "vendor_order_id": p.vendor_order_id,
            "order_item_id": p.order_item_id,
            "created_at": now,
        }
        for entry in entries
        if entry.key in appended
        for p in entry.postings
    ]
    if rows:
        # The table, not the mapped class: an ORM bulk insert leaves out the keys whose value
        # is None and splits the rows into one statement per set of columns.
        await direct.execute(
            session, built_once(("insert", _postings), partial(insert, _postings)), rows
        )
    return appended


def new_rows(
    entries: Sequence[NewTransaction], *, now: datetime
) -> list[LedgerTransaction | LedgerPosting]:
    """The rows of transactions whose keys the caller knows are new, parents first, for the
    unit of work to write with its commit (a taken key fails that commit)."""
    transactions = [
        transient(
            LedgerTransaction,
            id=new_id("ltx"),
            key=entry.key,
            type=entry.type,
            currency=entry.currency,
            order_id=entry.order_id,
            vendor_order_id=entry.vendor_order_id,
            payment_id=entry.payment_id,
            refund_id=entry.refund_id,
            description=entry.description,
            created_at=now,
        )
        for entry in entries
    ]
    postings = [
        transient(
            LedgerPosting,
            id=new_id("pst"),
            transaction_id=transaction.id,
            account=p.account,
            currency=p.currency,
            amount=p.amount,
            vendor_id=p.vendor_id,
            vendor_order_id=p.vendor_order_id,
            order_item_id=p.order_item_id,
            created_at=now,
        )
        for entry, transaction in zip(entries, transactions, strict=True)
        for p in entry.postings
    ]
    return [*transactions, *postings]


async def balances(
    session: AsyncSession, accounts: Sequence[str] | None = None
) -> list[tuple[str, str, int, int]]:
    """(account, currency, debits, credits) for the given accounts (all when None); the
    balance is debits - credits."""
    amount = LedgerPosting.amount
    stmt = select(
        LedgerPosting.account,
        LedgerPosting.currency,
        func.sum(case((amount > 0, amount), else_=0)),
        func.sum(case((amount < 0, -amount), else_=0)),
    ).group_by(LedgerPosting.account, LedgerPosting.currency)
    if accounts is not None:
        stmt = stmt.where(LedgerPosting.account.in_(list(accounts)))
    rows = (
        await session.execute(stmt.order_by(LedgerPosting.account, LedgerPosting.currency))
    ).all()
    # PostgreSQL sums BIGINT as NUMERIC: back to int.
    return [(str(a), str(c), int(d or 0), int(cr or 0)) for a, c, d, cr in rows]


async def vendor_order_balance(
    session: AsyncSession, account: str, vendor_order_id: str
) -> list[tuple[str, int]]:
    """(currency, sum) of one vendor order's postings on `account`."""
    rows = (
        await session.execute(
            select(LedgerPosting.currency, func.sum(LedgerPosting.amount))
            .where(
                LedgerPosting.account == account,
                LedgerPosting.vendor_order_id == vendor_order_id,
            )
            .group_by(LedgerPosting.currency)
        )
    ).all()
    return [(str(c), int(total or 0)) for c, total in rows]


async def vendor_postings(
    session: AsyncSession, vendor_id: str, accounts: Sequence[str], page: PageParams
) -> tuple[list[Any], str | None]:
    """The vendor's postings on its own accounts, newest first, with their transaction."""
    stmt: Any = (
        select(LedgerPosting, LedgerTransaction)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerPosting.vendor_id == vendor_id, LedgerPosting.account.in_(list(accounts)))
    )
    return await paginate(
        session,
        stmt,
        keys=[SortKey(LedgerPosting.id, descending=True)],
        params=page,
        cursor_of=lambda row: [row[0].id],
        rows=True,
    )


async def transactions(
    session: AsyncSession, *, order_id: str | None, page: PageParams
) -> tuple[list[LedgerTransaction], str | None]:
    stmt = select(LedgerTransaction)
    if order_id is not None:
        stmt = stmt.where(LedgerTransaction.order_id == order_id)
    items, cursor = await paginate(
        session,
        stmt,
        keys=[SortKey(LedgerTransaction.id)],
        params=page,
        cursor_of=lambda t: [t.id],
    )
    return list(items), cursor


async def postings_of(session: AsyncSession, transaction_ids: Sequence[str]) -> list[LedgerPosting]:
    if not transaction_ids:
        return []
    return list(
        await session.scalars(
            select(LedgerPosting)
            .where(LedgerPosting.transaction_id.in_(list(transaction_ids)))
            .order_by(LedgerPosting.transaction_id, LedgerPosting.id)
        )
    )


async def transactions_of_payment(
    session: AsyncSession, payment_id: str
) -> list[LedgerTransaction]:
    return list(
        await session.scalars(
            select(LedgerTransaction)
            .where(LedgerTransaction.payment_id == payment_id)
            .order_by(LedgerTransaction.id)
        )
    )
