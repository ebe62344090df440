"""Catalog tables (prefix `catalog_`), one module per aggregate."""

from marketplace.catalog.models.category import Category
from marketplace.catalog.models.image import ProductImage
from marketplace.catalog.models.imports import ImportedImage, ProductImport, ProductImportChunk
from marketplace.catalog.models.product import Product, Variant, VendorListing

__all__ = [
    "Category",
    "ImportedImage",
    "Product",
    "ProductImage",
    "ProductImport",
    "ProductImportChunk",
    "Variant",
    "VendorListing",
]
