"""Orders' jobs: the periodic purge of carts nobody touched for 30 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from marketplace.orders.service import carts
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.uow import UnitOfWork

PURGE_STALE_CARTS: Final = "orders.purge_stale_carts"
PURGE_INTERVAL: Final = timedelta(hours=1)


async def purge_stale_carts(uow: UnitOfWork, message: Message) -> None:
    purged = await carts.purge_stale_carts(uow)
    if purged >= carts.PURGE_BATCH:
        # A full batch: there may be more. The next one runs in its own short transaction
        # right after this commits, rather than holding locks on thousands of rows at once.
        uow.enqueue(PURGE_STALE_CARTS)


def register(registry: Registry) -> None:
    registry.job(PURGE_STALE_CARTS)(purge_stale_carts)
    registry.every(PURGE_INTERVAL, PURGE_STALE_CARTS)
