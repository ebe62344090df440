"""Catalog HTTP routes."""

from fastapi import APIRouter

from marketplace.catalog.api.category import router as category_router
from marketplace.catalog.api.images import router as images_router
from marketplace.catalog.api.imports import router as imports_router
from marketplace.catalog.api.product import router as product_router

router = APIRouter()
router.include_router(category_router)
# Before the product routes: `/products/export.csv` must not be taken for a product id.
router.include_router(imports_router)
router.include_router(product_router)
router.include_router(images_router)
