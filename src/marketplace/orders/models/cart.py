"""Cart tables: a cart (a customer's, or a guest's proven by a token) and its lines.

`customer_id` and `variant_id` are identity's and the catalog's ids, stored without foreign
keys (contexts own their tables). A customer has at most one open cart: the partial unique
index is what makes "create my cart" safe under concurrent requests. A variant appears at most
once per cart: adding it again adds to its line.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class Cart(Base):
    __tablename__ = "orders_cart"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(40))
    # SHA-256 of a guest cart's secret token; the token itself is shown once, never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))  # open | merged | converted
    order_id: Mapped[str | None] = mapped_column(String(40))
    merged_into_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    # Last activity: every change touches it, and the purge of stale carts reads it.
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index(
            "uq_orders_cart_open_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("status = 'open' AND customer_id IS NOT NULL"),
            postgresql_where=text("status = 'open' AND customer_id IS NOT NULL"),
        ),
        Index("ix_orders_cart_updated_at", "updated_at"),
        CheckConstraint("status IN ('open', 'merged', 'converted')", name="status"),
        CheckConstraint("customer_id IS NOT NULL OR token_hash IS NOT NULL", name="owner"),
    )


class CartItem(Base):
    __tablename__ = "orders_cart_item"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("orders_cart.id"))
    variant_id: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id", name="uq_orders_cart_item_variant"),
        CheckConstraint("quantity >= 1 AND quantity <= 99", name="quantity"),
    )
