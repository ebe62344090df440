"""Products: vendors manage them, shoppers browse and search them in their language, and only
active products of approved vendors are ever visible."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from factories.catalog import create_category, create_product
from factories.identity import auth_headers, create_user
from factories.vendors import MadeVendor, create_vendor
from marketplace.bootstrap import Container
from marketplace.catalog.models import Category


@pytest.fixture
async def vendor(container: Container) -> MadeVendor:
    return await create_vendor(container)


@pytest.fixture
async def category(container: Container) -> Category:
    return await create_category(container, name="Knitwear", translations={"de": "Strickwaren"})


def product_body(category: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Wool hat",
        "description": "A warm hat of merino wool.",
        "category_id": category,
        "language": "en",
        "translations": {"de": {"title": "Wollmütze", "description": "Eine warme Mütze."}},
        "status": "active",
        "variants": [
            {
                "sku": "HAT-RED",
                "attributes": {"colour": "red"},
                "price": {"amount": 2500, "currency": "EUR"},
                "inventory": {"quantity": 5, "low_stock_threshold": 1},
            },
            {
                "sku": "HAT-BLUE",
                "attributes": {"colour": "blue"},
                "price": {"amount": 2900, "currency": "EUR"},
                "inventory": {"quantity": 0},
            },
        ],
    }
    body.update(overrides)
    return body


async def test_vendor_creates_a_product_shoppers_read_it_in_their_language(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    headers = auth_headers(container, vendor.owner)
    created = await client.post(
        f"/v1/vendors/{vendor.id}/products", json=product_body(category.id), headers=headers
    )
    assert created.status_code == 201
    body = created.json()
    pid = body["id"]
    assert [(v["sku"], v["available"], v["in_stock"]) for v in body["variants"]] == [
        ("HAT-RED", 5, True),
        ("HAT-BLUE", 0, False),
    ]
    assert body["translations"]["de"]["title"] == "Wollmütze"

    english = (await client.get(f"/v1/products/{pid}")).json()
    german = (
        await client.get(f"/v1/products/{pid}", headers={"Accept-Language": "de-AT,en;q=0.5"})
    ).json()
    french = (await client.get(f"/v1/products/{pid}", headers={"Accept-Language": "fr"})).json()

    assert (english["title"], english["language"]) == ("Wool hat", "en")
    assert (german["title"], german["description"], german["language"]) == (
        "Wollmütze",
        "Eine warme Mütze.",
        "de",
    )
    assert french["title"] == "Wool hat"
    assert english["vendor"]["id"] == vendor.id
    assert english["in_stock"] is True
    assert english["rating"] == {"average": None, "count": 0}
    assert english["images"] == []
    assert english["translations"] is None
    assert all(v["available"] is None for v in english["variants"])


async def test_only_active_products_of_approved_vendors_are_visible(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    draft = await create_product(container, vendor, category, status="draft")
    active = await create_product(container, vendor, category, title="Visible scarf")
    admin = await create_user(container, platform_role="admin")

    listed = (await client.get("/v1/products")).json()
    assert [p["id"] for p in listed["data"]] == [active.id]
    assert (await client.get(f"/v1/products/{draft.id}")).status_code == 404

    await client.post(
        f"/v1/admin/vendors/{vendor.id}/suspend",
        json={"reason": "x"},
        headers=auth_headers(container, admin),
    )
    await container.jobs.drain()
    assert (await client.get("/v1/products")).json()["data"] == []
    assert (await client.get(f"/v1/products/{active.id}")).status_code == 404

    await client.post(
        f"/v1/admin/vendors/{vendor.id}/reinstate", headers=auth_headers(container, admin)
    )
    await container.jobs.drain()
    assert [p["id"] for p in (await client.get("/v1/products")).json()["data"]] == [active.id]


async def test_search_matches_titles_descriptions_and_translations(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    hat = await create_product(
        container,
        vendor,
        category,
        title="Merino hat",
        translations={"de": {"title": "Merino Mütze"}},
    )
    await create_product(container, vendor, category, title="Linen towel")

    by_title = (await client.get("/v1/products", params={"q": "merino"})).json()["data"]
    by_german = (await client.get("/v1/products", params={"q": "mütze"})).json()["data"]
    by_prefix = (await client.get("/v1/products", params={"q": "meri"})).json()["data"]
    none = (await client.get("/v1/products", params={"q": "teapot"})).json()["data"]
    localized = (
        await client.get("/v1/products", params={"q": "mütze"}, headers={"Accept-Language": "de"})
    ).json()["data"]

    assert [p["id"] for p in by_title] == [hat.id]
    assert [p["id"] for p in by_german] == [hat.id]
    assert [p["id"] for p in by_prefix] == [hat.id]
    assert none == []
    assert localized[0]["title"] == "Merino Mütze"


async def test_filters_and_sorts(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    child = await create_category(container, name="Hats", parent=category)
    other_category = await create_category(container, name="Kitchen")
    other_vendor = await create_vendor(container)
    cheap = await create_product(container, vendor, child, price=500)
    mid = await create_product(container, vendor, category, price=1500)
    dear = await create_product(container, other_vendor, other_category, price=9000, quantity=0)

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/products", params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["data"]]

    assert await ids(sort="price_asc") == [cheap.id, mid.id, dear.id]
    assert await ids(sort="price_desc") == [dear.id, mid.id, cheap.id]
    assert await ids(sort="newest") == [dear.id, mid.id, cheap.id]
    assert set(await ids(category=category.id)) == {cheap.id, mid.id}  # with subcategories
    assert await ids(category=child.slug) == [cheap.id]
    assert await ids(vendor=other_vendor.id) == [dear.id]
    assert await ids(in_stock="false") == [dear.id]
    assert await ids(min_price=1000, max_price=2000, currency="EUR", sort="price_asc") == [mid.id]
    assert await ids(min_price=1000, currency="USD") == []
    missing_currency = await client.get("/v1/products", params={"min_price": 100})
    assert missing_currency.status_code == 422
    assert missing_currency.json()["errors"][0]["loc"] == ["query", "currency"]


async def test_cursor_pagination_is_complete_for_every_sort(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    made = [
        await create_product(container, vendor, category, title=f"wool item {i}", price=100 + i % 4)
        for i in range(23)
    ]
    for sort in ("newest", "price_asc", "price_desc", "rating", "relevance"):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 5, "sort": sort, "q": "wool"}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/products", params=params)).json()
            seen += [p["id"] for p in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(p.id for p in made), sort
        assert len(seen) == len(set(seen)), sort


async def test_browse_runs_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    session: AsyncSession,
) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = container.db.engine.sync_engine
    await create_product(container, vendor, category)
    event.listen(engine, "before_cursor_execute", count)
    try:
        await client.get("/v1/products")
        few = len(statements)
        for _ in range(12):
            await create_product(container, vendor, category)
        statements.clear()
        await client.get("/v1/products")
        many = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert few == many


async def test_sku_is_unique_per_vendor_and_freed_by_deletion(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    headers = auth_headers(container, vendor.owner)
    first = await client.post(
        f"/v1/vendors/{vendor.id}/products", json=product_body(category.id), headers=headers
    )
    clash = await client.post(
        f"/v1/vendors/{vendor.id}/products", json=product_body(category.id), headers=headers
    )
    other = await create_vendor(container)
    elsewhere = await client.post(
        f"/v1/vendors/{other.id}/products",
        json=product_body(category.id),
        headers=auth_headers(container, other.owner),
    )

    assert first.status_code == 201
    assert clash.status_code == 422
    assert clash.json()["errors"][0] == {
        "loc": ["body", "variants", 0, "sku"],
        "msg": "this SKU is used by another variant",
        "code": "sku_taken",
    }
    assert elsewhere.status_code == 201

    deleted = await client.delete(
        f"/v1/vendors/{vendor.id}/products/{first.json()['id']}", headers=headers
    )
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/products/{first.json()['id']}")).status_code == 404
    again = await client.post(
        f"/v1/vendors/{vendor.id}/products", json=product_body(category.id), headers=headers
    )
    assert again.status_code == 201


@pytest.mark.parametrize(
    ("override", "loc", "code"),
    [
        ({"category_id": "cat_missing"}, ["body", "category_id"], "unknown_category"),
        ({"language": "english"}, ["body", "language"], "invalid_language"),
        (
            {"variants": [{"sku": "A", "price": {"amount": 100, "currency": "USD"}}]},
            ["body", "variants", 0, "price", "currency"],
            "wrong_currency",
        ),
        (
            {"variants": [{"sku": "A", "price": {"amount": 0, "currency": "EUR"}}]},
            ["body", "variants", 0, "price", "amount"],
            "not_positive",
        ),
        (
            {"variants": [{"sku": "A", "price": {"amount": 100, "currency": "EUR"}}] * 2},
            ["body", "variants", 1, "sku"],
            "duplicate_sku",
        ),
    ],
)
async def test_invalid_products_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    override: dict[str, Any],
    loc: list[Any],
    code: str,
) -> None:
    headers = auth_headers(container, vendor.owner)
    response = await client.post(
        f"/v1/vendors/{vendor.id}/products",
        json=product_body(category.id, **override),
        headers=headers,
    )
    listed = await client.get(f"/v1/vendors/{vendor.id}/products", headers=headers)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == loc
    assert response.json()["errors"][0]["code"] == code
    assert listed.json()["data"] == []


async def test_a_pending_vendor_cannot_publish(
    client: httpx.AsyncClient, container: Container, category: Category
) -> None:
    pending = await create_vendor(container, status="pending")

    active = await client.post(
        f"/v1/vendors/{pending.id}/products",
        json=product_body(category.id),
        headers=auth_headers(container, pending.owner),
    )
    draft = await client.post(
        f"/v1/vendors/{pending.id}/products",
        json=product_body(category.id, status="draft"),
        headers=auth_headers(container, pending.owner),
    )

    assert active.status_code == 422
    assert active.json()["errors"][0]["code"] == "vendor_not_approved"
    assert draft.status_code == 201


async def test_category_tree_in_the_callers_language(
    client: httpx.AsyncClient, container: Container, category: Category
) -> None:
    admin = await create_user(container, platform_role="admin")
    child = await client.post(
        "/v1/admin/categories",
        json={
            "name": "Hats",
            "slug": "hats",
            "parent_id": category.id,
            "translations": {"de": "Mützen"},
        },
        headers=auth_headers(container, admin),
    )

    tree = (await client.get("/v1/categories", headers={"Accept-Language": "de"})).json()

    assert child.status_code == 201
    assert child.json()["path"] == [category.id, child.json()["id"]]
    assert [(n["name"], [c["name"] for c in n["children"]]) for n in tree] == [
        ("Strickwaren", ["Mützen"])
    ]


async def test_deleted_products_stock_is_retired_and_renamed_skus_keep_their_stock(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    headers = auth_headers(container, vendor.owner)
    created = (
        await client.post(
            f"/v1/vendors/{vendor.id}/products", json=product_body(category.id), headers=headers
        )
    ).json()
    red = created["variants"][0]

    renamed = await client.patch(
        f"/v1/vendors/{vendor.id}/products/{created['id']}",
        json={
            "variants": [
                {
                    "id": red["id"],
                    "sku": "HAT-CRIMSON",
                    "price": {"amount": 2500, "currency": "EUR"},
                }
            ]
        },
        headers=headers,
    )
    stock = (await client.get(f"/v1/vendors/{vendor.id}/inventory", headers=headers)).json()

    assert renamed.status_code == 200
    assert [v["sku"] for v in renamed.json()["variants"]] == ["HAT-CRIMSON"]
    assert [(row["sku"], row["on_hand"]) for row in stock["data"]] == [("HAT-CRIMSON", 5)]

    await client.delete(f"/v1/vendors/{vendor.id}/products/{created['id']}", headers=headers)
    after = (await client.get(f"/v1/vendors/{vendor.id}/inventory", headers=headers)).json()
    assert after["data"] == []


async def test_list_rows_show_the_first_shown_image_and_unknown_categories_are_refused(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    hat = await create_product(container, vendor, category, title="Wool hat")
    bare = await create_product(container, vendor, category, title="Wool scarf")
    await add_images(container, vendor, hat.id, [("img_b", 1, "ready", None)])
    await add_images(container, vendor, hat.id, [("img_a", 0, "ready", "A red hat")])
    # An upload not confirmed is never shown.
    await add_images(container, vendor, bare.id, [("img_pending", 0, "pending", None)])

    listed = (await client.get("/v1/products", params={"category": category.slug})).json()
    unknown = await client.get("/v1/products", params={"category": "no-such-shelf", "q": "wool"})

    assert {p["id"]: p["image"] for p in listed["data"]} == {
        bare.id: None,
        hat.id: {
            "id": "img_a",
            "url": "/media/img_a.webp",
            "thumbnails": {"200": "/media/img_a-200.webp"},
            "alt_text": "A red hat",
            "position": 0,
        },
    }
    assert unknown.status_code == 422
    assert [(e["loc"], e["code"]) for e in unknown.json()["errors"]] == [
        (["query", "category"], "unknown_category")
    ]


async def add_images(
    container: Container,
    vendor: MadeVendor,
    product_id: str,
    images: list[tuple[str, int, str, str | None]],
) -> None:
    """Image rows as the upload flow leaves them: (id, position, status, alt text)."""
    from marketplace.catalog.models import ProductImage
    from marketplace.platform.clock import utcnow

    now = utcnow()
    async with container.uow_factory() as uow:
        for image_id, position, status, alt in images:
            uow.session.add(
                ProductImage(
                    id=image_id,
                    product_id=product_id,
                    vendor_id=vendor.id,
                    key=f"k/{image_id}",
                    url=f"/media/{image_id}.webp",
                    content_type="image/webp",
                    width=10,
                    height=10,
                    bytes=100,
                    alt_text=alt,
                    position=position,
                    thumbnails={"200": f"k/{image_id}-200"},
                    thumbnail_urls={"200": f"/media/{image_id}-200.webp"},
                    status=status,
                    created_at=now,
                    updated_at=now,
                )
            )
        await uow.commit()


@pytest.mark.parametrize("language", [None, "de-AT,en;q=0.5", "fr"])
async def test_the_product_page_is_the_json_of_its_response_model(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    language: str | None,
) -> None:
    from marketplace.catalog.api.product import _product_read
    from marketplace.catalog.domain.product import accepted_languages
    from marketplace.catalog.models import Product

    body = product_body(category.id)
    body["variants"][0]["attributes"] = {"colour": "red", "size": 58, "weight": 0.25, "wool": True}
    body["variants"][0]["regional_prices"] = {"GBP": 2100}
    created = await client.post(
        f"/v1/vendors/{vendor.id}/products",
        json=body,
        headers=auth_headers(container, vendor.owner),
    )
    pid = created.json()["id"]
    await add_images(
        container, vendor, pid, [("img_2", 2, "processing", None), ("img_1", 1, "ready", "Red")]
    )
    headers = {"Accept-Language": language} if language else {}

    page = await client.get(f"/v1/products/{pid}", headers=headers)
    async with container.uow_factory() as uow:
        product = await uow.session.get(Product, pid)
        assert product is not None
        model = await _product_read(
            uow, product, languages=accepted_languages(language), insider=False
        )

    assert page.status_code == 200
    assert page.content == model.model_dump_json().encode()
    assert [(v["sku"], v["in_stock"]) for v in page.json()["variants"]] == [
        ("HAT-RED", True),
        ("HAT-BLUE", False),
    ]
    assert [i["id"] for i in page.json()["images"]] == ["img_1", "img_2"]


async def test_pages_with_filters_join_up_to_the_whole_list_for_every_sort(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    child = await create_category(container, name="Hats", parent=category)
    elsewhere = await create_category(container, name="Kitchen")
    for i in range(14):
        await create_product(
            container,
            vendor,
            child if i % 2 else category,
            title=f"wool {'hat' if i % 3 else 'scarf'} {i}",
            price=1000 + 100 * (i % 5),
            quantity=0 if i % 4 == 0 else 3,
        )
    await create_product(container, vendor, elsewhere, title="wool pot", price=1200)
    filters = {
        "q": "wool",
        "category": category.slug,
        "currency": "EUR",
        "min_price": 1100,
        "max_price": 1400,
        "in_stock": "true",
    }

    for sort in ("relevance", "price_asc", "price_desc", "newest", "rating"):
        whole = await client.get("/v1/products", params={**filters, "sort": sort, "limit": 100})
        assert whole.status_code == 200, whole.text
        expected = [p["id"] for p in whole.json()["data"]]
        paged: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {**filters, "sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/products", params=params)).json()
            paged += [p["id"] for p in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert paged == expected, sort
        # 1100-1400 EUR, in stock, in the category or below: 8 of the 14
        assert len(expected) == 8, sort
