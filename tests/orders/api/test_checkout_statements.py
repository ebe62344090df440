"""How much SQL a checkout costs, pinned: the statements (by kind and table) and the
transactions of one paid 2-vendor checkout through the HTTP API on the real engine, so that a
repeated read or a row-by-row insert cannot creep back into the hot path unnoticed.

If a change adds a statement on purpose, update the expected list here and say why in the
commit; docs/benchmarks.md has the figures behind these numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import httpx
from sqlalchemy import event, func, select

from factories.checkout import checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.payments.models import LedgerPosting, LedgerTransaction

# (kind, table) of every statement a paid checkout runs, in order; BEGIN and COMMIT left out
# (SQLite's BEGIN is a statement here, PostgreSQL's is not). A list is the rows of several
# tables written by one call of `insert_objects`: one statement on PostgreSQL, one per table
# on SQLite. Three transactions on PostgreSQL: the order with its reservation and pending
# payment, after the Idempotency-Key's reservation that commits with it; the provider's own
# records (the sandbox stands for a remote gateway); the settlement with the ledger,
# committed with the stored response. On SQLite the key's reservation commits on its own.
Statement = tuple[str, str]


class PerDialect(NamedTuple):
    """Statements that differ by database: PostgreSQL changes the stock rows of all lines in
    one statement, SQLite one line at a time."""

    postgresql: list[Statement]
    sqlite: list[Statement]


EXPECTED: list[Statement | list[Statement] | PerDialect] = [
    ("INSERT", "platform_idempotency_key"),
    ("SELECT", "identity_user"),  # the bearer token's user (tokens end on password change)
    ("SELECT", "orders_order"),  # a retried checkout resumes its order
    ("SELECT", "catalog_variant"),
    ("SELECT", "vendors_vendor"),  # every vendor of the cart with its shipping options
    ("SELECT", "vendors_commission_rule"),  # every line's rule at once
    # the lines' units held, last before the commit writes (the stock rows are what
    # concurrent checkouts share): rows locked in variant order, all lines or none
    PerDialect(
        postgresql=[("UPDATE", "inventory_stock")],
        sqlite=[("UPDATE", "inventory_stock"), ("UPDATE", "inventory_stock")],
    ),
    [  # with the commit
        ("INSERT", "inventory_reservation"),
        ("INSERT", "inventory_reservation_line"),
        ("INSERT", "payments_payment"),
        ("INSERT", "payments_share"),
        ("INSERT", "payments_commission_line"),
        ("INSERT", "orders_order"),
        ("INSERT", "orders_vendor_order"),
        ("INSERT", "orders_order_item"),
        ("INSERT", "orders_timeline_entry"),
    ],
    # the provider's transaction: its intent and event with the commit, as one request
    [
        ("INSERT", "payments_sandbox_intent"),
        ("INSERT", "payments_sandbox_event"),
        ("INSERT", "platform_outbox_message"),  # its webhook's delivery job
    ],
    # the settlement
    # pending -> succeeded, first in its transaction and so without a savepoint: a provider
    # payment that already paid for another payment violates the unique index, and the
    # transaction, which holds nothing else yet, is rolled back and the payment recorded as
    # failed instead
    ("UPDATE", "payments_payment"),  # returning the row
    # pending_payment -> paid, which decides and locks, and the vendor orders with it (all
    # of them, returning the rows): on PostgreSQL one statement, the vendor orders' UPDATE
    # in a CTE after the order's
    PerDialect(
        postgresql=[("SELECT", "moved_order")],
        sqlite=[("UPDATE", "orders_order"), ("UPDATE", "orders_vendor_order")],
    ),
    ("UPDATE", "inventory_reservation"),
    ("UPDATE", "platform_idempotency_key"),  # the stored response, same transaction
    # the held units sold, last before the commit writes; on PostgreSQL the statement reads
    # the lines itself
    PerDialect(
        postgresql=[("UPDATE", "inventory_stock")],
        sqlite=[
            ("SELECT", "inventory_reservation_line"),
            ("UPDATE", "inventory_stock"),
            ("UPDATE", "inventory_stock"),
        ],
    ),
    # the transaction's new rows and then its messages
    [
        ("INSERT", "payments_ledger_transaction"),  # capture and fee
        ("INSERT", "payments_ledger_posting"),  # all their postings
        ("INSERT", "orders_timeline_entry"),
        ("INSERT", "inventory_adjustment"),  # the sale's, logged by the last statement
        ("INSERT", "platform_outbox_message"),  # every event of the transaction at once
    ],
]


def _sent(dialect: str) -> list[Statement | list[Statement]]:
    """EXPECTED as the statements `dialect` is sent."""
    sent: list[Statement | list[Statement]] = []
    for entry in EXPECTED:
        if isinstance(entry, PerDialect):
            sent.extend(getattr(entry, dialect))
        elif isinstance(entry, list) and dialect != "postgresql":
            sent.extend(entry)
        else:
            sent.append(entry)
    return sent


def _parts(statement: str) -> Statement | list[Statement]:
    """A statement's (kind, table); for one writing several tables (`WITH written_0 AS
    (INSERT ...), ... INSERT ...`), each of its INSERTs; for another statement with a WITH
    clause, the statement that follows the clause."""
    if statement.startswith("WITH written_"):
        words = statement.replace('"', "").replace("(", " ( ").split()
        return [("INSERT", words[i + 2]) for i, word in enumerate(words) if word == "INSERT"]
    if statement.startswith("WITH "):
        return _kind_and_table(_after_with(statement))
    return _kind_and_table(statement)


def _after_with(statement: str) -> str:
    """The statement after its WITH clause: from the first word outside parentheses that
    follows a closing one and is not a comma (`WITH a AS (...), b AS (...) UPDATE ...`)."""
    depth = 0
    for i, char in enumerate(statement):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            rest = statement[i + 1 :].lstrip()
            if depth == 0 and not rest.startswith(","):
                return rest
    raise AssertionError(f"no statement after the WITH clause of {statement!r}")


def _kind_and_table(statement: str) -> tuple[str, str]:
    words = statement.replace('"', "").split()
    kind = words[0].upper()
    if kind == "SELECT":
        table = words[words.index("FROM") + 1] if "FROM" in words else ""
    elif kind == "INSERT":
        table = words[2]
    elif kind == "UPDATE":
        table = words[1]
    else:
        table = ""
    return kind, table.split("(")[0]


@contextmanager
def _recorded(container: Container) -> Iterator[tuple[list[str], list[int]]]:
    statements: list[str] = []
    commits = [0]
    engine = container.db.engine.sync_engine

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.split(None, 1)[0].upper() not in {"BEGIN", "COMMIT"}:
            statements.append(statement)

    def on_commit(_conn: Any) -> None:
        commits[0] += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield statements, commits
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


async def test_a_paid_two_vendor_checkout_runs_these_statements_and_transactions(
    live_container: Container, make_live_client: Callable[..., httpx.AsyncClient]
) -> None:
    first, second = await make_shop(live_container), await make_shop(live_container)
    customer = await create_user(live_container)
    headers = auth_headers(live_container, customer)
    async with make_live_client() as client:
        # A first checkout warms what is cached per process (compiled statements, prices).
        warm = await client.post(
            "/v1/orders", json=checkout_body((first, 1), (second, 1)), headers=headers | key()
        )
        assert warm.status_code == 201, warm.text

        with _recorded(live_container) as (statements, commits):
            placed = await client.post(
                "/v1/orders",
                json=checkout_body((first, 1), (second, 2)),
                headers=headers | key(),
            )

    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "paid"
    assert [_parts(s) for s in statements] == _sent(live_container.db.dialect)
    # The order, the provider's records, the settlement; on SQLite the Idempotency-Key's
    # reservation commits on its own first.
    assert commits[0] == (3 if live_container.db.dialect == "postgresql" else 4)
    # The batched ledger writes are the whole capture: 2 transactions, 5 postings (2 vendor
    # orders: clearing, earnings per vendor, commission per line with a rule; and the fee).
    async with live_container.db.session() as session:
        ledger = {
            str(kind): int(count)
            for kind, count in (
                await session.execute(
                    select(LedgerTransaction.type, func.count(LedgerPosting.id))
                    .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
                    .where(LedgerTransaction.order_id == placed.json()["id"])
                    .group_by(LedgerTransaction.type)
                )
            ).all()
        }
    assert ledger == {"capture": 4, "fee": 2}
