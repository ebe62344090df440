"""The bodies of the public catalog reads, a browse page and a product page, built from
plain rows with orjson.

The same JSON as their documented response models (`Page[ProductSummary]`, `ProductRead`:
same fields in the same order, datetimes in UTC with "Z"), without a model instance per
product, vendor, price, rating, variant and image: on a page of 20 that was a third of the
request's CPU. Tests hold each to the bytes of its model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from marketplace.catalog.domain.product import localize


def rating(count: int, score: int) -> dict[str, Any]:
    return {"average": round(score / 100, 2) if count else None, "count": count}


def summary(row: Any, languages: Sequence[str]) -> dict[str, Any]:
    """One `ProductSummary` of a browse row (see `repository.browse.SUMMARY_COLUMNS`)."""
    title, language = row.title, row.language
    if languages and row.translations:
        localized = localize(
            default_language=row.language,
            title=row.title,
            description="",
            translations=row.translations,
            wanted=languages,
        )
        title, language = localized.title, localized.language
    image = row.image
    return {
        "id": row.id,
        "title": title,
        "language": language,
        "vendor": {
            "id": row.vendor_id,
            "name": row.vendor_name or "",
            "slug": row.vendor_slug or "",
        },
        "category_id": row.category_id,
        "price": {"amount": row.min_price_amount, "currency": row.currency},
        "price_max": {"amount": row.max_price_amount, "currency": row.currency},
        "in_stock": row.in_stock,
        "rating": rating(row.rating_count, row.rating_score),
        "image": None
        if image is None
        else {
            "id": image["id"],
            "url": image["url"],
            "thumbnails": image["thumbnails"] or {},
            "alt_text": image["alt_text"],
            "position": image["position"],
        },
        "created_at": row.created_at,
    }


def page_body(rows: Iterable[Any], next_cursor: str | None, languages: Sequence[str]) -> bytes:
    data = [summary(row, languages) for row in rows]
    return orjson.dumps({"data": data, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z)


def product_body(row: Any, in_stock: Mapping[str, bool], languages: Sequence[str]) -> bytes:
    """A public `ProductRead` of a `repository.product.product_page` row; `in_stock` holds
    the live stock of the variants that have a stock record (others keep the catalog's)."""
    localized = localize(
        default_language=row.language,
        title=row.title,
        description=row.description,
        translations=row.translations,
        wanted=languages,
    )
    variants = [
        {
            "id": v["id"],
            "sku": v["sku"],
            "attributes": v["attributes"],
            "price": {"amount": v["price_amount"], "currency": v["price_currency"]},
            "regional_prices": v["regional_prices"],
            # SQLite's JSON has no booleans: 0 or 1.
            "in_stock": in_stock.get(v["id"], bool(v["in_stock"])),
            "available": None,
        }
        for v in row.variants
    ]
    body = {
        "id": row.id,
        "title": localized.title,
        "description": localized.description,
        "language": localized.language,
        "status": row.status,
        "vendor": {
            "id": row.vendor_id,
            "name": row.vendor_name or "",
            "slug": row.vendor_slug or "",
        },
        "category_id": row.category_id,
        "variants": variants,
        "images": [
            {
                "id": i["id"],
                "url": i["url"],
                "thumbnails": i["thumbnails"] or {},
                "alt_text": i["alt_text"],
                "position": i["position"],
            }
            for i in row.images
        ],
        "rating": rating(row.rating_count, row.rating_score),
        "in_stock": any(v["in_stock"] for v in variants),
        "translations": None,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)
