"""Product routes: public browse, search and product pages; vendors' product management."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Header, Query, Response
from starlette.types import Scope

from marketplace.catalog.api.bodies import page_body, product_body
from marketplace.catalog.domain.product import Sort, accepted_languages, localize, search_terms
from marketplace.catalog.models import Product, Variant, VendorListing
from marketplace.catalog.repository import category as category_repo
from marketplace.catalog.repository import product as repo
from marketplace.catalog.repository.browse import BrowseFilters, browse_page
from marketplace.catalog.schemas.product import (
    ImageRead,
    ProductCreate,
    ProductPatch,
    ProductRead,
    ProductSummary,
    RatingRead,
    Translation,
    VariantRead,
    VendorRef,
)
from marketplace.catalog.service import product as service
from marketplace.catalog.service.images import images_for
from marketplace.identity.public import VendorAccess, vendor_permission
from marketplace.inventory import public as inventory
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.http import UoW
from marketplace.platform.money import MoneySchema
from marketplace.platform.pagination import Page, PageQuery, SortKey, paginate

router = APIRouter(tags=["products"])

ProductReader = Annotated[VendorAccess, Depends(vendor_permission("products.read"))]
ProductWriter = Annotated[VendorAccess, Depends(vendor_permission("products.write"))]
AcceptLanguage = Annotated[str | None, Header(alias="Accept-Language")]


def _rating(product: Any) -> RatingRead:
    if product.rating_count == 0:
        return RatingRead(average=None, count=0)
    return RatingRead(average=round(product.rating_score / 100, 2), count=product.rating_count)


def _vendor_ref(listing: VendorListing | None, vendor_id: str) -> VendorRef:
    if listing is None:
        return VendorRef(id=vendor_id, name="", slug="")
    return VendorRef(id=vendor_id, name=listing.name, slug=listing.slug)


def _variant(variant: Variant, available: int | None = None) -> VariantRead:
    return VariantRead(
        id=variant.id,
        sku=variant.sku,
        attributes=dict(variant.attributes),
        price=MoneySchema(amount=variant.price_amount, currency=variant.price_currency),
        regional_prices=dict(variant.regional_prices),
        in_stock=variant.in_stock,
        available=available,
    )


async def _product_read(
    uow: UoW, product: Product, *, languages: Sequence[str], insider: bool
) -> ProductRead:
    variants = list(await repo.live_variants(uow.session, [product.id]))
    levels = await inventory.availability(uow, [v.id for v in variants]) if variants else {}
    listing = await repo.listing(uow.session, product.vendor_id)
    localized = localize(
        default_language=product.language,
        title=product.title,
        description=product.description,
        translations=product.translations,
        wanted=languages,
    )
    images = (await images_for(uow.session, [product.id])).get(product.id, [])
    read_variants = []
    for variant in variants:
        level = levels.get(variant.id)
        read = _variant(variant, level.available if (insider and level) else None)
        if level is not None:
            read.in_stock = level.in_stock
        read_variants.append(read)
    return ProductRead(
        id=product.id,
        title=localized.title,
        description=localized.description,
        language=localized.language,
        status=product.status,
        vendor=_vendor_ref(listing, product.vendor_id),
        category_id=product.category_id,
        variants=read_variants,
        images=images,
        rating=_rating(product),
        in_stock=any(v.in_stock for v in read_variants),
        translations=(
            {k: Translation(**v) for k, v in product.translations.items()} if insider else None
        ),
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


async def _summaries(
    uow: UoW, products: Sequence[Product], languages: Sequence[str]
) -> list[ProductSummary]:
    """The vendor's own list rows, with one query per related table, never one per product
    (public browse pages are built from plain rows: `bodies.page_body`)."""
    ids = [p.id for p in products]
    listings = await repo.listings(uow.session, [p.vendor_id for p in products])
    images = await images_for(uow.session, ids)
    summaries = []
    for product in products:
        localized = localize(
            default_language=product.language,
            title=product.title,
            description="",  # not shown in lists
            translations=product.translations,
            wanted=languages,
        )
        first: ImageRead | None = next(iter(images.get(product.id, [])), None)
        summaries.append(
            ProductSummary(
                id=product.id,
                title=localized.title,
                language=localized.language,
                vendor=_vendor_ref(listings.get(product.vendor_id), product.vendor_id),
                category_id=product.category_id,
                price=MoneySchema(amount=product.min_price_amount, currency=product.currency),
                price_max=MoneySchema(amount=product.max_price_amount, currency=product.currency),
                in_stock=product.in_stock,
                rating=_rating(product),
                image=first,
                created_at=product.created_at,
            )
        )
    return summaries


_PRODUCTS = "/v1/products"


def read_key(scope: Scope) -> tuple[str, str] | None:
    """The read-cache key of a public catalog read (browse or a product page), from the raw
    request: `CachedReadsMiddleware` serves and stores these answers around the handlers,
    which only compute them."""
    path: str = scope["path"]
    if path == _PRODUCTS:
        kind = "browse"
    elif path.startswith(_PRODUCTS + "/") and "/" not in path[len(_PRODUCTS) + 1 :]:
        kind = "product"
    else:
        return None
    # As Starlette parses query strings, so both sides agree.
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    language = None
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            language = value.decode("latin-1")
    languages = ",".join(accepted_languages(language))
    return "catalog", f"{kind}:{path}?{urlencode(sorted(query))}|{languages}"


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get("/products", summary="Browse and search products", response_model=Page[ProductSummary])
async def browse_products(
    uow: UoW,
    page: PageQuery,
    accept_language: AcceptLanguage = None,
    q: Annotated[str | None, Query(max_length=200, description="search words")] = None,
    category: Annotated[
        str | None, Query(max_length=80, description="category id or slug, with subcategories")
    ] = None,
    vendor: Annotated[str | None, Query(max_length=40, description="vendor id")] = None,
    min_price: Annotated[int | None, Query(ge=0, description="minor units of `currency`")] = None,
    max_price: Annotated[int | None, Query(ge=0, description="minor units of `currency`")] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    in_stock: Annotated[bool | None, Query()] = None,
    min_rating: Annotated[float | None, Query(ge=0, le=5)] = None,
    sort: Annotated[Sort, Query()] = "relevance",
) -> Response:
    languages = accepted_languages(accept_language)
    if (min_price is not None or max_price is not None) and currency is None:
        raise ValidationFailed.on_field(
            ["query", "currency"], "price filters need the currency they are in", "missing"
        )
    filters = BrowseFilters(
        terms=search_terms(q) if q else [],
        category=category or None,
        vendor_id=vendor,
        currency=currency,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        min_rating=int(min_rating * 100) if min_rating is not None else None,
    )
    rows, cursor = await browse_page(uow.session, filters, sort, page)
    # The category is resolved inside the query; only an empty page can mean it is unknown.
    if category and not rows and await category_repo.path_of(uow.session, category) is None:
        raise ValidationFailed.on_field(
            ["query", "category"], "no such category", "unknown_category"
        )
    return _json(page_body(rows, cursor, languages))


@router.get(
    "/products/{pid}",
    summary="A product page, in the caller's language",
    response_model=ProductRead,
)
async def get_product(
    pid: str,
    uow: UoW,
    accept_language: AcceptLanguage = None,
) -> Response:
    languages = accepted_languages(accept_language)
    row = await repo.product_page(uow.session, pid)
    if row is None:
        raise service.ProductNotFound()
    ids = [v["id"] for v in row.variants]
    levels = await inventory.availability(uow, ids) if ids else {}
    in_stock = {variant_id: level.in_stock for variant_id, level in levels.items()}
    return _json(product_body(row, in_stock, languages))


@router.post("/vendors/{vid}/products", status_code=201, summary="Create a product")
async def create_product(body: ProductCreate, uow: UoW, access: ProductWriter) -> ProductRead:
    product = await service.create_product(uow, access=access, body=body)
    return await _product_read(uow, product, languages=[], insider=True)


@router.get("/vendors/{vid}/products", summary="The vendor's products, any status")
async def list_vendor_products(
    uow: UoW,
    access: ProductReader,
    page: PageQuery,
    status: Annotated[str | None, Query(pattern=r"^(draft|active|archived)$")] = None,
) -> Page[ProductSummary]:
    from sqlalchemy import select

    stmt = select(Product).where(
        Product.vendor_id == access.vendor_id, Product.deleted_at.is_(None)
    )
    if status:
        stmt = stmt.where(Product.status == status)
    rows, cursor = await paginate(
        uow.session,
        stmt,
        keys=[SortKey(Product.created_at, descending=True), SortKey(Product.id, descending=True)],
        params=page,
        cursor_of=lambda p: (p.created_at, p.id),
    )
    return Page(data=await _summaries(uow, rows, []), next_cursor=cursor)


@router.get("/vendors/{vid}/products/{pid}", summary="One of the vendor's products")
async def get_vendor_product(pid: str, uow: UoW, access: ProductReader) -> ProductRead:
    product = await repo.vendor_product(uow.session, access.vendor_id, pid)
    if product is None:
        raise service.ProductNotFound()
    return await _product_read(uow, product, languages=[], insider=True)


@router.patch("/vendors/{vid}/products/{pid}", summary="Change a product and its variants")
async def patch_product(
    pid: str, body: ProductPatch, uow: UoW, access: ProductWriter
) -> ProductRead:
    product = await service.update_product(uow, access=access, product_id=pid, body=body)
    return await _product_read(uow, product, languages=[], insider=True)


@router.delete(
    "/vendors/{vid}/products/{pid}", status_code=204, summary="Delete a product (kept for orders)"
)
async def delete_product(pid: str, uow: UoW, access: ProductWriter) -> Response:
    await service.delete_product(uow, access=access, product_id=pid)
    return Response(status_code=204)
