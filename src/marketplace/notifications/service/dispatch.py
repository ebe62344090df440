"""Sending deliveries: claim, send with no transaction open, record the outcome.

One attempt is: a conditional UPDATE claims the row for a lease (pending, due, not held),
counts the attempt and answers with what sending needs (RETURNING); that is committed; the
channel is called; the outcome is recorded by a second conditional UPDATE that only
succeeds while our claim holds (nothing is read again). A failure schedules the next
attempt with exponential backoff; after `max_attempts` (or a permanent refusal) the row is
`dead` and listed for admins, who may retry it.

The at-least-once trade-off: a crash (or a lost database connection) after the channel
accepted the message and before the row is marked sent leaves the row pending; when its
lease expires it is sent again. We prefer a rare duplicate to a lost receipt. Duplicates are
recognisable: an email carries the same `Message-ID` (`<delivery id@domain>`) on every
attempt, a webhook the same `Marketplace-Delivery-Id`, and the local outbox folder
overwrites the same file.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final, Literal

from marketplace.compliance.public import record_audit
from marketplace.notifications import repository as repo
from marketplace.notifications.channels import (
    Attachment,
    DeliveryFailed,
    NotificationRuntime,
    OutgoingEmail,
    OutgoingSms,
    OutgoingWebhook,
    PermanentFailure,
)
from marketplace.notifications.domain import retry_delay
from marketplace.notifications.errors import DeliveryNotDead, DeliveryNotFound
from marketplace.notifications.models import Delivery
from marketplace.notifications.repository import ClaimedDelivery
from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.pagination import PageParams
from marketplace.platform.storage import ObjectNotFound, ObjectTooLarge
from marketplace.platform.uow import UnitOfWork

logger = logging.getLogger(__name__)

# The job that sends one delivery: an admin's retry of a dead one (and messages queued by
# earlier versions, which enqueued one per delivery). A new delivery's first attempt is
# made by the job that composed it, right after its commit (`send_after_commit`).
SEND_JOB: Final = "notifications.send_delivery"
LEASE: Final = timedelta(minutes=2)
SWEEP_BATCH: Final = 50
# Sent deliveries are kept this long (support: "did the customer get the receipt?"), then
# purged; dead ones stay until an admin deals with them.
RETENTION: Final = timedelta(days=90)
PURGE_BATCH: Final = 5000

Result = Literal["sent", "failed", "dead", "skipped"]


async def send_delivery(
    uow: UnitOfWork, rt: NotificationRuntime, delivery_id: str, *, now: datetime | None = None
) -> Result:
    """One attempt at one delivery. Leaves the unit of work's transaction uncommitted with
    the outcome (the job runner commits it with its own bookkeeping)."""
    now = now or utcnow()
    token = new_id("lck")
    row = await repo.claim_delivery(
        uow.session, delivery_id, token=token, now=now, lease_until=now + LEASE
    )
    if row is None:
        return "skipped"  # sent, dead, not yet due, or being sent elsewhere
    attempts = row.attempts
    secret = await _webhook_secret(uow, rt, row) if row.channel == "webhook" else None
    # The claim is durable before the call; no transaction stays open while we wait on it.
    await uow.commit()
    try:
        provider_id, status = await _send(rt, row, secret)
    except Exception as error:
        # Anything else (a bug, a storage outage) is retried like a channel failure, so a
        # delivery always ends sent or dead instead of looping on lease expiries.
        dead = isinstance(error, PermanentFailure) or attempts >= rt.max_attempts
        logger.warning(
            "notification delivery failed",
            extra={
                "delivery_id": delivery_id,
                "channel": row.channel,
                "attempt": attempts,
                "dead": dead,
                "error": str(error),
            },
            exc_info=not isinstance(error, DeliveryFailed),
        )
        if not isinstance(error, DeliveryFailed):
            error = DeliveryFailed(f"{type(error).__name__}: {error}")
        await repo.finish_delivery(
            uow.session,
            delivery_id,
            token=token,
            values={
                "status": "dead" if dead else "pending",
                "last_error": str(error)[:2000],
                "next_attempt_at": now + retry_delay(attempts),
                "updated_at": utcnow(),
            },
        )
        return "dead" if dead else "failed"
    sent_at = utcnow()
    await repo.finish_delivery(
        uow.session,
        delivery_id,
        token=token,
        values={
            "status": "sent",
            "sent_at": sent_at,
            "provider_message_id": provider_id,
            "response_status": status,
            "last_error": None,
            "updated_at": sent_at,
        },
    )
    return "sent"


def send_after_commit(uow: UnitOfWork, rt: NotificationRuntime, delivery_ids: list[str]) -> None:
    """Make the first attempt at each delivery once `uow` (which wrote them) commits, each in
    a unit of work of its own. Not a job per delivery: that was an outbox message, a relay,
    a broker message and a claim each, for one send. Nothing is lost if the process dies
    before or during the sends: the rows are pending and due, and `send_due` (every 15 s)
    sends them; a send that fails is retried by it after its backoff, as before."""
    if not delivery_ids:
        return
    ids = list(delivery_ids)

    async def send() -> None:
        for delivery_id in ids:
            async with UnitOfWork(uow.db, request_id=uow.request_id) as sender:
                await send_delivery(sender, rt, delivery_id)
                await sender.commit()

    uow.after_commit(send)


def message_id(rt: NotificationRuntime, delivery_id: str) -> str:
    return f"<{delivery_id}@{rt.message_id_domain}>"


async def _send(
    rt: NotificationRuntime, row: ClaimedDelivery, secret: str | None
) -> tuple[str | None, int | None]:
    if row.channel == "email":
        attachments = []
        for ref in row.attachments:
            try:
                data = await rt.storage.get(
                    str(ref["storage_key"]), max_bytes=rt.max_attachment_bytes
                )
            except ObjectNotFound as error:
                # The document may still be being written elsewhere: retry, then dead.
                raise DeliveryFailed(f"attachment {ref['storage_key']} not found") from error
            except ObjectTooLarge as error:
                raise PermanentFailure(f"attachment {ref['storage_key']} too large") from error
            attachments.append(
                Attachment(
                    filename=str(ref["filename"]),
                    content_type=str(ref["content_type"]),
                    data=data,
                )
            )
        sent = await rt.mailer.send(
            OutgoingEmail(
                message_id=message_id(rt, row.id),
                to=row.address,
                subject=row.subject,
                text=row.body_text,
                html=row.body_html,
                language=row.language,
                attachments=tuple(attachments),
                unsubscribe_url=row.unsubscribe_url,
            )
        )
        return sent, None
    if row.channel == "sms":
        sid = await rt.sms.send(
            OutgoingSms(idempotency_key=row.id, to=row.address, body=row.body_text)
        )
        return sid, None
    if row.channel == "webhook":
        if secret is None:
            raise PermanentFailure("the webhook endpoint was deleted")
        status = await rt.webhooks.send(
            OutgoingWebhook(
                delivery_id=row.id, url=row.address, body=row.body_text.encode(), secret=secret
            )
        )
        return None, status
    raise PermanentFailure(f"unknown channel {row.channel!r}")


async def _webhook_secret(
    uow: UnitOfWork, rt: NotificationRuntime, row: ClaimedDelivery
) -> str | None:
    """The endpoint's signing secret; None once the vendor deleted the endpoint."""
    if row.vendor_id is None:
        return None
    endpoint = await repo.endpoint(uow.session, row.vendor_id, row.recipient)
    if endpoint is None:
        return None
    return rt.cipher.decrypt(endpoint.secret_encrypted, context=secret_context(endpoint.id))


def secret_context(endpoint_id: str) -> str:
    return f"notifications_webhook_endpoint.secret_encrypted:{endpoint_id}"


async def send_due(
    uow: UnitOfWork, rt: NotificationRuntime, *, now: datetime | None = None
) -> dict[str, int]:
    """The periodic sweep: every due pending delivery, one attempt each (retries after a
    backoff, and sends whose job was lost). Counts per result."""
    now = now or utcnow()
    ids = await repo.due_deliveries(uow.session, now=now, limit=SWEEP_BATCH)
    await uow.commit()
    counts: dict[str, int] = {}
    for delivery_id in ids:
        result = await send_delivery(uow, rt, delivery_id, now=now)
        await uow.commit()
        counts[result] = counts.get(result, 0) + 1
    return counts


async def purge_sent(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """Delete one batch of deliveries sent more than `RETENTION` ago; the count deleted."""
    before = (now or utcnow()) - RETENTION
    return await repo.purge_sent(uow.session, before=before, limit=PURGE_BATCH)


async def list_deliveries(
    uow: UnitOfWork, *, page: PageParams, status: str | None
) -> tuple[list[Delivery], str | None]:
    return await repo.list_deliveries(uow.session, page=page, status=status)


async def retry_dead(
    uow: UnitOfWork, delivery_id: str, *, actor_id: str, actor_role: str
) -> Delivery:
    """Admin: give a dead delivery a fresh set of attempts, due now, and enqueue it."""
    row = await repo.delivery(uow.session, delivery_id)
    if row is None:
        raise DeliveryNotFound(f"no delivery {delivery_id}")
    if not await repo.revive_delivery(uow.session, delivery_id, now=utcnow()):
        raise DeliveryNotDead(
            f"delivery {delivery_id} is {row.status}; only dead deliveries are retried",
            extra={"current_status": row.status},
        )
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="notification_delivery.retried",
        resource_type="notification_delivery",
        resource_id=delivery_id,
        before={"status": "dead", "attempts": row.attempts},
        after={"status": "pending", "attempts": 0},
    )
    uow.enqueue(SEND_JOB, {"delivery_id": delivery_id})
    revived = await repo.delivery(uow.session, delivery_id)
    assert revived is not None
    return revived
