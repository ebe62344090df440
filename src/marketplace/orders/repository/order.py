"""Every query of orders, vendor orders, items, shipments, returns and the timeline.

Status changes are conditional UPDATEs whose WHERE clause names the statuses the state
machine allows to start from (`domain.status.sources_of`): of two racing changes only one
moves the row, the other sees 0 rows and answers 409 with the status it found. The vendor's
tenancy filter lives in the queries that take a `vendor_id`; the customer's in those that
take a `customer_id`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, Update, bindparam, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.orders.models.order import (
    Order,
    OrderItem,
    ReturnRequest,
    Shipment,
    TimelineEntry,
    VendorOrder,
)
from marketplace.platform import direct
from marketplace.platform.db import built_once

_orders = cast(Table, Order.__table__)
_vendor_orders = cast(Table, VendorOrder.__table__)
# Asked by every checkout and almost always answered "none": the id alone, by a Core SELECT
# built once; the entity is loaded only for the rare checkout that resumes.
_ID_BY_CHECKOUT_KEY = select(_orders.c.id).where(
    _orders.c.customer_id == bindparam("the_customer"),
    _orders.c.checkout_key == bindparam("the_key"),
)


async def order_by_checkout_key(
    session: AsyncSession, *, customer_id: str, checkout_key: str
) -> Order | None:
    found = (
        await direct.execute(
            session, _ID_BY_CHECKOUT_KEY, {"the_customer": customer_id, "the_key": checkout_key}
        )
    ).scalar()
    return None if found is None else await order(session, found)


_STATUS = select(_orders.c.status).where(_orders.c.id == bindparam("the_order"))


async def order_status(session: AsyncSession, order_id: str) -> str | None:
    found = (await direct.execute(session, _STATUS, {"the_order": order_id})).scalar()
    return None if found is None else str(found)


async def order(session: AsyncSession, order_id: str, *, lock: bool = False) -> Order | None:
    stmt = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def vendor_orders_of(
    session: AsyncSession, order_ids: Collection[str], *, lock: bool = False
) -> list[VendorOrder]:
    if not order_ids:
        return []
    stmt = (
        select(VendorOrder)
        .where(VendorOrder.order_id.in_(list(order_ids)))
        .order_by(VendorOrder.order_id, VendorOrder.id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


async def vendor_order(
    session: AsyncSession, vendor_order_id: str, *, vendor_id: str | None = None, lock: bool = False
) -> VendorOrder | None:
    stmt = (
        select(VendorOrder)
        .where(VendorOrder.id == vendor_order_id)
        .execution_options(populate_existing=True)
    )
    if vendor_id is not None:
        stmt = stmt.where(VendorOrder.vendor_id == vendor_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def items_of(
    session: AsyncSession, vendor_order_ids: Collection[str], *, lock: bool = False
) -> list[OrderItem]:
    if not vendor_order_ids:
        return []
    stmt = (
        select(OrderItem)
        .where(OrderItem.vendor_order_id.in_(list(vendor_order_ids)))
        .order_by(OrderItem.vendor_order_id, OrderItem.id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


async def shipments_of(session: AsyncSession, vendor_order_ids: Collection[str]) -> list[Shipment]:
    if not vendor_order_ids:
        return []
    return list(
        (
            await session.scalars(
                select(Shipment)
                .where(Shipment.vendor_order_id.in_(list(vendor_order_ids)))
                .order_by(Shipment.shipped_at, Shipment.id)
            )
        ).all()
    )


async def move_vendor_orders(
    session: AsyncSession,
    vendor_order_ids: Collection[str],
    *,
    sources: Collection[str],
    target: str,
    now: datetime,
    **values: Any,
) -> list[str]:
    """Move those of these vendor orders that are in `sources` to `target`; their ids."""
    if not vendor_order_ids:
        return []
    moved = await session.scalars(
        update(VendorOrder)
        .where(VendorOrder.id.in_(list(vendor_order_ids)), VendorOrder.status.in_(list(sources)))
        .values(status=target, updated_at=now, **values)
        .returning(VendorOrder.id),
        execution_options={"synchronize_session": False},
    )
    return sorted(moved.all())


async def move_order(
    session: AsyncSession,
    order_id: str,
    *,
    sources: Collection[str],
    now: datetime,
    **values: Any,
) -> bool:
    """Change the order if its status is one of `sources`: True for exactly one racer."""
    result = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status.in_(list(sources)))
        .values(updated_at=now, **values),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def move_order_returning(
    session: AsyncSession,
    order_id: str,
    *,
    sources: Collection[str],
    now: datetime,
    **values: Any,
) -> Order | None:
    """`move_order`, answering with the changed row (None for the racers that lost), as an
    object outside the session (`direct.returning_objects`)."""
    names = tuple(sorted(values))
    statement = built_once(
        ("orders.move_order_returning", tuple(sources), names),
        lambda: direct.returning_all(Order, _order_moved(sources, names)),
    )
    params = {"the_order": order_id, "at": now, **{f"set_{n}": values[n] for n in names}}
    found = await direct.returning_objects(session, Order, statement, params)
    return found[0] if found else None


def _order_moved(sources: Collection[str], names: tuple[str, ...]) -> Update:
    """The order `the_order` to the values `set_<name>` if its status is among `sources`."""
    return (
        update(_orders)
        .where(_orders.c.id == bindparam("the_order"), _orders.c.status.in_(list(sources)))
        .values(updated_at=bindparam("at"), **{n: bindparam(f"set_{n}") for n in names})
    )


def _vendor_orders_moved(
    of_order: ColumnElement[bool], sources: Collection[str], names: tuple[str, ...]
) -> Update:
    """The vendor orders matching `of_order` whose status is among `sources` to
    `to_status` and the values `set_<name>`."""
    return (
        update(_vendor_orders)
        .where(of_order, _vendor_orders.c.status.in_(list(sources)))
        .values(
            status=bindparam("to_status"),
            updated_at=bindparam("at"),
            **{n: bindparam(f"set_{n}") for n in names},
        )
    )


async def move_vendor_orders_of(
    session: AsyncSession,
    order_id: str,
    *,
    sources: Collection[str],
    target: str,
    now: datetime,
    **values: Any,
) -> list[VendorOrder]:
    """Move the order's vendor orders that are in `sources` to `target`: the moved rows,
    as they are now, in id order, as objects outside the session."""
    names = tuple(sorted(values))
    statement = built_once(
        ("orders.move_vendor_orders_of", tuple(sources), names),
        lambda: direct.returning_all(
            VendorOrder,
            _vendor_orders_moved(
                _vendor_orders.c.order_id == bindparam("the_order"), sources, names
            ),
        ),
    )
    params = {
        "the_order": order_id,
        "to_status": target,
        "at": now,
        **{f"set_{n}": values[n] for n in names},
    }
    moved = await direct.returning_objects(session, VendorOrder, statement, params)
    return sorted(moved, key=lambda v: v.id)


async def move_order_with_vendor_orders(
    session: AsyncSession,
    order_id: str,
    *,
    sources: Collection[str],
    vendor_sources: Collection[str],
    vendor_target: str,
    now: datetime,
    **values: Any,
) -> tuple[Order, list[VendorOrder]] | None:
    """`move_order_returning`, then `move_vendor_orders_of` of the order if it moved: the
    moved rows, or None for the racers that lost. On PostgreSQL one statement (the vendor
    orders' UPDATE in a CTE after the order's, on the order it moved)."""
    if session.get_bind().dialect.name != "postgresql":
        order = await move_order_returning(session, order_id, sources=sources, now=now, **values)
        if order is None:
            return None
        return order, await move_vendor_orders_of(
            session, order_id, sources=vendor_sources, target=vendor_target, now=now
        )
    names = tuple(sorted(values))
    statement = built_once(
        (
            "orders.move_order_with_vendor_orders",
            tuple(sources),
            tuple(vendor_sources),
            names,
        ),
        lambda: _order_with_vendor_orders(sources, vendor_sources, names),
    )
    params = {
        "the_order": order_id,
        "at": now,
        "to_status": vendor_target,
        **{f"set_{n}": values[n] for n in names},
    }
    rows = (await direct.execute(session, statement, params)).all()
    if not rows:
        return None
    split = len(_orders.c)  # the order's columns, then a vendor order's (NULL: none moved)
    order = direct.object_of(Order, rows[0][:split])
    vendor_orders = [
        direct.object_of(VendorOrder, row[split:]) for row in rows if row[split] is not None
    ]
    return order, sorted(vendor_orders, key=lambda v: v.id)


def _order_with_vendor_orders(
    sources: Collection[str], vendor_sources: Collection[str], names: tuple[str, ...]
) -> Select[Any]:
    moved = _order_moved(sources, names).returning(*_orders.c).cte("moved_order")
    moved_vendor_orders = (
        _vendor_orders_moved(_vendor_orders.c.order_id.in_(select(moved.c.id)), vendor_sources, ())
        .returning(*_vendor_orders.c)
        .cte("moved_vendor_orders")
    )
    return select(*moved.c, *moved_vendor_orders.c).select_from(
        moved.outerjoin(moved_vendor_orders, true())
    )


async def set_reservation(session: AsyncSession, order_id: str, reservation_id: str) -> None:
    await direct.execute(
        session, _SET_RESERVATION, {"the_order": order_id, "the_reservation": reservation_id}
    )


_SET_RESERVATION = (
    update(_orders)
    .where(_orders.c.id == bindparam("the_order"))
    .values(reservation_id=bindparam("the_reservation"))
)


async def set_order_status(
    session: AsyncSession, order_id: str, status: str, now: datetime
) -> None:
    await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status != status)
        .values(status=status, updated_at=now),
        execution_options={"synchronize_session": False},
    )


def customer_orders(customer_id: str) -> Select[Order]:
    return select(Order).where(Order.customer_id == customer_id)


def vendor_orders_for_vendor(
    vendor_id: str,
    *,
    status: str | None,
    placed_from: datetime | None,
    placed_to: datetime | None,
) -> Select[VendorOrder]:
    stmt = select(VendorOrder).where(VendorOrder.vendor_id == vendor_id)
    if status is not None:
        stmt = stmt.where(VendorOrder.status == status)
    if placed_from is not None:
        stmt = stmt.where(VendorOrder.placed_at >= placed_from)
    if placed_to is not None:
        stmt = stmt.where(VendorOrder.placed_at < placed_to)
    return stmt


async def stale_unpaid_orders(
    session: AsyncSession, *, placed_before: datetime, limit: int
) -> list[str]:
    return list(
        (
            await session.scalars(
                select(Order.id)
                .where(Order.status == "pending_payment", Order.placed_at < placed_before)
                .order_by(Order.placed_at, Order.id)
                .limit(limit)
            )
        ).all()
    )


def add_timeline(session: AsyncSession, entries: Sequence[TimelineEntry]) -> None:
    session.add_all(entries)


async def timeline(
    session: AsyncSession, order_id: str, *, vendor_order_id: str | None = None
) -> list[TimelineEntry]:
    stmt = select(TimelineEntry).where(TimelineEntry.order_id == order_id)
    if vendor_order_id is not None:
        stmt = stmt.where(TimelineEntry.vendor_order_id == vendor_order_id)
    return list(
        (await session.scalars(stmt.order_by(TimelineEntry.created_at, TimelineEntry.id))).all()
    )


async def return_request(
    session: AsyncSession, return_id: str, *, vendor_id: str | None = None, lock: bool = False
) -> ReturnRequest | None:
    stmt = select(ReturnRequest).where(ReturnRequest.id == return_id)
    if vendor_id is not None:
        stmt = stmt.where(ReturnRequest.vendor_id == vendor_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt.execution_options(populate_existing=True))).first()


def vendor_returns(vendor_id: str, *, status: str | None) -> Select[ReturnRequest]:
    stmt = select(ReturnRequest).where(ReturnRequest.vendor_id == vendor_id)
    if status is not None:
        stmt = stmt.where(ReturnRequest.status == status)
    return stmt


async def pending_return_quantities(session: AsyncSession, vendor_order_id: str) -> dict[str, int]:
    """Units of each item already asked back by returns not yet decided."""
    pending: dict[str, int] = {}
    for request in (
        await session.scalars(
            select(ReturnRequest).where(
                ReturnRequest.vendor_order_id == vendor_order_id,
                ReturnRequest.status == "requested",
            )
        )
    ).all():
        for item in request.items:
            pending[item["order_item_id"]] = pending.get(item["order_item_id"], 0) + int(
                item["quantity"]
            )
    return pending


async def count_orders(session: AsyncSession, customer_id: str) -> int:
    return int(
        await session.scalar(select(func.count()).where(Order.customer_id == customer_id)) or 0
    )


async def orders_by_ids(session: AsyncSession, order_ids: Collection[str]) -> list[Order]:
    if not order_ids:
        return []
    return list((await session.scalars(select(Order).where(Order.id.in_(list(order_ids))))).all())


async def orders_to_complete(session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
    return list(
        (
            await session.scalars(
                select(Order.id)
                .where(
                    Order.status.in_(("delivered", "partially_refunded")),
                    Order.completes_at <= now,
                )
                .order_by(Order.completes_at, Order.id)
                .limit(limit)
            )
        ).all()
    )
