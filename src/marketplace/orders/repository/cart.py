"""Every query of carts.

Changes to a cart go through `touch_open`: a conditional UPDATE that succeeds only while the
cart is open, and that holds the cart row's lock (PostgreSQL) or the database's write lock
(SQLite) until the transaction ends. So concurrent changes to one cart run one after another,
and the line-count and quantity checks that follow stay true until commit. Ownership (the
customer or the guest token) is checked by the service on the row `cart` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.orders.models import Cart, CartItem
from marketplace.platform.db import insert_ignore, one_of

_SYNC = {"synchronize_session": False}


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def cart(session: AsyncSession, cart_id: str) -> Cart | None:
    # populate_existing: bulk UPDATEs below bypass the identity map, so reads refresh it.
    return await session.scalar(
        select(Cart).where(Cart.id == cart_id).execution_options(populate_existing=True)
    )


async def open_cart_of(session: AsyncSession, customer_id: str) -> Cart | None:
    return await session.scalar(
        select(Cart)
        .where(Cart.customer_id == customer_id, Cart.status == "open")
        .execution_options(populate_existing=True)
    )


async def insert_cart(
    session: AsyncSession,
    *,
    cart_id: str,
    customer_id: str | None,
    token_hash: str | None,
    now: datetime,
) -> bool:
    """Insert an open cart; False when the customer already has one (the unique index
    decided: of two concurrent creations one inserts, the other reads the winner's)."""
    row = {
        "id": cart_id,
        "customer_id": customer_id,
        "token_hash": token_hash,
        "status": "open",
        "order_id": None,
        "merged_into_id": None,
        "created_at": now,
        "updated_at": now,
    }
    result = await session.execute(insert_ignore(Cart.__table__, _dialect(session), [row]))  # type: ignore[arg-type]
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def touch_open(
    session: AsyncSession, cart_id: str, now: datetime, *, customer_id: str | None = None
) -> bool:
    """Mark activity on an open cart and take its lock; False if it is not open (or, with
    `customer_id`, not that customer's)."""
    stmt = update(Cart).where(Cart.id == cart_id, Cart.status == "open")
    if customer_id is not None:
        stmt = stmt.where(Cart.customer_id == customer_id)
    result = await session.execute(stmt.values(updated_at=now), execution_options=_SYNC)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def close(
    session: AsyncSession,
    cart_id: str,
    now: datetime,
    *,
    status: str,
    order_id: str | None = None,
    merged_into_id: str | None = None,
) -> bool:
    """open -> `status`, at most once: False when the cart was not open."""
    result = await session.execute(
        update(Cart)
        .where(Cart.id == cart_id, Cart.status == "open")
        .values(status=status, order_id=order_id, merged_into_id=merged_into_id, updated_at=now),
        execution_options=_SYNC,
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def items(session: AsyncSession, cart_id: str) -> Sequence[CartItem]:
    """The cart's lines in the order they were added (ids are time-ordered)."""
    return (
        await session.scalars(
            select(CartItem)
            .where(CartItem.cart_id == cart_id)
            .order_by(CartItem.id)
            .execution_options(populate_existing=True)
        )
    ).all()


async def item(session: AsyncSession, cart_id: str, item_id: str) -> CartItem | None:
    return await session.scalar(
        select(CartItem)
        .where(CartItem.id == item_id, CartItem.cart_id == cart_id)
        .execution_options(populate_existing=True)
    )


async def line_count(session: AsyncSession, cart_id: str) -> int:
    count = await session.scalar(
        select(func.count()).select_from(CartItem).where(CartItem.cart_id == cart_id)
    )
    return int(count or 0)


async def insert_items(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        await session.execute(insert(CartItem), list(rows))


async def set_quantity(
    session: AsyncSession, cart_id: str, item_id: str, quantity: int, now: datetime
) -> bool:
    result = await session.execute(
        update(CartItem)
        .where(CartItem.id == item_id, CartItem.cart_id == cart_id)
        .values(quantity=quantity, updated_at=now),
        execution_options=_SYNC,
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def delete_item(session: AsyncSession, cart_id: str, item_id: str) -> bool:
    result = await session.execute(
        delete(CartItem).where(CartItem.id == item_id, CartItem.cart_id == cart_id),
        execution_options=_SYNC,
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def lock_stale(session: AsyncSession, cutoff: datetime, limit: int) -> list[str]:
    """Ids of carts idle since before `cutoff`, locked. The condition is evaluated again once
    a row's lock is held, so a cart touched meanwhile is not taken; carts in use right now
    are skipped rather than waited for (the next run gets them if they stay idle)."""
    rows = await session.scalars(
        select(Cart.id)
        .where(Cart.updated_at < cutoff)
        .order_by(Cart.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def delete_carts(session: AsyncSession, cart_ids: Sequence[str]) -> int:
    if not cart_ids:
        return 0
    dialect = _dialect(session)
    await session.execute(
        delete(CartItem).where(one_of(CartItem.cart_id, cart_ids, dialect)),
        execution_options=_SYNC,
    )
    result = await session.execute(
        delete(Cart).where(one_of(Cart.id, cart_ids, dialect)), execution_options=_SYNC
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
