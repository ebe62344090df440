"""Bulk CSV import and export: good rows land while bad rows are reported with their row and
column, SKUs upsert, dry runs write nothing, image URLs never reach internal addresses, and
an export (formula cells escaped) imports back unchanged."""

from __future__ import annotations

import dataclasses
import functools
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.catalog import create_category
from factories.identity import auth_headers, create_api_key
from factories.vendors import MadeVendor, create_vendor
from marketplace.app import create_app
from marketplace.bootstrap import Container, ContextSpec
from marketplace.catalog.api import router as catalog_router
from marketplace.catalog.api.imports import router as imports_router
from marketplace.catalog.models import Category, Product, ProductImportChunk, Variant
from marketplace.catalog.service import imports as imports_service
from marketplace.catalog.service.imports import RUN_IMPORT_JOB, register_imports
from marketplace.inventory import public as inventory
from marketplace.platform import fetch as fetch_module
from marketplace.platform.models import OutboxMessage

HEADER = (
    "sku,title,description,category,price,currency,quantity,low_stock_threshold,status,image_urls"
)
PUBLIC_IP = "93.184.215.14"


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    if not container.registry.is_job(RUN_IMPORT_JOB):
        register_imports(container.registry)
    wired = any(
        getattr(route, "path", None) == "/vendors/{vid}/product-imports"
        for route in catalog_router.routes
    )
    if not wired:
        # Until the catalog router includes ours: mounted first, so that
        # /products/export.csv is not taken for a product id by /products/{pid}.
        spec = ContextSpec(name="product-imports", routers=lambda: (imports_router,))
        container = dataclasses.replace(container, contexts=(spec, *container.contexts))
    app = create_app(container=container, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def vendor(container: Container) -> MadeVendor:
    return await create_vendor(container)


@pytest.fixture
async def category(container: Container) -> Category:
    return await create_category(container, name="Knitwear")


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL the import jobs try to fetch; the network itself is never reached."""
    attempted: list[str] = []
    original = fetch_module.fetch

    async def recording(url: str, **kwargs: Any) -> fetch_module.Fetched:
        attempted.append(url)
        return await original(url, transport=httpx.MockTransport(_no_network), **kwargs)

    monkeypatch.setattr(fetch_module, "fetch", recording)
    return attempted


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request to {request.url}")


def csv_file(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


async def upload(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    content: bytes,
    *,
    dry_run: bool = False,
) -> httpx.Response:
    return await client.post(
        f"/v1/vendors/{vendor.id}/product-imports",
        params={"dry_run": "true"} if dry_run else {},
        files={"file": ("products.csv", content, "text/csv")},
        headers=auth_headers(container, vendor.owner),
    )


async def run(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, content: bytes, **kw: Any
) -> dict[str, Any]:
    started = await upload(client, container, vendor, content, **kw)
    assert started.status_code == 202, started.text
    await container.jobs.drain()
    result = await client.get(
        started.headers["Location"], headers=auth_headers(container, vendor.owner)
    )
    assert result.status_code == 200
    body: dict[str, Any] = result.json()
    return body


def progress(body: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "dry_run", "total_rows", "processed_rows", "created", "updated", "failed")
    return {k: body[k] for k in keys}


async def vendor_products(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor
) -> list[dict[str, Any]]:
    headers = auth_headers(container, vendor.owner)
    listed = await client.get(f"/v1/vendors/{vendor.id}/products", headers=headers)
    products = []
    for summary in sorted(listed.json()["data"], key=lambda p: p["id"]):
        product = await client.get(
            f"/v1/vendors/{vendor.id}/products/{summary['id']}", headers=headers
        )
        products.append(product.json())
    return products


def shape(product: dict[str, Any]) -> tuple[Any, ...]:
    return (
        product["title"],
        product["description"],
        product["status"],
        product["category_id"],
        [
            (v["sku"], v["price"]["amount"], v["price"]["currency"], v["available"])
            for v in product["variants"]
        ],
        {lang: t["title"] for lang, t in (product["translations"] or {}).items()},
    )


async def count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --- import --------------------------------------------------------------------------------


async def test_good_rows_land_and_bad_rows_are_reported_by_row_and_column(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    session: AsyncSession,
) -> None:
    content = csv_file(
        f"{HEADER},title:de",
        f"HAT-1,Wool hat,A warm hat.,{category.slug},25.00,EUR,5,1,active,,Wollmütze",
        f"HAT-2,,x,{category.slug},abc,EUR,3,,draft,,",
        "",
        "HAT-3,Scarf,,no-such-category,12.5,EUR,2,,active,,",
        f'HAT-4,"Gloves, ""warm""","two\nlines",{category.id},9.9,eur,0,,,,',
        f"HAT-1,Again,,{category.slug},1.00,EUR,1,,,,",
        f"HAT-5,Socks,,{category.slug},5.00,USD,1,,,,",
    )
    started = await upload(client, container, vendor, content)

    assert started.status_code == 202
    assert started.json() == {"id": started.json()["id"], "status": "queued"}
    location = started.headers["Location"]
    assert location == f"/v1/vendors/{vendor.id}/product-imports/{started.json()['id']}"
    headers = auth_headers(container, vendor.owner)
    queued = (await client.get(location, headers=headers)).json()
    assert progress(queued) == {
        "status": "queued",
        "dry_run": False,
        "total_rows": None,
        "processed_rows": 0,
        "created": 0,
        "updated": 0,
        "failed": 0,
    }

    await container.jobs.drain()
    body = (await client.get(location, headers=headers)).json()

    assert progress(body) == {
        "status": "succeeded",
        "dry_run": False,
        "total_rows": 6,
        "processed_rows": 6,
        "created": 2,
        "updated": 0,
        "failed": 4,
    }
    assert body["errors"] == [
        {"row": 3, "column": "title", "message": "required"},
        {"row": 3, "column": "price", "message": "not a price such as 19.99"},
        {"row": 5, "column": "category", "message": "no such category"},
        {"row": 7, "column": "sku", "message": "this SKU already appears in row 2"},
        {"row": 8, "column": "currency", "message": "prices are in the store's currency, EUR"},
    ]
    assert body["error_count"] == 5
    assert body["filename"] == "products.csv"
    assert body["finished_at"] is not None

    products = await vendor_products(client, container, vendor)
    assert [shape(p) for p in products] == [
        (
            "Wool hat",
            "A warm hat.",
            "active",
            category.id,
            [("HAT-1", 2500, "EUR", 5)],
            {"de": "Wollmütze"},
        ),
        ('Gloves, "warm"', "two\nlines", "draft", category.id, [("HAT-4", 990, "EUR", 0)], {}),
    ]
    # The active product is public and searchable; the draft is not.
    hat, gloves = products
    assert (await client.get(f"/v1/products/{hat['id']}")).json()["in_stock"] is True
    assert (await client.get(f"/v1/products/{gloves['id']}")).status_code == 404
    found = (await client.get("/v1/products", params={"q": "wollmütze"})).json()["data"]
    assert [p["id"] for p in found] == [hat["id"]]
    # The uploaded file is gone once the import is done.
    assert await count(session, ProductImportChunk) == 0


async def test_reimport_updates_by_sku(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    headers = auth_headers(container, vendor.owner)
    made = await client.post(
        f"/v1/vendors/{vendor.id}/products",
        json={
            "title": "Wool hat",
            "description": "Old text",
            "category_id": category.id,
            "status": "draft",
            "translations": {"fr": {"title": "Bonnet"}},
            "variants": [
                {
                    "sku": "HAT-RED",
                    "price": {"amount": 2500, "currency": "EUR"},
                    "inventory": {"quantity": 5, "low_stock_threshold": 3},
                },
                {
                    "sku": "HAT-BLUE",
                    "price": {"amount": 2900, "currency": "EUR"},
                    "inventory": {"quantity": 1},
                },
            ],
        },
        headers=headers,
    )
    assert made.status_code == 201
    other = await create_category(container, name="Hats")

    body = await run(
        client,
        container,
        vendor,
        csv_file(
            f"{HEADER},title:de",
            f"HAT-RED,Merino hat,,{other.slug},19.00,EUR,8,,active,,Mütze",
            f"NEW-1,Scarf,Long,{category.slug},12.00,EUR,2,,,,",
        ),
    )

    assert progress(body) == {
        "status": "succeeded",
        "dry_run": False,
        "total_rows": 2,
        "processed_rows": 2,
        "created": 1,
        "updated": 1,
        "failed": 0,
    }
    assert body["errors"] == []
    updated, created = await vendor_products(client, container, vendor)
    assert updated["id"] == made.json()["id"]
    # Empty description keeps the old one; translations merge; the other variant is untouched.
    assert shape(updated) == (
        "Merino hat",
        "Old text",
        "active",
        other.id,
        [("HAT-RED", 1900, "EUR", 8), ("HAT-BLUE", 2900, "EUR", 1)],
        {"fr": "Bonnet", "de": "Mütze"},
    )
    public = (await client.get(f"/v1/products/{updated['id']}")).json()
    assert public["title"] == "Merino hat"
    summaries = (await client.get("/v1/products", params={"vendor": vendor.id})).json()["data"]
    assert [(p["price"]["amount"], p["price_max"]["amount"]) for p in summaries] == [(1900, 2900)]
    assert shape(created) == (
        "Scarf",
        "Long",
        "draft",
        category.id,
        [("NEW-1", 1200, "EUR", 2)],
        {},
    )
    stock = await client.get(f"/v1/vendors/{vendor.id}/inventory", headers=headers)
    # An empty threshold keeps HAT-RED's 3, and is 0 for a new SKU.
    assert [(s["sku"], s["on_hand"], s["low_stock_threshold"]) for s in stock.json()["data"]] == [
        ("HAT-BLUE", 1, 0),
        ("HAT-RED", 8, 3),
        ("NEW-1", 2, 0),
    ]


async def test_a_row_refused_while_writing_leaves_only_that_row_out(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    session: AsyncSession,
) -> None:
    headers = auth_headers(container, vendor.owner)
    made = {}
    for sku, quantity in (("RES-1", 5), ("FLIP-1", 3)):
        response = await client.post(
            f"/v1/vendors/{vendor.id}/products",
            json={
                "title": f"Product {sku}",
                "category_id": category.id,
                "variants": [
                    {
                        "sku": sku,
                        "price": {"amount": 1000, "currency": "EUR"},
                        "inventory": {"quantity": quantity},
                    }
                ],
            },
            headers=headers,
        )
        made[sku] = response.json()
    reserved_variant = made["RES-1"]["variants"][0]["id"]
    flipped_variant = made["FLIP-1"]["variants"][0]["id"]
    async with container.uow_factory() as uow:
        await inventory.reserve(uow, reference="checkout-1", lines=[(reserved_variant, 3)])
        await uow.commit()

    body = await run(
        client,
        container,
        vendor,
        csv_file(
            HEADER,
            f"FLIP-1,Flip changed,,{category.slug},10.00,EUR,0,,,",
            f"RES-1,Changed,,{category.slug},99.00,EUR,1,,,",
            f"NEW-1,New,,{category.slug},5.00,EUR,2,,,",
        ),
    )

    assert progress(body) == {
        "status": "succeeded",
        "dry_run": False,
        "total_rows": 3,
        "processed_rows": 3,
        "created": 1,
        "updated": 1,
        "failed": 1,
    }
    assert body["errors"] == [
        {
            "row": 3,
            "column": "quantity",
            "message": "3 units are reserved by checkouts; on_hand cannot be 1",
        }
    ]
    reserved, flipped, new = await vendor_products(client, container, vendor)
    # Nothing of the refused row was written: not its title, price or stock (5 on hand, 3 of
    # them reserved).
    assert shape(reserved) == (
        "Product RES-1",
        "",
        "draft",
        category.id,
        [("RES-1", 1000, "EUR", 2)],
        {},
    )
    assert shape(flipped)[0] == "Flip changed"
    assert flipped["variants"][0]["available"] == 0
    assert shape(new)[4] == [("NEW-1", 500, "EUR", 2)]
    # The first, rolled-back attempt at the batch announced nothing: one out-of-stock event.
    events = (
        await session.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.name == "inventory.availability_changed.v1"
            )
        )
    ).all()
    assert [(e["variant_id"], e["in_stock"]) for e in events] == [(flipped_variant, False)]


async def test_a_long_import_runs_in_slices_and_resumes_from_its_checkpoint(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    monkeypatch: pytest.MonkeyPatch,
    session: AsyncSession,
) -> None:
    # Batches of 2 and no time per run: every batch ends its run, which enqueues the next.
    monkeypatch.setattr(imports_service, "BATCH_ROWS", 2)
    monkeypatch.setattr(imports_service, "SLICE_SECONDS", 0.0)

    body = await run(
        client,
        container,
        vendor,
        csv_file(
            HEADER,
            *(f"S-{n},Item {n},,{category.slug},1.00,EUR,{n},,," for n in range(1, 6)),
            f"S-2,Repeat,,{category.slug},1.00,EUR,1,,,",
        ),
    )

    assert progress(body) == {
        "status": "succeeded",
        "dry_run": False,
        "total_rows": 6,
        "processed_rows": 6,
        "created": 5,
        "updated": 0,
        "failed": 1,
    }
    # The repeat is found although its first row was written by an earlier run.
    assert body["errors"] == [
        {"row": 7, "column": "sku", "message": "this SKU already appears in row 3"}
    ]
    runs = await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.name == RUN_IMPORT_JOB)
    )
    assert runs == 3
    assert [shape(p)[4] for p in await vendor_products(client, container, vendor)] == [
        [(f"S-{n}", 100, "EUR", n)] for n in range(1, 6)
    ]


async def test_a_dry_run_counts_and_writes_nothing(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    session: AsyncSession,
) -> None:
    first = await run(
        client,
        container,
        vendor,
        csv_file(HEADER, f"KEEP-1,Kept,,{category.slug},10.00,EUR,4,,active,,"),
    )
    assert first["created"] == 1
    before = await vendor_products(client, container, vendor)
    products_before = await count(session, Product)

    body = await run(
        client,
        container,
        vendor,
        csv_file(
            HEADER,
            f"KEEP-1,Changed,,{category.slug},99.00,EUR,40,,draft,,",
            f"NEW-1,New,,{category.slug},5.00,EUR,1,,,,",
            f"NEW-2,New,,{category.slug},-5,EUR,1,,,,",
        ),
        dry_run=True,
    )

    assert progress(body) == {
        "status": "succeeded",
        "dry_run": True,
        "total_rows": 3,
        "processed_rows": 3,
        "created": 1,
        "updated": 1,
        "failed": 1,
    }
    assert body["errors"] == [{"row": 4, "column": "price", "message": "not a price such as 19.99"}]
    assert await vendor_products(client, container, vendor) == before
    assert await count(session, Product) == products_before
    assert await count(session, ProductImportChunk) == 0


async def test_internal_image_addresses_are_refused_without_a_fetch(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    fetches: list[str],
) -> None:
    body = await run(
        client,
        container,
        vendor,
        csv_file(
            HEADER,
            f"IMG-1,Hat,,{category.slug},10.00,EUR,1,,,"
            "http://127.0.0.1/x.jpg http://169.254.169.254/latest/meta-data",
        ),
    )

    assert progress(body) == {
        "status": "succeeded",
        "dry_run": False,
        "total_rows": 1,
        "processed_rows": 1,
        "created": 0,
        "updated": 0,
        "failed": 1,
    }
    assert body["errors"] == [
        {
            "row": 2,
            "column": "image_urls",
            "message": "http://127.0.0.1/x.jpg: loopback address 127.0.0.1 is not allowed",
        },
        {
            "row": 2,
            "column": "image_urls",
            "message": "http://169.254.169.254/latest/meta-data: "
            "link-local address 169.254.169.254 is not allowed",
        },
    ]
    assert fetches == []
    assert await vendor_products(client, container, vendor) == []


async def test_an_image_host_resolving_to_loopback_is_refused_after_the_row_landed(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    fetches: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return {"images.test": ["127.0.0.1"], "meta.test": ["::ffff:169.254.169.254"]}[host]

    monkeypatch.setattr(fetch_module, "system_resolver", resolve)

    body = await run(
        client,
        container,
        vendor,
        csv_file(
            HEADER,
            f"IMG-1,Hat,,{category.slug},10.00,EUR,1,,,http://images.test/a.jpg|http://meta.test/",
        ),
    )

    assert progress(body)["created"] == 1
    assert body["errors"] == [
        {
            "row": 2,
            "column": "image_urls",
            "message": "http://images.test/a.jpg: images.test resolves to loopback address "
            "127.0.0.1, which is not allowed",
        },
        {
            "row": 2,
            "column": "image_urls",
            "message": "http://meta.test/: meta.test resolves to link-local address "
            "169.254.169.254 (in ::ffff:a9fe:a9fe), which is not allowed",
        },
    ]
    assert fetches == ["http://images.test/a.jpg", "http://meta.test/"]
    [product] = await vendor_products(client, container, vendor)
    assert product["images"] == []


def png(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
    return buffer.getvalue()


async def test_image_urls_are_fetched_into_the_product_once(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[str] = []

    def cdn(request: httpx.Request) -> httpx.Response:
        served.append(request.headers["Host"] + request.url.path)
        colour = "red" if request.url.path == "/red.png" else "blue"
        return httpx.Response(200, content=png(colour), headers={"Content-Type": "image/png"})

    async def resolve(host: str, port: int) -> Sequence[str]:
        return [PUBLIC_IP]

    fetch = functools.partial(
        fetch_module.fetch, transport=httpx.MockTransport(cdn), resolver=resolve
    )
    monkeypatch.setattr(fetch_module, "fetch", fetch)
    content = csv_file(
        HEADER,
        f"IMG-1,Hat,,{category.slug},10.00,EUR,1,,,"
        "https://cdn.example.com/red.png https://cdn.example.com/blue.png",
    )

    first = await run(client, container, vendor, content)
    again = await run(client, container, vendor, content)

    assert (first["created"], first["errors"]) == (1, [])
    assert (again["updated"], again["errors"]) == (1, [])
    assert served == ["cdn.example.com/red.png", "cdn.example.com/blue.png"]
    [product] = await vendor_products(client, container, vendor)
    assert [(i["position"], i["url"].endswith(".png")) for i in product["images"]] == [
        (0, True),
        (1, True),
    ]


async def test_header_problems_are_refused_at_once(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    session: AsyncSession,
) -> None:
    response = await upload(
        client, container, vendor, csv_file("sku,titel,price,currency,quantity", "A,b,1,EUR,1")
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["body", "file", "header", "titel"], "msg": "unknown column", "code": "invalid"},
        {
            "loc": ["body", "file", "header", "title"],
            "msg": "required column is missing",
            "code": "invalid",
        },
        {
            "loc": ["body", "file", "header", "category"],
            "msg": "required column is missing",
            "code": "invalid",
        },
    ]
    empty = await upload(client, container, vendor, b"")
    assert (empty.status_code, empty.json()["errors"][0]["code"]) == (422, "empty_file")
    binary = await upload(client, container, vendor, b"\xff\xfe\x00garbage")
    assert (binary.status_code, binary.json()["errors"][0]["code"]) == (422, "invalid_encoding")
    assert await count(session, ProductImportChunk) == 0


async def test_another_vendors_import_is_not_found(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    started = await upload(
        client, container, vendor, csv_file(HEADER, f"A-1,Hat,,{category.slug},1.00,EUR,1,,,,")
    )
    import_id = started.json()["id"]
    other = await create_vendor(container)
    other_headers = auth_headers(container, other.owner)

    via_other = await client.get(
        f"/v1/vendors/{other.id}/product-imports/{import_id}", headers=other_headers
    )
    via_owner_path = await client.get(
        f"/v1/vendors/{vendor.id}/product-imports/{import_id}", headers=other_headers
    )

    assert (via_other.status_code, via_other.json()["code"]) == (404, "product_import_not_found")
    assert (via_owner_path.status_code, via_owner_path.json()["code"]) == (404, "vendor_not_found")


async def test_export_needs_read_and_import_needs_write(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor
) -> None:
    key = await create_api_key(container, vendor_id=vendor.id, permissions=["products.read"])
    headers = {"Authorization": f"Bearer {key}"}

    exported = await client.get(f"/v1/vendors/{vendor.id}/products/export.csv", headers=headers)
    started = await client.post(
        f"/v1/vendors/{vendor.id}/product-imports",
        files={"file": ("p.csv", csv_file(HEADER), "text/csv")},
        headers=headers,
    )

    assert exported.status_code == 200
    assert started.status_code == 403


# --- export --------------------------------------------------------------------------------


async def test_export_escapes_formula_cells_and_imports_back_unchanged(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    imported = await run(
        client,
        container,
        vendor,
        csv_file(
            f"{HEADER},title:de,description:de",
            f'-DASH,"=HYPERLINK(""http://evil.example"",""x"")",-5% off,{category.slug},'
            "19.99,EUR,7,2,active,,@Mütze,",
            f"PLAIN,Plain hat,Nice,{category.slug},5.00,EUR,0,,draft,,,+49 text",
        ),
    )
    assert (imported["created"], imported["errors"]) == (2, [])
    before = await vendor_products(client, container, vendor)

    response = await client.get(
        f"/v1/vendors/{vendor.id}/products/export.csv",
        headers=auth_headers(container, vendor.owner),
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="products-{vendor.id}.csv"'
    )
    assert response.content.decode("utf-8").split("\r\n") == [
        f"\ufeff{HEADER},title:de,description:de",
        f'\'-DASH,"\'=HYPERLINK(""http://evil.example"",""x"")",\'-5% off,{category.slug},'
        "19.99,EUR,7,2,active,,'@Mütze,",
        f"PLAIN,Plain hat,Nice,{category.slug},5.00,EUR,0,0,draft,,,'+49 text",
        "",
    ]

    again = await run(client, container, vendor, response.content)

    assert progress(again) == {
        "status": "succeeded",
        "dry_run": False,
        "total_rows": 2,
        "processed_rows": 2,
        "created": 0,
        "updated": 2,
        "failed": 0,
    }
    after = await vendor_products(client, container, vendor)
    assert [shape(p) for p in after] == [shape(p) for p in before]
    assert shape(after[0])[0] == '=HYPERLINK("http://evil.example","x")'


async def test_export_of_many_products_streams_every_variant(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    session: AsyncSession,
) -> None:
    rows = [
        f"S-{n:04d},Item {n},,{category.slug},1.{n % 100:02d},EUR,{n},0,draft," for n in range(1203)
    ]
    body = await run(client, container, vendor, csv_file(HEADER, *rows))
    assert (body["created"], body["failed"], body["processed_rows"]) == (1203, 0, 1203)
    assert await count(session, Variant) == 1203

    response = await client.get(
        f"/v1/vendors/{vendor.id}/products/export.csv",
        headers=auth_headers(container, vendor.owner),
    )

    lines = response.content.decode("utf-8").split("\r\n")
    assert len(lines) == 1 + 1203 + 1
    assert sorted(lines[1:-1]) == sorted(rows)
