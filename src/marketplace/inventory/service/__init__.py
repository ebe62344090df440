"""Inventory use cases: stock (`stock`) and checkout reservations (`reservations`).

None of these functions commits; each runs in the caller's unit of work.
"""

from marketplace.inventory.service.reservations import (
    DEFAULT_RESERVATION_TTL,
    EXPIRY_BATCH,
    Reservation,
    ReservationLine,
    commit,
    hold_at_commit,
    release,
    release_expired,
    reserve,
    sell_at_commit,
)
from marketplace.inventory.service.stock import (
    StockLevel,
    StockSetting,
    adjust,
    adjust_stock,
    availability,
    list_stock,
    refresh_statistics,
    retire_stock,
    set_stock,
    set_stock_many,
    stock_level,
)

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "EXPIRY_BATCH",
    "Reservation",
    "ReservationLine",
    "StockLevel",
    "StockSetting",
    "adjust",
    "adjust_stock",
    "availability",
    "commit",
    "hold_at_commit",
    "list_stock",
    "refresh_statistics",
    "release",
    "release_expired",
    "reserve",
    "retire_stock",
    "sell_at_commit",
    "set_stock",
    "set_stock_many",
    "stock_level",
]
