"""Events the inventory context publishes: low stock (for the vendor's alert) and a variant
going out of or back into stock (for the catalog's `in_stock` flag)."""

from __future__ import annotations

from marketplace.platform.messaging import Event


class StockLow(Event):
    """Available units dropped to or below the variant's threshold: once per crossing, not on
    every sale while low. Includes running out (available 0)."""

    name = "inventory.stock_low.v1"
    vendor_id: str
    variant_id: str
    sku: str
    available: int
    threshold: int


class AvailabilityChanged(Event):
    """A variant can no longer be bought (available reached 0) or can be again. Not published
    for changes that leave it in stock, so subscribers see only what changes their answer."""

    name = "inventory.availability_changed.v1"
    vendor_id: str
    product_id: str
    variant_id: str
    available: int
    in_stock: bool
