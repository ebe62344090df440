"""Every query of the notifications context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    func,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.notifications.models import (
    Delivery,
    Notification,
    Preference,
    Profile,
    WebhookEndpoint,
)
from marketplace.platform import direct
from marketplace.platform.db import built_once, insert_ignore, insert_ignore_rows
from marketplace.platform.pagination import PageParams, SortKey, paginate

_deliveries: Table = Delivery.__table__  # type: ignore[assignment]
_notifications: Table = Notification.__table__  # type: ignore[assignment]
_endpoints: Table = WebhookEndpoint.__table__  # type: ignore[assignment]


def _dialect(session: AsyncSession) -> str:
    return str(session.get_bind().dialect.name)


async def add_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert what is new; a row whose (event, recipient, channel) exists is skipped. Returns
    the ids inserted now (an event handled twice inserts nothing the second time)."""
    if not rows:
        return []
    dialect = _dialect(session)
    stmt = built_once(
        ("notifications.add_deliveries", dialect),
        lambda: insert_ignore_rows(_deliveries, dialect).returning(_deliveries.c.id),
    )
    # RETURNING answers the rows inserted, not those the unique constraint skipped.
    inserted = await session.scalars(stmt, list(rows))
    return sorted(str(delivery_id) for delivery_id in inserted.all())


async def add_notifications(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = _dialect(session)
    stmt = built_once(
        ("notifications.add_notifications", dialect),
        lambda: insert_ignore_rows(_notifications, dialect),
    )
    await direct.execute(session, stmt, list(rows))


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """What sending a claimed delivery needs, as the claim left it (`attempts` counts this
    attempt)."""

    id: str
    channel: str
    recipient: str
    vendor_id: str | None
    address: str
    language: str
    subject: str
    body_text: str
    body_html: str | None
    attachments: list[dict[str, Any]]
    unsubscribe_url: str | None
    attempts: int


# The send path's statements, built once: building an UPDATE … RETURNING (its expression
# tree and cache key) through the ORM's bulk-update machinery costs more CPU than running
# it, and every message pays for two. Core statements on the table: there are no objects
# to synchronise. (Bound parameter names differ from column names: SQLAlchemy reserves
# those for the values of an UPDATE's SET.)
_CLAIM = (
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("the_delivery"),
        _deliveries.c.status == "pending",
        _deliveries.c.next_attempt_at <= bindparam("now"),
        or_(_deliveries.c.locked_until.is_(None), _deliveries.c.locked_until < bindparam("now")),
    )
    .values(
        lock_token=bindparam("the_token"),
        locked_until=bindparam("lease_until"),
        attempts=_deliveries.c.attempts + 1,
        updated_at=bindparam("now"),
    )
    .returning(*(_deliveries.c[f.name] for f in fields(ClaimedDelivery)))
)


async def claim_delivery(
    session: AsyncSession, delivery_id: str, *, token: str, now: datetime, lease_until: datetime
) -> ClaimedDelivery | None:
    """Claim a due, unheld pending delivery for a lease and count the attempt; the claim
    answers with the row (one statement). None: sent, dead, not due or held elsewhere."""
    row = (
        await direct.execute(
            session,
            _CLAIM,
            {
                "the_delivery": delivery_id,
                "the_token": token,
                "now": now,
                "lease_until": lease_until,
            },
        )
    ).first()
    return ClaimedDelivery(*row) if row is not None else None


async def delivery(session: AsyncSession, delivery_id: str) -> Delivery | None:
    return await session.get(Delivery, delivery_id, populate_existing=True)


async def finish_delivery(
    session: AsyncSession, delivery_id: str, *, token: str, values: dict[str, Any]
) -> bool:
    """Record an attempt's outcome, only if our claim still holds."""
    names = tuple(sorted(values))
    statement = built_once(
        ("notifications.finish_delivery", names),
        lambda: (
            update(_deliveries)
            .where(
                _deliveries.c.id == bindparam("the_delivery"),
                _deliveries.c.lock_token == bindparam("the_token"),
            )
            .values(
                locked_until=None,
                lock_token=None,
                **{name: bindparam(f"set_{name}") for name in names},
            )
        ),
    )
    result = await direct.execute(
        session,
        statement,
        {"the_delivery": delivery_id, "the_token": token}
        | {f"set_{name}": value for name, value in values.items()},
    )
    return bool(result.rowcount == 1)


async def due_deliveries(session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
    rows = await session.scalars(
        select(Delivery.id)
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return list(rows.all())


async def purge_sent(session: AsyncSession, *, before: datetime, limit: int) -> int:
    old = (
        select(Delivery.id)
        .where(Delivery.status == "sent", Delivery.sent_at < before)
        .order_by(Delivery.id)
        .limit(limit)
    )
    result = await session.execute(delete(Delivery).where(Delivery.id.in_(old)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def revive_delivery(session: AsyncSession, delivery_id: str, *, now: datetime) -> bool:
    """dead → pending, due now, with a fresh attempt budget."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def list_deliveries(
    session: AsyncSession,
    *,
    page: PageParams,
    status: str | None = None,
    recipient: str | None = None,
    channel: str | None = None,
) -> tuple[list[Delivery], str | None]:
    stmt = select(Delivery)
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    if recipient is not None:
        stmt = stmt.where(Delivery.recipient == recipient)
    if channel is not None:
        stmt = stmt.where(Delivery.channel == channel)
    return await paginate(
        session,
        stmt,
        keys=[SortKey(Delivery.id, descending=True)],
        params=page,
        cursor_of=lambda d: [d.id],
    )


async def feed(
    session: AsyncSession, user_id: str, *, page: PageParams, unread_only: bool
) -> tuple[list[Notification], str | None]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return await paginate(
        session,
        stmt,
        keys=[SortKey(Notification.id, descending=True)],
        params=page,
        cursor_of=lambda n: [n.id],
    )


async def unread_count(session: AsyncSession, user_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def mark_read(
    session: AsyncSession, user_id: str, *, now: datetime, notification_id: str | None = None
) -> int:
    conditions = [Notification.user_id == user_id, Notification.read_at.is_(None)]
    if notification_id is not None:
        conditions.append(Notification.id == notification_id)
    result = await session.execute(
        update(Notification).where(and_(*conditions)).values(read_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def notification(
    session: AsyncSession, user_id: str, notification_id: str
) -> Notification | None:
    return await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    )


async def preferences(session: AsyncSession, user_ids: Sequence[str]) -> list[Preference]:
    if not user_ids:
        return []
    rows = await session.scalars(select(Preference).where(Preference.user_id.in_(user_ids)))
    return list(rows.all())


async def recipient_settings(
    session: AsyncSession, user_ids: Sequence[str], *, numbers: bool
) -> tuple[list[tuple[str, str, str, bool]], dict[str, str]]:
    """The users' stored choices `(user id, category, channel, enabled)` and, with
    `numbers`, their SMS numbers: one query for both (what composing a message reads)."""
    if not user_ids:
        return [], {}
    choices = select(
        Preference.user_id,
        Preference.category,
        Preference.channel,
        Preference.enabled,
        cast(null(), String).label("sms_number"),
    ).where(Preference.user_id.in_(user_ids))
    stmt: Any = choices
    if numbers:
        stmt = union_all(
            choices,
            select(
                Profile.user_id,
                cast(null(), String),
                cast(null(), String),
                cast(null(), Boolean),
                Profile.sms_number,
            ).where(Profile.user_id.in_(user_ids), Profile.sms_number.is_not(None)),
        )
    stored: list[tuple[str, str, str, bool]] = []
    sms_numbers: dict[str, str] = {}
    for user_id, category, channel, enabled, sms_number in (await session.execute(stmt)).all():
        if sms_number is not None:
            sms_numbers[user_id] = sms_number
        else:
            stored.append((user_id, category, channel, bool(enabled)))
    return stored, sms_numbers


async def set_preference(
    session: AsyncSession,
    *,
    user_id: str,
    category: str,
    channel: str,
    enabled: bool,
    now: datetime,
) -> None:
    row = await session.get(Preference, (user_id, category, channel), with_for_update=True)
    if row is None:
        dialect = _dialect(session)
        await session.execute(
            insert_ignore(
                Preference.__table__,  # type: ignore[arg-type]
                dialect,
                [
                    {
                        "user_id": user_id,
                        "category": category,
                        "channel": channel,
                        "enabled": enabled,
                        "updated_at": now,
                    }
                ],
            )
        )
    # Also covers a concurrent insert that won the race: the last writer's choice stands.
    await session.execute(
        update(Preference)
        .where(
            Preference.user_id == user_id,
            Preference.category == category,
            Preference.channel == channel,
        )
        .values(enabled=enabled, updated_at=now)
    )


async def profiles(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, Profile]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(Profile).where(Profile.user_id.in_(user_ids)))
    return {p.user_id: p for p in rows.all()}


async def set_sms_number(
    session: AsyncSession, *, user_id: str, number: str | None, now: datetime
) -> None:
    dialect = _dialect(session)
    await session.execute(
        insert_ignore(
            Profile.__table__,  # type: ignore[arg-type]
            dialect,
            [{"user_id": user_id, "sms_number": number, "updated_at": now}],
        )
    )
    await session.execute(
        update(Profile).where(Profile.user_id == user_id).values(sms_number=number, updated_at=now)
    )


async def endpoints_of(session: AsyncSession, vendor_id: str) -> list[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.vendor_id == vendor_id, WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookEndpoint.id)
    )
    return list(rows.all())


@dataclass(frozen=True, slots=True)
class Subscription:
    """An endpoint as a webhook delivery is composed for it."""

    id: str
    url: str
    events: list[str]


_SUBSCRIPTIONS = (
    select(_endpoints.c.id, _endpoints.c.url, _endpoints.c.events)
    .where(_endpoints.c.vendor_id == bindparam("the_vendor"), _endpoints.c.deleted_at.is_(None))
    .order_by(_endpoints.c.id)
)


async def subscriptions(session: AsyncSession, vendor_id: str) -> list[Subscription]:
    """The vendor's live endpoints, as `endpoints_of` orders them, without loading them as
    objects: every vendor event asks, and most vendors have none."""
    rows = await session.execute(_SUBSCRIPTIONS, {"the_vendor": vendor_id})
    return [Subscription(*row) for row in rows.all()]


async def endpoint(
    session: AsyncSession, vendor_id: str, endpoint_id: str
) -> WebhookEndpoint | None:
    return await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.vendor_id == vendor_id,
            WebhookEndpoint.deleted_at.is_(None),
        )
    )
