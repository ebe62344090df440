"""Inventory's jobs: the periodic sweep that gives back units of expired reservations."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from marketplace.inventory import service
from marketplace.inventory.events import AvailabilityChanged, StockLow
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.uow import UnitOfWork

RELEASE_EXPIRED_RESERVATIONS: Final = "inventory.release_expired_reservations"
SWEEP_INTERVAL: Final = timedelta(minutes=1)


async def release_expired_reservations(uow: UnitOfWork, message: Message) -> None:
    released = await service.release_expired(uow)
    if released >= service.EXPIRY_BATCH:
        # A full batch: there may be more. The next batch runs in its own transaction right
        # after this one commits, instead of waiting for the next minute.
        uow.enqueue(RELEASE_EXPIRED_RESERVATIONS)


def register(registry: Registry) -> None:
    registry.event(StockLow)
    registry.event(AvailabilityChanged)
    registry.job(RELEASE_EXPIRED_RESERVATIONS)(release_expired_reservations)
    registry.every(SWEEP_INTERVAL, RELEASE_EXPIRED_RESERVATIONS)
