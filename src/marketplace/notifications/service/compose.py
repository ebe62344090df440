"""Turning one event into messages: for each recipient, which channels (preferences), the
rendered text in their language, and one delivery row per (event, recipient, channel).

Delivery rows are inserted-or-ignored under a unique (event id, recipient, channel), so a
redelivered event, or the same handler racing itself, produces nothing more. The rows are
written in the handler's transaction, and the rows this handler inserted are sent right
after it commits, outside any transaction (`dispatch.send_after_commit`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from marketplace.notifications import repository as repo
from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.domain import (
    KINDS,
    channel_enabled,
    language_of,
    unsubscribe_token,
)
from marketplace.notifications.service.dispatch import send_after_commit
from marketplace.notifications.templates import render
from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.messaging import Message
from marketplace.platform.uow import UnitOfWork

UNSUBSCRIBE_PATH: Final = "/v1/notifications/unsubscribe"


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who gets a message. `key` is the user id, or `admin:<email>` for an address only."""

    key: str
    email: str
    name: str
    locale: str | None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    storage_key: str
    filename: str
    content_type: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class Outcome:
    deliveries: list[str] = field(default_factory=list)
    in_app: int = 0


def unsubscribe_url(rt: NotificationRuntime, *, user_id: str, category: str) -> str:
    token = unsubscribe_token(rt.unsubscribe_secret, user_id=user_id, category=category)
    return f"{rt.public_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={quote(token)}"


async def notify(
    uow: UnitOfWork,
    rt: NotificationRuntime,
    *,
    message: Message,
    kind: str,
    recipients: Sequence[Recipient],
    context: dict[str, Any],
    attachments: Sequence[AttachmentRef] = (),
    vendor_id: str | None = None,
) -> Outcome:
    """Write the deliveries and in-app entries of `kind` for `recipients` (idempotent per
    event id) and enqueue their sending."""
    spec = KINDS[kind]
    unique: dict[str, Recipient] = {}
    for recipient in recipients:
        unique.setdefault(recipient.key, recipient)
    user_ids = [r.user_id for r in unique.values() if r.user_id]
    # What could depend on a user's settings: SMS (numbers and choices) only if it is on and
    # the kind may go out by SMS; email and in-app choices only for a kind that is not
    # transactional (those always go out). A receipt reads nothing here.
    may_sms = rt.sms_enabled and spec.sms
    choices: dict[str, dict[tuple[str, str], bool]] = {}
    numbers: dict[str, str] = {}
    if user_ids and (may_sms or not spec.transactional):
        stored, numbers = await repo.recipient_settings(uow.session, user_ids, numbers=may_sms)
        for user_id, category, channel, enabled in stored:
            choices.setdefault(user_id, {})[(category, channel)] = enabled
    now = utcnow()
    deliveries: list[dict[str, Any]] = []
    feed: list[dict[str, Any]] = []
    for recipient in unique.values():
        mine = choices.get(recipient.user_id or "", {})
        language = language_of(recipient.locale)
        link = (
            unsubscribe_url(rt, user_id=recipient.user_id, category=spec.category)
            if recipient.user_id and not spec.transactional
            else None
        )
        rendered = render(
            kind,
            language,
            context,
            site_name=rt.site_name,
            recipient_name=recipient.name,
            unsubscribe_url=link,
        )
        base = {
            "event_id": message.id,
            "event_name": message.name,
            "kind": kind,
            "recipient": recipient.key,
            "user_id": recipient.user_id,
            "vendor_id": vendor_id,
            "language": language,
            "subject": rendered.subject[:300],
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "locked_until": None,
            "lock_token": None,
            "last_error": None,
            "provider_message_id": None,
            "response_status": None,
            "created_at": now,
            "sent_at": None,
            "updated_at": now,
        }
        if channel_enabled(spec, "email", mine):
            deliveries.append(
                {
                    **base,
                    "id": new_id("ndl"),
                    "channel": "email",
                    "address": recipient.email,
                    "body_text": rendered.text,
                    "body_html": rendered.html,
                    "attachments": [
                        {
                            "storage_key": a.storage_key,
                            "filename": a.filename,
                            "content_type": a.content_type,
                        }
                        for a in attachments
                    ],
                    "unsubscribe_url": link,
                }
            )
        number = numbers.get(recipient.user_id or "")
        if may_sms and number and channel_enabled(spec, "sms", mine):
            deliveries.append(
                {
                    **base,
                    "id": new_id("ndl"),
                    "channel": "sms",
                    "address": number,
                    "body_text": f"{rt.site_name}: {rendered.summary}"[:320],
                    "body_html": None,
                    "attachments": [],
                    "unsubscribe_url": None,
                }
            )
        if recipient.user_id and channel_enabled(spec, "in_app", mine):
            feed.append(
                {
                    "id": new_id("ntf"),
                    "user_id": recipient.user_id,
                    "event_id": message.id,
                    "kind": kind,
                    "category": spec.category,
                    "title": rendered.subject[:300],
                    "body": rendered.summary,
                    "data": _data(context),
                    "created_at": now,
                    "read_at": None,
                }
            )
    inserted = await repo.add_deliveries(uow.session, deliveries)
    await repo.add_notifications(uow.session, feed)
    send_after_commit(uow, rt, inserted)
    return Outcome(deliveries=inserted, in_app=len(feed))


def _data(context: dict[str, Any]) -> dict[str, Any]:
    """The ids of what a feed entry is about, for a client to link to."""
    return {
        k: v
        for k, v in context.items()
        if k.endswith("_id") and isinstance(v, str | int) and not isinstance(v, bool)
    }


async def webhook_fanout(
    uow: UnitOfWork,
    rt: NotificationRuntime,
    *,
    message: Message,
    vendor_id: str,
    event_type: str,
    data: dict[str, Any],
) -> list[str]:
    """A delivery per endpoint of the vendor subscribed to `event_type` (same uniqueness)."""
    endpoints = [
        e
        for e in await repo.subscriptions(uow.session, vendor_id)
        if event_type in e.events or "*" in e.events
    ]
    if not endpoints:
        return []
    now = utcnow()
    body = json.dumps(
        {
            "id": message.id,
            "type": event_type,
            "created": int(message.occurred_at.timestamp()),
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    rows: list[dict[str, Any]] = [
        {
            "id": new_id("ndl"),
            "event_id": message.id,
            "event_name": message.name,
            "kind": event_type,
            "channel": "webhook",
            "recipient": endpoint.id,
            "user_id": None,
            "vendor_id": vendor_id,
            "address": endpoint.url,
            "language": "en",
            "subject": event_type,
            "body_text": body,
            "body_html": None,
            "attachments": [],
            "unsubscribe_url": None,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "locked_until": None,
            "lock_token": None,
            "last_error": None,
            "provider_message_id": None,
            "response_status": None,
            "created_at": now,
            "sent_at": None,
            "updated_at": now,
        }
        for endpoint in endpoints
    ]
    inserted = await repo.add_deliveries(uow.session, rows)
    send_after_commit(uow, rt, inserted)
    return inserted
