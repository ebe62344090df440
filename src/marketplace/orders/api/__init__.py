"""Orders HTTP routes (carts; checkout and orders add their routers here)."""

from fastapi import APIRouter

from marketplace.orders.api.carts import router as carts_router

router = APIRouter()
router.include_router(carts_router)
