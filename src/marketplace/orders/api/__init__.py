"""Orders HTTP routes: carts, checkout and the customer's orders, the vendor's side."""

from fastapi import APIRouter

from marketplace.orders.api.carts import router as carts_router
from marketplace.orders.api.documents import router as documents_router
from marketplace.orders.api.orders import router as orders_router
from marketplace.orders.api.vendor_orders import router as vendor_orders_router

router = APIRouter()
router.include_router(carts_router)
router.include_router(orders_router)
router.include_router(vendor_orders_router)
router.include_router(documents_router)
