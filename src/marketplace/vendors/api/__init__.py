"""Vendor HTTP routes: the store, its staff and payout account, admin review, commission."""

from fastapi import APIRouter

from marketplace.vendors.api.commission import router as commission_router
from marketplace.vendors.api.store import router as store_router

router = APIRouter()
router.include_router(store_router)
router.include_router(commission_router)
