"""Inventory routes for a vendor's team: the stock list (optionally only low stock) and
manual adjustments. Reservations have no routes: checkout drives them through the facade."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from marketplace.identity.public import VendorAccess, vendor_permission
from marketplace.inventory import service
from marketplace.inventory.domain import SKU_MAX_LENGTH
from marketplace.inventory.schemas import AdjustmentIn, StockRead
from marketplace.inventory.service import StockLevel
from marketplace.platform.http import UoW
from marketplace.platform.pagination import Page, PageQuery

router = APIRouter(tags=["inventory"])

StockReader = Annotated[VendorAccess, Depends(vendor_permission("products.read"))]
StockWriter = Annotated[VendorAccess, Depends(vendor_permission("inventory.write"))]


def _read(level: StockLevel) -> StockRead:
    return StockRead(
        variant_id=level.variant_id,
        product_id=level.product_id,
        sku=level.sku,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
        in_stock=level.in_stock,
        low_stock=level.low_stock,
        low_stock_threshold=level.low_stock_threshold,
        updated_at=level.updated_at,
    )


@router.get("/vendors/{vid}/inventory", summary="The vendor's stock, by sku")
async def list_inventory(
    uow: UoW,
    access: StockReader,
    page: PageQuery,
    low_stock: Annotated[
        bool, Query(description="only variants at or below their low-stock threshold")
    ] = False,
) -> Page[StockRead]:
    levels, cursor = await service.list_stock(
        uow, vendor_id=access.vendor_id, low_stock=low_stock, page=page
    )
    return Page(data=[_read(level) for level in levels], next_cursor=cursor)


# `:path` because catalog skus may contain "/" (which arrives decoded even when sent as %2F).
@router.post(
    "/vendors/{vid}/inventory/{sku:path}/adjustments",
    status_code=201,
    summary="Add or remove units of a sku, with the reason",
    responses={
        404: {"description": "the vendor has no such sku"},
        409: {"description": "on_hand would drop below the units reserved, or below zero"},
    },
)
async def adjust_stock(
    sku: Annotated[str, Path(min_length=1, max_length=SKU_MAX_LENGTH)],
    body: AdjustmentIn,
    uow: UoW,
    access: StockWriter,
) -> StockRead:
    level = await service.adjust_stock(
        uow, access=access, sku=sku, delta=body.delta, reason=body.reason
    )
    return _read(level)
