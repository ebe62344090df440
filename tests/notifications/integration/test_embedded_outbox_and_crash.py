"""The embedded default (no SMTP: `.eml` files in the data dir's outbox folder) and the
at-least-once trade-off: a crash after sending and before recording it sends again, with the
same Message-ID, once the claim's lease has expired."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.identity import create_user
from factories.notifications import SmtpServer, make_runtime
from marketplace.bootstrap import Container
from marketplace.notifications.channels import NotificationRuntime, OutboxFolderMailer, runtime_for
from marketplace.notifications.models import Delivery
from marketplace.notifications.service import compose, dispatch
from marketplace.platform.clock import utcnow
from marketplace.vendors.events import VendorStatusChanged


class WorkerKilled(BaseException):
    """Not an Exception: like a dying process, no `except Exception` records anything."""


async def _approve_event(container: Container, owner_id: str, vendor_id: str) -> None:
    async with container.uow_factory() as uow:
        uow.publish(
            VendorStatusChanged(
                vendor_id=vendor_id,
                owner_id=owner_id,
                previous_status="pending",
                status="approved",
                action="approve",
            )
        )
        await uow.commit()


async def test_without_smtp_messages_land_as_eml_files_in_the_data_dirs_outbox(
    container: Container, session: AsyncSession, data_dir: Path
) -> None:
    # The container was built from settings without an SMTP host.
    async with container.uow_factory() as uow:
        mailer = runtime_for(uow).mailer
    assert isinstance(mailer, OutboxFolderMailer)
    assert mailer.folder == data_dir / "outbox"
    owner = await create_user(container, email="owner@example.com", locale="de")

    await _approve_event(container, owner.id, "ven_unknown")
    await container.jobs.drain()

    delivery = (
        await session.scalars(
            select(Delivery)
            .where(Delivery.address == "owner@example.com")
            .execution_options(populate_existing=True)
        )
    ).one()
    assert delivery.status == "sent"
    path = data_dir / "outbox" / f"{delivery.id}_at_marketplace.local.eml"
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "owner@example.com"
    assert parsed["Message-ID"] == f"<{delivery.id}@marketplace.local>"
    assert parsed["Subject"] == "ven_unknown ist freigeschaltet"


async def test_a_crash_between_sending_and_recording_resends_the_same_message_id(
    container: Container, session: AsyncSession, smtp: SmtpServer, runtime: NotificationRuntime
) -> None:
    owner = await create_user(container, email="crash@example.com")

    class CrashAfterSend:
        """The SMTP server accepts the message, then the worker dies before recording it."""

        def __init__(self, inner: NotificationRuntime) -> None:
            self.inner = inner.mailer

        async def send(self, message):  # type: ignore[no-untyped-def]
            await self.inner.send(message)
            raise SystemExit("worker killed")

    crashing = make_runtime(container, smtp)
    crashing.mailer = CrashAfterSend(runtime)  # type: ignore[assignment]
    await _approve_event(container, owner.id, "ven_1")
    # The task dies (the job runtime logs it); nothing records the outcome.
    await container.jobs.drain()
    delivery = (
        await session.scalars(
            select(Delivery)
            .where(Delivery.address == "crash@example.com")
            .execution_options(populate_existing=True)
        )
    ).one()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.locked_until is not None
    assert len(smtp.inbox.to("crash@example.com")) == 1

    # While the lease holds nobody sends it; after it expires the sweep sends it again.
    make_runtime(container, smtp)
    async with container.uow_factory() as uow:
        assert await dispatch.send_due(uow, runtime_for(uow), now=utcnow()) == {}
        await uow.commit()
    async with container.uow_factory() as uow:
        later = delivery.locked_until + timedelta(seconds=1)
        assert await dispatch.send_due(uow, runtime_for(uow), now=later) == {"sent": 1}
        await uow.commit()

    first, second = smtp.inbox.to("crash@example.com")
    assert (
        first.message["Message-ID"]
        == second.message["Message-ID"]
        == f"<{delivery.id}@marketplace.test>"
    )


async def test_a_worker_that_dies_after_composing_and_before_sending_loses_no_message(
    container: Container,
    session: AsyncSession,
    smtp: SmtpServer,
    runtime: NotificationRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The composing job commits its deliveries and dies before its first send.
    owner = await create_user(container, email="lost@example.com")
    monkeypatch.setattr(compose, "send_after_commit", lambda *_args: None)
    await _approve_event(container, owner.id, "ven_1")
    await container.jobs.drain()
    delivery = (
        await session.scalars(select(Delivery).where(Delivery.address == "lost@example.com"))
    ).one()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert smtp.inbox.to("lost@example.com") == []
    monkeypatch.undo()

    # The periodic sweep finds it due and sends it, once.
    async with container.uow_factory() as uow:
        assert await dispatch.send_due(uow, runtime_for(uow), now=utcnow()) == {"sent": 1}
        await uow.commit()
    async with container.uow_factory() as uow:
        assert await dispatch.send_due(uow, runtime_for(uow), now=utcnow()) == {}
        await uow.commit()
    assert len(smtp.inbox.to("lost@example.com")) == 1


async def test_sent_deliveries_are_purged_after_ninety_days_dead_and_pending_ones_stay(
    container: Container, session: AsyncSession
) -> None:
    now = utcnow()

    def row(n: int, status: str, sent_days_ago: int | None) -> Delivery:
        return Delivery(
            id=f"ndl_{n}",
            event_id=f"msg_{n}",
            event_name="orders.receipt_issued.v1",
            kind="receipt",
            channel="email",
            recipient="usr_1",
            user_id="usr_1",
            vendor_id=None,
            address="a@example.com",
            language="en",
            subject="Receipt",
            body_text="Receipt",
            body_html=None,
            attachments=[],
            unsubscribe_url=None,
            status=status,
            attempts=1,
            next_attempt_at=now,
            locked_until=None,
            lock_token=None,
            last_error=None,
            provider_message_id=None,
            response_status=None,
            created_at=now - timedelta(days=200),
            sent_at=now - timedelta(days=sent_days_ago) if sent_days_ago is not None else None,
            updated_at=now,
        )

    async with container.uow_factory() as uow:
        uow.session.add_all(
            [
                row(1, "sent", 91),
                row(2, "sent", 89),
                row(3, "dead", None),
                row(4, "pending", None),
                row(5, "sent", 365),
            ]
        )
        await uow.commit()

    async with container.uow_factory() as uow:
        assert await dispatch.purge_sent(uow, now=now) == 2
        await uow.commit()

    left = await session.scalars(select(Delivery.id).order_by(Delivery.id))
    assert left.all() == ["ndl_2", "ndl_3", "ndl_4"]
