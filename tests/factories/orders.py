"""Typed factories for orders: carts (customer or guest) with lines, and readers of what the
context stored (cart status, lines)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.bootstrap import Container
from marketplace.catalog.models import Product, Variant
from marketplace.orders.models import Cart, CartItem
from marketplace.orders.service import carts
from marketplace.orders.service.carts import Shopper


@dataclass(frozen=True)
class MadeCart:
    id: str
    token: str | None  # a guest cart's secret

    @property
    def shopper_headers(self) -> dict[str, str]:
        return {"X-Cart-Token": self.token} if self.token else {}


async def create_cart(container: Container, *, customer_id: str | None = None) -> MadeCart:
    async with container.uow_factory() as uow:
        view, _ = await carts.create_cart(uow, shopper=Shopper(customer_id=customer_id))
        await uow.commit()
    return MadeCart(view.id, view.token)


async def add_line(
    container: Container,
    cart: MadeCart,
    variant_id: str,
    quantity: int = 1,
    *,
    customer_id: str | None = None,
) -> str:
    """Adds units; returns the line's item id."""
    async with container.uow_factory() as uow:
        view, _ = await carts.add_item(
            uow,
            cart_id=cart.id,
            shopper=Shopper(customer_id=customer_id, token=cart.token),
            quantity=quantity,
            variant_id=variant_id,
        )
        await uow.commit()
    return next(i.id for i in view.items if i.variant_id == variant_id)


async def variant_of(container: Container, product: Product) -> Variant:
    """The product's first live variant."""
    async with container.db.session() as session:
        variant = await session.scalar(
            select(Variant).where(Variant.product_id == product.id).order_by(Variant.position)
        )
    assert variant is not None
    return variant


async def cart_row(session: AsyncSession, cart_id: str) -> Cart | None:
    return await session.scalar(
        select(Cart).where(Cart.id == cart_id).execution_options(populate_existing=True)
    )


async def lines(session: AsyncSession, cart_id: str) -> list[tuple[str, int]]:
    """(variant_id, quantity) of the cart's stored lines, in the order they were added."""
    rows = await session.execute(
        select(CartItem.variant_id, CartItem.quantity)
        .where(CartItem.cart_id == cart_id)
        .order_by(CartItem.id)
    )
    return [(v, q) for v, q in rows.all()]
