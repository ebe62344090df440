"""Stock use cases: set and adjust a variant's units, read levels; and what every change of
a count publishes (low-stock alerts once per crossing, in/out-of-stock news).

Counts change only through the conditional UPDATEs of `repository`: the database decides under
concurrency, never a value read earlier. None of these functions commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy.exc import IntegrityError

from marketplace.compliance.public import record_audit
from marketplace.identity.public import VendorAccess
from marketplace.inventory import repository as repo
from marketplace.inventory.domain import (
    MAX_DELTA,
    MAX_ON_HAND,
    MAX_THRESHOLD,
    REASON_MAX_LENGTH,
    SKU_MAX_LENGTH,
    available,
    in_stock,
    in_stock_flip,
    is_low,
    low_stock_signal,
)
from marketplace.inventory.errors import (
    InsufficientStock,
    SkuNotFound,
    SkuTaken,
    StockLimitExceeded,
)
from marketplace.inventory.events import AvailabilityChanged, StockLow
from marketplace.inventory.models import Adjustment, Stock
from marketplace.inventory.repository import StockRow
from marketplace.platform.clock import utcnow
from marketplace.platform.db import is_unique_violation, transient
from marketplace.platform.db import refresh_statistics as db_refresh_statistics
from marketplace.platform.errors import AppError
from marketplace.platform.ids import new_id
from marketplace.platform.pagination import PageParams, SortKey, paginate
from marketplace.platform.uow import UnitOfWork

ID_MAX: Final = 40
ACTOR_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class StockLevel:
    """A variant's stock as other contexts and the API see it."""

    variant_id: str
    vendor_id: str
    product_id: str
    sku: str
    on_hand: int
    reserved: int
    available: int
    in_stock: bool
    low_stock: bool
    low_stock_threshold: int
    updated_at: datetime


def stock_level(row: StockRow) -> StockLevel:
    units = available(row.on_hand, row.reserved)
    return StockLevel(
        variant_id=row.variant_id,
        vendor_id=row.vendor_id,
        product_id=row.product_id,
        sku=row.sku,
        on_hand=row.on_hand,
        reserved=row.reserved,
        available=units,
        in_stock=in_stock(units),
        low_stock=is_low(units, row.low_stock_threshold),
        low_stock_threshold=row.low_stock_threshold,
        updated_at=row.updated_at,
    )


async def publish_change(uow: UnitOfWork, row: StockRow, *, available_before: int) -> StockRow:
    """Publish what the change that left `row` means: a low-stock alert once per crossing,
    and the news when the variant went out of or back into stock."""
    units = available(row.on_hand, row.reserved)
    signal = low_stock_signal(
        alerted=row.low_stock_alerted, available_units=units, threshold=row.low_stock_threshold
    )
    # The flag is claimed with a conditional UPDATE, so of two sales crossing the threshold
    # at once only one alerts.
    if signal == "alert" and await repo.mark_low_stock_alerted(uow.session, row.variant_id):
        row = replace(row, low_stock_alerted=True)
        uow.publish(
            StockLow(
                vendor_id=row.vendor_id,
                variant_id=row.variant_id,
                sku=row.sku,
                available=units,
                threshold=row.low_stock_threshold,
            )
        )
    elif signal == "rearm" and await repo.rearm_low_stock(uow.session, row.variant_id):
        row = replace(row, low_stock_alerted=False)
    flipped = in_stock_flip(available_before, units)
    if flipped is not None:
        uow.publish(
            AvailabilityChanged(
                vendor_id=row.vendor_id,
                product_id=row.product_id,
                variant_id=row.variant_id,
                available=units,
                in_stock=flipped,
            )
        )
    return row


def log_adjustment(
    uow: UnitOfWork,
    row: StockRow,
    *,
    delta: int,
    reason: str,
    actor_id: str,
    now: datetime,
    reservation_id: str | None = None,
) -> None:
    # An append-only log line, read only by later requests: written with the transaction's
    # other new rows by one Core INSERT, not by the ORM's flush.
    uow.add_new(
        transient(
            Adjustment,
            id=new_id("adj"),
            variant_id=row.variant_id,
            vendor_id=row.vendor_id,
            sku=row.sku,
            delta=delta,
            reason=reason,
            actor_id=actor_id,
            reservation_id=reservation_id,
            on_hand_after=row.on_hand,
            created_at=now,
        ),
    )


def check_text(name: str, value: str, limit: int) -> None:
    if not value or len(value) > limit:
        raise ValueError(f"{name} must be 1 to {limit} characters, got {value!r}")


async def set_stock(
    uow: UnitOfWork,
    *,
    vendor_id: str,
    product_id: str,
    variant_id: str,
    sku: str,
    quantity: int,
    low_stock_threshold: int,
    actor_id: str,
    reason: str | None = None,
) -> StockLevel:
    """Create the variant's stock, or set its `on_hand` to `quantity` (and its threshold, sku
    and product), logging the difference as an adjustment ("initial" for a new row, "set"
    otherwise, unless `reason` says why).

    The catalog owns skus and keeps them unique among its live variants, so a sku given to
    this variant is no longer another's: that variant was deleted or is being renamed in the
    same change, and its stock is retired (see `retire_stock`). Setting a retired variant's
    stock brings it back.

    Refuses (409 insufficient_stock) to go below the units reserved by checkouts, and (409
    sku_taken) when a concurrent call gives the same sku to another variant first. Creating
    stock alerts nobody: the caller gets the level back; later changes alert and publish as
    usual.
    """
    for name, value in (
        ("vendor_id", vendor_id),
        ("product_id", product_id),
        ("variant_id", variant_id),
    ):
        check_text(name, value, ID_MAX)
    check_text("sku", sku, SKU_MAX_LENGTH)
    check_text("actor_id", actor_id, ACTOR_MAX)
    if not 0 <= quantity <= MAX_ON_HAND:
        raise ValueError(f"quantity must be 0 to {MAX_ON_HAND}, got {quantity}")
    if not 0 <= low_stock_threshold <= MAX_THRESHOLD:
        raise ValueError(f"low_stock_threshold must be 0 to {MAX_THRESHOLD}")
    now = utcnow()
    session = uow.session
    await repo.retire_sku_holders(
        session, vendor_id=vendor_id, sku=sku, keeping=variant_id, now=now
    )
    created = await repo.insert_stock(
        session,
        uow.dialect,
        variant_id=variant_id,
        vendor_id=vendor_id,
        product_id=product_id,
        sku=sku,
        on_hand=quantity,
        low_stock_threshold=low_stock_threshold,
        now=now,
    )
    if created:
        row = StockRow(
            variant_id=variant_id,
            vendor_id=vendor_id,
            product_id=product_id,
            sku=sku,
            on_hand=quantity,
            reserved=0,
            low_stock_threshold=low_stock_threshold,
            low_stock_alerted=is_low(quantity, low_stock_threshold),
            updated_at=now,
        )
        if quantity:
            log_adjustment(
                uow, row, delta=quantity, reason=reason or "initial", actor_id=actor_id, now=now
            )
        return stock_level(row)

    before = await repo.stock_for_update(session, variant_id)
    if before is None:
        # The insert was ignored, yet the variant has no row: a concurrent call gave the sku
        # to another variant after we looked.
        raise SkuTaken(f"sku {sku!r} was just given to another variant of this vendor")
    if before.vendor_id != vendor_id:
        raise ValueError(f"variant {variant_id} belongs to another vendor")

    async def write() -> StockRow | None:
        return await repo.replace_stock(
            session,
            variant_id=variant_id,
            product_id=product_id,
            sku=sku,
            on_hand=quantity,
            low_stock_threshold=low_stock_threshold,
            now=now,
        )

    if sku == before.sku:
        after = await write()
    else:
        try:
            # A savepoint, so losing a race for the new sku to a concurrent call is a clean
            # 409 (the unique index decides) that leaves the caller's transaction usable.
            async with session.begin_nested():
                after = await write()
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            raise SkuTaken(
                f"sku {sku!r} was just given to another variant of this vendor"
            ) from None
    if after is None:
        raise InsufficientStock(
            f"{before.reserved} units are reserved by checkouts; on_hand cannot be {quantity}",
            extra={"on_hand": before.on_hand, "reserved": before.reserved},
        )
    delta = after.on_hand - before.on_hand
    if delta:
        log_adjustment(uow, after, delta=delta, reason=reason or "set", actor_id=actor_id, now=now)
    after = await publish_change(
        uow, after, available_before=available(before.on_hand, before.reserved)
    )
    return stock_level(after)


@dataclass(frozen=True, slots=True)
class StockSetting:
    """One variant's stock as `set_stock_many` should leave it."""

    variant_id: str
    product_id: str
    sku: str
    quantity: int
    low_stock_threshold: int


async def set_stock_many(
    uow: UnitOfWork,
    *,
    vendor_id: str,
    settings: Sequence[StockSetting],
    actor_id: str,
    reason: str,
) -> dict[str, StockLevel]:
    """`set_stock` for many variants of one vendor, with the same rules and events, in a
    handful of statements instead of several per variant (bulk imports); levels by variant id.

    The rows are locked up front (in variant order), so what they hold is decided once and
    written with one executemany. A variant whose sku moves (renamed, or held by another live
    variant) and a batch naming a variant or sku twice go through `set_stock` one by one, in
    the given order, as do new rows that lose a race for their sku. Raises the first refusal
    (`InsufficientStock`, `SkuTaken`) with the variant in `extra["variant_id"]`, leaving the
    caller to roll back (a savepoint) and retry without it.
    """
    check_text("actor_id", actor_id, ACTOR_MAX)
    check_text("reason", reason, REASON_MAX_LENGTH)
    for setting in settings:
        for name, value in (("product_id", setting.product_id), ("variant_id", setting.variant_id)):
            check_text(name, value, ID_MAX)
        check_text("sku", setting.sku, SKU_MAX_LENGTH)
        if not 0 <= setting.quantity <= MAX_ON_HAND:
            raise ValueError(f"quantity must be 0 to {MAX_ON_HAND}, got {setting.quantity}")
        if not 0 <= setting.low_stock_threshold <= MAX_THRESHOLD:
            raise ValueError(f"low_stock_threshold must be 0 to {MAX_THRESHOLD}")
    check_text("vendor_id", vendor_id, ID_MAX)
    variant_ids = [s.variant_id for s in settings]
    skus = [s.sku for s in settings]
    if len(set(variant_ids)) < len(variant_ids) or len(set(skus)) < len(skus):
        return await _set_one_by_one(uow, vendor_id, settings, actor_id, reason)

    session = uow.session
    now = utcnow()
    rows = await repo.stocks_for_update(session, variant_ids)
    holders = await repo.live_sku_holders(session, vendor_id=vendor_id, skus=skus)
    moving: list[StockSetting] = []
    creating: list[StockSetting] = []
    setting_rows: list[tuple[StockSetting, StockRow]] = []
    for setting in settings:
        before = rows.get(setting.variant_id)
        if before is not None and before.vendor_id != vendor_id:
            raise ValueError(f"variant {setting.variant_id} belongs to another vendor")
        holder = holders.get(setting.sku, setting.variant_id)
        if holder != setting.variant_id or (before is not None and before.sku != setting.sku):
            moving.append(setting)
        elif before is None:
            creating.append(setting)
        else:
            if setting.quantity < before.reserved:
                raise InsufficientStock(
                    f"{before.reserved} units are reserved by checkouts; on_hand cannot be "
                    f"{setting.quantity}",
                    extra={
                        "on_hand": before.on_hand,
                        "reserved": before.reserved,
                        "variant_id": setting.variant_id,
                    },
                )
            setting_rows.append((setting, before))

    levels: dict[str, StockLevel] = {}
    adjustments: list[dict[str, Any]] = []
    if creating:
        created = [_new_row(vendor_id, s, now) for s in creating]
        try:
            # A savepoint: losing a race for a sku leaves the transaction usable, and those
            # rows are retried one by one (where the loser gets its clean 409).
            async with session.begin_nested():
                await repo.insert_stocks(session, [_stock_values(row) for row in created])
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            moving.extend(creating)
        else:
            for setting, row in zip(creating, created, strict=True):
                levels[row.variant_id] = stock_level(row)
                if setting.quantity:
                    adjustments.append(_adjustment(row, setting.quantity, reason, actor_id, now))

    updates: list[dict[str, Any]] = []
    for setting, before in setting_rows:
        units = available(setting.quantity, before.reserved)
        alerted = before.low_stock_alerted
        signal = low_stock_signal(
            alerted=alerted, available_units=units, threshold=setting.low_stock_threshold
        )
        after = replace(
            before,
            product_id=setting.product_id,
            on_hand=setting.quantity,
            low_stock_threshold=setting.low_stock_threshold,
            low_stock_alerted=alerted if signal is None else signal == "alert",
            updated_at=now,
        )
        updates.append(
            {
                "variant_id": after.variant_id,
                "product_id": after.product_id,
                "on_hand": after.on_hand,
                "low_stock_threshold": after.low_stock_threshold,
                "low_stock_alerted": after.low_stock_alerted,
                "updated_at": now,
                "retired_at": None,
            }
        )
        delta = after.on_hand - before.on_hand
        if delta:
            adjustments.append(_adjustment(after, delta, reason, actor_id, now))
        if signal == "alert":
            uow.publish(
                StockLow(
                    vendor_id=vendor_id,
                    variant_id=after.variant_id,
                    sku=after.sku,
                    available=units,
                    threshold=after.low_stock_threshold,
                )
            )
        flipped = in_stock_flip(available(before.on_hand, before.reserved), units)
        if flipped is not None:
            uow.publish(
                AvailabilityChanged(
                    vendor_id=vendor_id,
                    product_id=after.product_id,
                    variant_id=after.variant_id,
                    available=units,
                    in_stock=flipped,
                )
            )
        levels[after.variant_id] = stock_level(after)
    if updates:
        await repo.set_stocks(session, updates)
    await repo.add_adjustments(session, adjustments)
    if moving:
        order = {s.variant_id: i for i, s in enumerate(settings)}
        moving.sort(key=lambda s: order[s.variant_id])
        levels.update(await _set_one_by_one(uow, vendor_id, moving, actor_id, reason))
    return levels


async def _set_one_by_one(
    uow: UnitOfWork,
    vendor_id: str,
    settings: Sequence[StockSetting],
    actor_id: str,
    reason: str,
) -> dict[str, StockLevel]:
    levels: dict[str, StockLevel] = {}
    for setting in settings:
        try:
            levels[setting.variant_id] = await set_stock(
                uow,
                vendor_id=vendor_id,
                product_id=setting.product_id,
                variant_id=setting.variant_id,
                sku=setting.sku,
                quantity=setting.quantity,
                low_stock_threshold=setting.low_stock_threshold,
                actor_id=actor_id,
                reason=reason,
            )
        except AppError as error:
            error.extra["variant_id"] = setting.variant_id
            raise
    return levels


def _new_row(vendor_id: str, setting: StockSetting, now: datetime) -> StockRow:
    return StockRow(
        variant_id=setting.variant_id,
        vendor_id=vendor_id,
        product_id=setting.product_id,
        sku=setting.sku,
        on_hand=setting.quantity,
        reserved=0,
        low_stock_threshold=setting.low_stock_threshold,
        # Creating stock is not a crossing: the vendor just entered these numbers.
        low_stock_alerted=is_low(setting.quantity, setting.low_stock_threshold),
        updated_at=now,
    )


def _stock_values(row: StockRow) -> dict[str, Any]:
    return {
        "variant_id": row.variant_id,
        "vendor_id": row.vendor_id,
        "product_id": row.product_id,
        "sku": row.sku,
        "on_hand": row.on_hand,
        "reserved": row.reserved,
        "low_stock_threshold": row.low_stock_threshold,
        "low_stock_alerted": row.low_stock_alerted,
        "updated_at": row.updated_at,
        "retired_at": None,
    }


def _adjustment(
    row: StockRow, delta: int, reason: str, actor_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id("adj"),
        "variant_id": row.variant_id,
        "vendor_id": row.vendor_id,
        "sku": row.sku,
        "delta": delta,
        "reason": reason,
        "actor_id": actor_id,
        "reservation_id": None,
        "on_hand_after": row.on_hand,
        "created_at": now,
    }


async def refresh_statistics(uow: UnitOfWork) -> None:
    """After a bulk load (`set_stock_many` batch after batch): let the planner see the rows
    (see `platform.db.refresh_statistics`)."""
    await db_refresh_statistics(uow.session, [Stock.__tablename__])


async def retire_stock(uow: UnitOfWork, *, variant_ids: Sequence[str]) -> int:
    """The catalog deleted these variants: their stock is no longer sold or listed and their
    skus are free; rows, log and open reservations stay (a reservation made before still
    commits or releases). `set_stock` brings a variant back. Returns how many were live."""
    return await repo.retire(uow.session, set(variant_ids), now=utcnow())


async def adjust(
    uow: UnitOfWork, *, vendor_id: str, sku: str, delta: int, reason: str, actor_id: str
) -> StockLevel:
    """Add `delta` (negative to remove) units to the vendor's `sku`, logged with who and why.

    404 sku_not_found for a sku the vendor does not have; 409 insufficient_stock if on_hand
    would drop below the units reserved (or below zero); 422 stock_limit_exceeded above the
    ceiling. Not audited here: a use case acting for a person records that itself
    (`adjust_stock` does, for the HTTP route).
    """
    if delta == 0 or abs(delta) > MAX_DELTA:
        raise ValueError(f"delta must be non-zero and at most {MAX_DELTA} either way")
    check_text("reason", reason, REASON_MAX_LENGTH)
    check_text("actor_id", actor_id, ACTOR_MAX)
    now = utcnow()
    after = await repo.add_on_hand(uow.session, vendor_id=vendor_id, sku=sku, delta=delta, now=now)
    if after is None:
        # Only to explain the refusal: nothing is decided on this read.
        current = await repo.stock_by_sku(uow.session, vendor_id=vendor_id, sku=sku)
        if current is None:
            raise SkuNotFound(f"no stock for sku {sku!r}")
        if current.on_hand + delta > MAX_ON_HAND:
            raise StockLimitExceeded.on_field(
                ["body", "delta"], f"on_hand may not exceed {MAX_ON_HAND}", "stock_limit_exceeded"
            )
        raise InsufficientStock(
            f"on_hand {current.on_hand} {delta:+d} would leave fewer than the "
            f"{current.reserved} units reserved by checkouts",
            extra={"on_hand": current.on_hand, "reserved": current.reserved},
        )
    log_adjustment(uow, after, delta=delta, reason=reason, actor_id=actor_id, now=now)
    after = await publish_change(
        uow, after, available_before=available(after.on_hand - delta, after.reserved)
    )
    return stock_level(after)


async def adjust_stock(
    uow: UnitOfWork, *, access: VendorAccess, sku: str, delta: int, reason: str
) -> StockLevel:
    """A vendor's team (or an admin) adjusting stock by hand: `adjust`, audited."""
    level = await adjust(
        uow,
        vendor_id=access.vendor_id,
        sku=sku,
        delta=delta,
        reason=reason,
        actor_id=access.principal.id,
    )
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="inventory.adjusted",
        resource_type="inventory_stock",
        resource_id=level.variant_id,
        before={"on_hand": level.on_hand - delta},
        after={"on_hand": level.on_hand, "reason": reason},
    )
    return level


async def availability(uow: UnitOfWork, variant_ids: Sequence[str]) -> dict[str, StockLevel]:
    """Levels of the variants that have stock, in one query; others are absent (and cannot
    be bought)."""
    rows = await repo.stock_of(uow.session, set(variant_ids))
    return {row.variant_id: stock_level(row) for row in rows}


async def list_stock(
    uow: UnitOfWork, *, vendor_id: str, low_stock: bool, page: PageParams
) -> tuple[list[StockLevel], str | None]:
    """The vendor's stock by sku; `low_stock` keeps those at or below their threshold."""
    stocks, cursor = await paginate(
        uow.session,
        repo.vendor_stock(vendor_id, low_stock=low_stock),
        keys=[SortKey(Stock.sku), SortKey(Stock.variant_id)],
        params=page,
        cursor_of=lambda s: (s.sku, s.variant_id),
    )
    return [stock_level(repo.stock_row(s)) for s in stocks], cursor
