"""Orders tables (prefix `orders_`), one module per aggregate."""

from marketplace.orders.models.cart import Cart, CartItem

__all__ = ["Cart", "CartItem"]
