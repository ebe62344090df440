"""Orders tables (prefix `orders_`), one module per aggregate."""

from marketplace.orders.models.cart import Cart, CartItem
from marketplace.orders.models.order import (
    Order,
    OrderItem,
    ReturnRequest,
    Shipment,
    TimelineEntry,
    VendorOrder,
)

__all__ = [
    "Cart",
    "CartItem",
    "Order",
    "OrderItem",
    "ReturnRequest",
    "Shipment",
    "TimelineEntry",
    "VendorOrder",
]
