"""The in-app feed of a user: list (newest first), unread count, mark read."""

from __future__ import annotations

from marketplace.notifications import repository as repo
from marketplace.notifications.errors import NotificationNotFound
from marketplace.notifications.models import Notification
from marketplace.platform.clock import utcnow
from marketplace.platform.pagination import PageParams
from marketplace.platform.uow import UnitOfWork


async def list_feed(
    uow: UnitOfWork, *, user_id: str, page: PageParams, unread_only: bool
) -> tuple[list[Notification], str | None, int]:
    rows, cursor = await repo.feed(uow.session, user_id, page=page, unread_only=unread_only)
    return rows, cursor, await repo.unread_count(uow.session, user_id)


async def mark_read(uow: UnitOfWork, *, user_id: str, notification_id: str) -> Notification:
    """Idempotent: reading an entry already read keeps its first read time."""
    await repo.mark_read(uow.session, user_id, now=utcnow(), notification_id=notification_id)
    row = await repo.notification(uow.session, user_id, notification_id)
    if row is None:
        # Someone else's entry is as invisible as a missing one.
        raise NotificationNotFound(f"no notification {notification_id}")
    await uow.session.refresh(row)
    return row


async def mark_all_read(uow: UnitOfWork, *, user_id: str) -> int:
    return await repo.mark_read(uow.session, user_id, now=utcnow())


async def unread_count(uow: UnitOfWork, *, user_id: str) -> int:
    return await repo.unread_count(uow.session, user_id)
