"""What composing and sending a message costs in statements, whatever the team's size: a
vendor's team with its users in one query, the recipients' settings in at most one (none
when nothing they chose could change what is sent), the deliveries' ids from their INSERT,
and a send that reads its delivery with the claim."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import add_member, create_user
from factories.notifications import SmtpServer
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.inventory.events import StockLow
from marketplace.notifications import handlers
from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.models import Delivery
from marketplace.notifications.service import messages
from marketplace.orders.events import ReceiptIssued
from marketplace.platform.messaging import Event, Message


@contextmanager
def _statements(container: Container) -> Iterator[Counter[tuple[str, str]]]:
    """(verb, table) of each SELECT, INSERT and UPDATE run inside the block."""
    counted: Counter[tuple[str, str]] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.replace('"', "").split()
        verb = words[0].upper()
        if verb == "SELECT" and "FROM" in words:
            counted[(verb, words[words.index("FROM") + 1])] += 1
        elif verb in ("INSERT", "UPDATE"):
            counted[(verb, words[2 if verb == "INSERT" else 1].split("(")[0])] += 1
        # (SAVEPOINT and RELEASE: the test's transaction, not the code's.)

    engine = container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _message(event_: Event) -> Message:
    return Message(
        id="msg_budget_1",
        kind="event",
        name=event_.name,
        payload=event_.model_dump(mode="json"),
        occurred_at=datetime(2026, 12, 3, 20, 0, tzinfo=UTC),
        attempt=1,
    )


async def _handle(
    container: Container, event_: Event, sent: Counter[tuple[str, str]] | None = None
) -> Counter[tuple[str, str]]:
    """The statements composing `event_` ran; those of the sends made right after its
    commit are added to `sent`."""
    async with container.uow_factory() as uow:
        with _statements(container) as counted:
            await handlers.on_event(uow, _message(event_))
        with _statements(container) as after:
            await uow.commit()
    if sent is not None:
        sent.update(after)
    return counted


async def test_a_team_message_reads_the_team_and_its_settings_once_whatever_its_size(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    owner = await create_user(container, email="owner@team.example")
    vendor = await create_vendor(container, owner=owner)
    for n, role in enumerate(("manager", "manager", "staff")):
        user = await create_user(container, email=f"{role}{n}@team.example")
        await add_member(container, vendor_id=vendor.id, user=user, role=role)

    counted = await _handle(
        container,
        StockLow(vendor_id=vendor.id, variant_id="var_1", sku="MUG-1", available=1, threshold=2),
    )

    assert counted == {
        ("SELECT", "identity_vendor_member"): 1,  # joined with the users
        ("SELECT", "notifications_preference"): 1,  # stock alerts may be switched off
        ("INSERT", "notifications_delivery"): 1,  # answers the ids it inserted
        ("INSERT", "notifications_notification"): 1,
        ("SELECT", "notifications_webhook_endpoint"): 1,
    }
    addresses = await session.scalars(
        select(Delivery.address).where(Delivery.kind == "stock_low").order_by(Delivery.address)
    )
    assert addresses.all() == [
        "manager0@team.example",
        "manager1@team.example",
        "owner@team.example",
    ]


async def test_a_receipt_reads_no_settings_and_its_send_reads_the_delivery_with_its_claim(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    customer = await create_user(container, email="receipt@example.com")
    await container.storage.put("receipts/ord_1.pdf", b"%PDF-1.4\n", "application/pdf")

    sent: Counter[tuple[str, str]] = Counter()
    composed = await _handle(
        container,
        ReceiptIssued(
            order_id="ord_1",
            customer_id=customer.id,
            storage_key="receipts/ord_1.pdf",
            filename="receipt-ord_1.pdf",
            language="en",
        ),
        sent,
    )
    [delivery_id] = await session.scalars(select(Delivery.id))

    # Receipts are transactional and never go out by SMS: no preference could matter.
    assert composed == {
        ("SELECT", "identity_user"): 1,
        ("INSERT", "notifications_delivery"): 1,
        ("INSERT", "notifications_notification"): 1,
    }
    assert {key: n for key, n in sent.items() if key[1] == "notifications_delivery"} == {
        ("UPDATE", "notifications_delivery"): 2  # the claim (RETURNING the row), the outcome
    }
    [email] = smtp.inbox.to("receipt@example.com")
    assert email.message["Subject"] == "Your receipt for order ord_1"
    row = await session.scalar(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    )
    assert row is not None
    assert (row.status, row.attempts, row.lock_token) == ("sent", 1, None)


async def test_a_replayed_event_inserts_only_the_deliveries_it_lacks(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    # Given an event handled once, after which the vendor took on a manager
    owner = await create_user(container, email="first@team.example")
    vendor = await create_vendor(container, owner=owner)
    low = StockLow(vendor_id=vendor.id, variant_id="var_1", sku="MUG-1", available=1, threshold=2)
    await _handle(container, low)
    manager = await create_user(container, email="later@team.example")
    await add_member(container, vendor_id=vendor.id, user=manager, role="manager")

    # When the same event is handled again
    async with container.uow_factory() as uow:
        outcome = await messages.handle(uow, runtime, _message(low))
        await uow.commit()

    # Then only the manager's delivery is new (and only it is to be sent)
    rows = (
        await session.execute(
            select(Delivery.id, Delivery.address).where(Delivery.kind == "stock_low")
        )
    ).all()
    assert sorted(address for _id, address in rows) == [
        "first@team.example",
        "later@team.example",
    ]
    assert outcome.deliveries == [i for i, address in rows if address == "later@team.example"]
