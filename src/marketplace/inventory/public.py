"""What other contexts use of inventory: stock levels, setting and retiring stock (catalog),
and the reservation protocol of checkout (orders).

Checkout reserves every line at once (`reserve`: all or nothing, `OutOfStock` names the short
variants), then `commit`s when paid or `release`s when abandoned; a reservation neither
committed nor released within its ttl is released by the periodic sweep. Retried commits and
releases are no-ops. `hold_at_commit` and `sell_at_commit` reserve and sell with the stock
rows locked last, just before the caller's commit. All functions take the caller's unit of
work and never commit.
"""

from __future__ import annotations

from marketplace.inventory.errors import (
    InsufficientStock,
    OutOfStock,
    ReservationClosed,
    ReservationNotFound,
    SkuNotFound,
    SkuTaken,
    StockLimitExceeded,
)
from marketplace.inventory.service import (
    DEFAULT_RESERVATION_TTL,
    Reservation,
    ReservationLine,
    StockLevel,
    StockSetting,
    adjust,
    availability,
    commit,
    hold_at_commit,
    refresh_statistics,
    release,
    reserve,
    retire_stock,
    sell_at_commit,
    set_stock,
    set_stock_many,
)

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "InsufficientStock",
    "OutOfStock",
    "Reservation",
    "ReservationClosed",
    "ReservationLine",
    "ReservationNotFound",
    "SkuNotFound",
    "SkuTaken",
    "StockLevel",
    "StockLimitExceeded",
    "StockSetting",
    "adjust",
    "availability",
    "commit",
    "hold_at_commit",
    "refresh_statistics",
    "release",
    "reserve",
    "retire_stock",
    "sell_at_commit",
    "set_stock",
    "set_stock_many",
]
