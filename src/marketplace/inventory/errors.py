"""Inventory error codes: each exception carries its HTTP status, code and title."""

from __future__ import annotations

from collections.abc import Sequence

from marketplace.platform.errors import Conflict, NotFound, ValidationFailed


class OutOfStock(Conflict):
    """Some lines cannot be reserved; nothing was reserved. `variant_ids` are the short ones
    (no stock row counts as none available)."""

    code = "out_of_stock"
    title = "Not enough stock"

    def __init__(self, variant_ids: Sequence[str]) -> None:
        self.variant_ids = tuple(sorted(variant_ids))
        super().__init__(
            f"not enough stock for {', '.join(self.variant_ids)}",
            extra={"variant_ids": list(self.variant_ids)},
        )


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    title = "Not enough units on hand"


class StockLimitExceeded(ValidationFailed):
    code = "stock_limit_exceeded"


class SkuNotFound(NotFound):
    code = "sku_not_found"
    title = "SKU not found"


class SkuTaken(Conflict):
    code = "sku_taken"
    title = "SKU already used by another variant"


class ReservationNotFound(NotFound):
    code = "reservation_not_found"
    title = "Reservation not found"


class ReservationClosed(Conflict):
    code = "reservation_closed"
    title = "Reservation is no longer active"
