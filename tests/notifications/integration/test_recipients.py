"""Who hears of what: a vendor's owners and managers (not its staff), the customer, the
platform's operations addresses; events that are not worth a message send nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import add_member, create_user
from factories.notifications import SmtpServer
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.inventory.events import StockLow
from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.models import Delivery
from marketplace.payments.events import ChargebackOpened, ReconciliationMismatchFound
from marketplace.platform.messaging import Event
from marketplace.shipping.events import TrackingUpdated


async def _publish(container: Container, *events: Event) -> None:
    async with container.uow_factory() as uow:
        for event in events:
            uow.publish(event)
        await uow.commit()
    await container.jobs.drain()


async def _sent(session: AsyncSession, kind: str) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Delivery.address, Delivery.status)
        .where(Delivery.kind == kind)
        .order_by(Delivery.address)
        .execution_options(populate_existing=True)
    )
    return [(a, s) for a, s in rows.all()]


async def test_vendor_news_goes_to_owners_and_managers_not_staff(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    owner = await create_user(container, email="owner@shop.example")
    vendor = await create_vendor(container, owner=owner)
    manager = await create_user(container, email="manager@shop.example")
    staff = await create_user(container, email="staff@shop.example")
    await add_member(container, vendor_id=vendor.id, user=manager, role="manager")
    await add_member(container, vendor_id=vendor.id, user=staff, role="staff")

    await _publish(
        container,
        StockLow(vendor_id=vendor.id, variant_id="var_1", sku="MUG-1", available=1, threshold=2),
    )

    assert await _sent(session, "stock_low") == [
        ("manager@shop.example", "sent"),
        ("owner@shop.example", "sent"),
    ]
    for address in ("owner@shop.example", "manager@shop.example"):
        alerts = [m for m in smtp.inbox.to(address) if "stock" in m.message["Subject"]]
        assert [m.message["Subject"] for m in alerts] == ["Low stock: MUG-1"]
        assert "Only 1 units of MUG-1 are left (alert threshold 2)." in alerts[0].text
    assert smtp.inbox.to("staff@shop.example") == []


async def test_a_chargeback_reaches_every_vendor_of_the_order(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    first = await create_vendor(container, owner=await create_user(container, email="a@v.example"))
    second = await create_vendor(container, owner=await create_user(container, email="b@v.example"))

    await _publish(
        container,
        ChargebackOpened(
            chargeback_id="cb_1",
            payment_id="pay_1",
            order_id="ord_1",
            amount=2500,
            currency="EUR",
            reason="fraudulent",
            vendor_ids=[first.id, second.id],
        ),
    )

    assert await _sent(session, "chargeback_opened") == [
        ("a@v.example", "sent"),
        ("b@v.example", "sent"),
    ]
    [message] = [
        m for m in smtp.inbox.to("a@v.example") if m.message["Subject"].startswith("Chargeback")
    ]
    assert message.message["Subject"] == "Chargeback opened on order ord_1"
    assert "The customer's bank opened a chargeback of €25.00 on order ord_1." in message.text


async def test_reconciliation_mismatches_go_to_the_operations_addresses(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    await _publish(
        container,
        ReconciliationMismatchFound(run_id="run_7", provider="stripe", mismatch_count=3),
    )

    [alert] = smtp.inbox.to("ops@marketplace.test")
    assert alert.message["Subject"] == "Reconciliation found 3 mismatches (stripe)"
    assert await _sent(session, "reconciliation_mismatch") == [("ops@marketplace.test", "sent")]


async def test_only_out_for_delivery_and_exceptions_of_tracking_are_worth_a_message(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    customer = await create_user(container, email="track@example.com")
    vendor = await create_vendor(container)

    def update(status: str, n: int) -> TrackingUpdated:
        return TrackingUpdated(
            shipment_id=f"shp_{n}",
            order_id="ord_1",
            vendor_order_id="vo_1",
            vendor_id=vendor.id,
            customer_id=customer.id,
            carrier="dhl",
            tracking_number="JD1",
            status=status,
            occurred_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
            description="Recipient not at home" if status == "exception" else None,
        )

    await _publish(
        container,
        update("in_transit", 1),
        update("out_for_delivery", 2),
        update("exception", 3),
    )

    subjects = sorted(m.message["Subject"] for m in smtp.inbox.to("track@example.com"))
    assert subjects == [
        "A problem with the delivery of order ord_1",
        "Your parcel for order ord_1 is out for delivery",
    ]
    problem = next(
        m for m in smtp.inbox.to("track@example.com") if "problem" in m.message["Subject"]
    )
    assert "Recipient not at home" in problem.text
