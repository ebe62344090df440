"""Orders tables (prefix `orders_`), one module per aggregate."""

from marketplace.orders.models.cart import Cart, CartItem
from marketplace.orders.models.document import Document
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
    "Document",
    "Order",
    "OrderItem",
    "ReturnRequest",
    "Shipment",
    "TimelineEntry",
    "VendorOrder",
]
