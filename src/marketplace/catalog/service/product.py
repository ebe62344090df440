"""Product use cases: create, change, delete (soft), and keeping `visible` and `in_stock`
current when vendors or stock change. Stock itself is the inventory context's: variants'
quantities go through its facade in the same unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from marketplace.catalog.domain.product import (
    LANGUAGE_PATTERN,
    is_visible,
    price_range,
    search_document,
)
from marketplace.catalog.models import Product, Variant, VendorListing
from marketplace.catalog.repository import category as category_repo
from marketplace.catalog.repository import product as repo
from marketplace.catalog.schemas.product import ProductCreate, ProductPatch, Translation, VariantIn
from marketplace.compliance.public import record_audit
from marketplace.identity.public import VendorAccess
from marketplace.inventory import public as inventory
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import NotFound, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import UnknownCurrency, currency_exponent
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors


class ProductNotFound(NotFound):
    code = "product_not_found"
    title = "Product not found"


async def vendor_listing(uow: UnitOfWork, vendor_id: str) -> VendorListing:
    """The catalog's copy of whether a vendor may be listed, created on first use."""
    listing = await repo.listing(uow.session, vendor_id)
    if listing is None:
        info = await vendors.vendor_info(uow, vendor_id)
        if info is None:
            raise NotFound("vendor not found", code="vendor_not_found")
        listing = VendorListing(
            vendor_id=vendor_id,
            name=info.name,
            slug=info.slug,
            listable=info.status == "approved",
            updated_at=utcnow(),
        )
        uow.session.add(listing)
    return listing


def _translations(raw: dict[str, Translation]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for lang, translation in raw.items():
        if not LANGUAGE_PATTERN.match(lang):
            raise ValidationFailed.on_field(
                ["body", "translations", lang],
                "not a language tag such as de or pt-BR",
                "invalid_language",
            )
        result[lang] = translation.model_dump(exclude_none=True)
    return result


def _check_language(language: str) -> str:
    if not LANGUAGE_PATTERN.match(language):
        raise ValidationFailed.on_field(
            ["body", "language"], "not a language tag such as en or pt-BR", "invalid_language"
        )
    return language


async def _category_path(uow: UnitOfWork, category_id: str) -> str:
    category = await category_repo.category(uow.session, category_id)
    if category is None:
        raise ValidationFailed.on_field(
            ["body", "category_id"], "no such category", "unknown_category"
        )
    return category.path


def _check_variants(variants: Sequence[VariantIn], currency: str) -> None:
    skus: set[str] = set()
    for index, variant in enumerate(variants):
        loc: list[str | int] = ["body", "variants", index]
        if variant.sku in skus:
            raise ValidationFailed.on_field(
                [*loc, "sku"], "duplicate SKU in this product", "duplicate_sku"
            )
        skus.add(variant.sku)
        if variant.price.currency != currency:
            raise ValidationFailed.on_field(
                [*loc, "price", "currency"],
                f"prices are in the store's currency, {currency}",
                "wrong_currency",
            )
        if variant.price.amount <= 0:
            raise ValidationFailed.on_field(
                [*loc, "price", "amount"], "must be positive", "not_positive"
            )
        for code, amount in variant.regional_prices.items():
            try:
                currency_exponent(code)
            except UnknownCurrency:
                raise ValidationFailed.on_field(
                    [*loc, "regional_prices", code], "not an ISO 4217 currency", "invalid_currency"
                ) from None
            if amount <= 0:
                raise ValidationFailed.on_field(
                    [*loc, "regional_prices", code], "must be positive", "not_positive"
                )


async def _sync_variants(
    uow: UnitOfWork,
    access: VendorAccess,
    product: Product,
    wanted: Sequence[VariantIn],
    existing: Sequence[Variant],
) -> list[Variant]:
    """Upsert variants by id (or by SKU), delete the ones no longer listed (soft)."""
    now = utcnow()
    by_id = {v.id: v for v in existing}
    by_sku = {v.sku: v for v in existing}
    kept: list[Variant] = []
    for index, spec in enumerate(wanted):
        row = by_id.get(spec.id) if spec.id else by_sku.get(spec.sku)
        if spec.id and row is None:
            raise ValidationFailed.on_field(
                ["body", "variants", index, "id"],
                "no such variant of this product",
                "unknown_variant",
            )
        owner = await repo.sku_owner(uow.session, access.vendor_id, spec.sku)
        if owner is not None and (row is None or owner.id != row.id):
            raise ValidationFailed.on_field(
                ["body", "variants", index, "sku"],
                "this SKU is used by another variant",
                "sku_taken",
            )
        renamed_from = row.sku if row is not None and row.sku != spec.sku else None
        if row is None:
            row = Variant(
                id=new_id("var"),
                product_id=product.id,
                vendor_id=access.vendor_id,
                created_at=now,
                in_stock=False,
            )
            uow.session.add(row)
        row.sku = spec.sku
        row.attributes = dict(spec.attributes)
        row.price_amount = spec.price.amount
        row.price_currency = spec.price.currency
        row.regional_prices = dict(spec.regional_prices)
        row.position = index
        row.deleted_at = None
        kept.append(row)
        if spec.inventory is not None:
            level = await inventory.set_stock(
                uow,
                vendor_id=access.vendor_id,
                product_id=product.id,
                variant_id=row.id,
                sku=row.sku,
                quantity=spec.inventory.quantity,
                low_stock_threshold=spec.inventory.low_stock_threshold,
                actor_id=access.principal.id,
            )
            row.in_stock = level.in_stock
        elif renamed_from is not None:
            # Inventory keys stock by SKU too: carry the current level over to the new SKU.
            current = (await inventory.availability(uow, [row.id])).get(row.id)
            if current is not None:
                await inventory.set_stock(
                    uow,
                    vendor_id=access.vendor_id,
                    product_id=product.id,
                    variant_id=row.id,
                    sku=row.sku,
                    quantity=current.on_hand,
                    low_stock_threshold=current.low_stock_threshold,
                    actor_id=access.principal.id,
                    reason=f"sku renamed from {renamed_from}",
                )
    kept_ids = {v.id for v in kept}
    removed = [old.id for old in existing if old.id not in kept_ids]
    for old in existing:
        if old.id not in kept_ids:
            old.deleted_at = now
    if removed:
        # A removed variant can no longer be sold, and its SKU is free for reuse.
        await inventory.retire_stock(uow, variant_ids=removed)
    return kept


def _refresh(product: Product, variants: Sequence[Variant], listing: VendorListing) -> None:
    product.min_price_amount, product.max_price_amount = price_range(
        v.price_amount for v in variants
    )
    product.in_stock = any(v.in_stock for v in variants)
    product.visible = is_visible(product.status, product.deleted_at is not None, listing.listable)
    product.search_document = search_document(
        product.title, product.description, product.translations, [v.sku for v in variants]
    )


async def create_product(uow: UnitOfWork, *, access: VendorAccess, body: ProductCreate) -> Product:
    info = await vendors.vendor_info(uow, access.vendor_id)
    if info is None:
        raise NotFound("vendor not found", code="vendor_not_found")
    if body.status == "active" and info.status != "approved":
        raise ValidationFailed.on_field(
            ["body", "status"],
            "only an approved vendor can publish products",
            "vendor_not_approved",
        )
    listing = await vendor_listing(uow, access.vendor_id)
    language = _check_language(body.language)
    translations = _translations(body.translations)
    path = await _category_path(uow, body.category_id)
    _check_variants(body.variants, info.default_currency)
    now = utcnow()
    product = Product(
        id=new_id("prd"),
        vendor_id=access.vendor_id,
        category_id=body.category_id,
        category_path=path,
        status=body.status,
        language=language,
        title=body.title.strip(),
        description=body.description,
        translations=translations,
        currency=info.default_currency,
        rating_count=0,
        rating_score=0,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(product)
    variants = await _sync_variants(uow, access, product, body.variants, [])
    _refresh(product, variants, listing)
    await uow.session.flush()
    await repo.reindex(uow.session, uow.dialect, product)
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="product.created",
        resource_type="product",
        resource_id=product.id,
        after={"title": product.title, "status": product.status, "skus": [v.sku for v in variants]},
    )
    return product


async def update_product(
    uow: UnitOfWork, *, access: VendorAccess, product_id: str, body: ProductPatch
) -> Product:
    product = await repo.vendor_product(uow.session, access.vendor_id, product_id)
    if product is None:
        raise ProductNotFound()
    fields = body.model_fields_set
    before = {"title": product.title, "status": product.status, "category_id": product.category_id}
    if "status" in fields and body.status == "active" and product.status != "active":
        info = await vendors.vendor_info(uow, access.vendor_id)
        if info is None or info.status != "approved":
            raise ValidationFailed.on_field(
                ["body", "status"],
                "only an approved vendor can publish products",
                "vendor_not_approved",
            )
    if body.title is not None:
        product.title = body.title.strip()
    if body.description is not None:
        product.description = body.description
    if body.language is not None:
        product.language = _check_language(body.language)
    if body.translations is not None:
        product.translations = _translations(body.translations)
    if body.category_id is not None:
        product.category_path = await _category_path(uow, body.category_id)
        product.category_id = body.category_id
    if body.status is not None:
        product.status = body.status
    existing = list(await repo.live_variants(uow.session, [product.id]))
    if body.variants is not None:
        _check_variants(body.variants, product.currency)
        variants = await _sync_variants(uow, access, product, body.variants, existing)
    else:
        variants = existing
    listing = await vendor_listing(uow, access.vendor_id)
    product.updated_at = utcnow()
    _refresh(product, variants, listing)
    await uow.session.flush()
    await repo.reindex(uow.session, uow.dialect, product)
    after = {"title": product.title, "status": product.status, "category_id": product.category_id}
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="product.updated",
        resource_type="product",
        resource_id=product.id,
        before=before,
        after=after,
    )
    return product


async def delete_product(uow: UnitOfWork, *, access: VendorAccess, product_id: str) -> None:
    product = await repo.vendor_product(uow.session, access.vendor_id, product_id)
    if product is None:
        raise ProductNotFound()
    now = utcnow()
    product.deleted_at = now
    product.visible = False
    product.updated_at = now
    # Variants stay (orders refer to them) but free their SKUs for reuse.
    variants = list(await repo.live_variants(uow.session, [product.id]))
    for variant in variants:
        variant.deleted_at = now
    if variants:
        await inventory.retire_stock(uow, variant_ids=[v.id for v in variants])
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="product.deleted",
        resource_type="product",
        resource_id=product.id,
        before={"title": product.title, "status": product.status},
    )


async def set_vendor_listable(
    uow: UnitOfWork, *, vendor_id: str, listable: bool, name: str | None = None
) -> None:
    listing = await repo.listing(uow.session, vendor_id)
    if listing is None:
        info = await vendors.vendor_info(uow, vendor_id)
        if info is None:
            return
        listing = VendorListing(
            vendor_id=vendor_id,
            name=info.name,
            slug=info.slug,
            listable=listable,
            updated_at=utcnow(),
        )
        uow.session.add(listing)
    listing.listable = listable
    if name:
        listing.name = name
    listing.updated_at = utcnow()
    await uow.session.flush()
    await repo.set_vendor_visibility(uow.session, vendor_id, listable)


async def set_variant_stock(uow: UnitOfWork, *, variant_id: str, in_stock: bool) -> None:
    variant = await repo.variant(uow.session, variant_id)
    if variant is None:
        return
    variant.in_stock = in_stock
    await uow.session.flush()
    await repo.refresh_product_stock(uow.session, variant.product_id)


async def refresh_vendor_name(uow: UnitOfWork, *, vendor_id: str) -> None:
    listing = await repo.listing(uow.session, vendor_id)
    info = await vendors.vendor_info(uow, vendor_id)
    if listing is not None and info is not None:
        listing.name = info.name
        listing.updated_at = utcnow()
