"""Public catalog reads served from the read cache: a repeated read runs no SQL, and every
kind of committed catalog write (a vendor's edit, a stock change reaching the catalog, a
vendor's suspension) is visible on the very next read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

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
    return await create_category(container, name="Knitwear")


@contextmanager
def counted(container: Container) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_a_repeated_read_is_served_without_sql(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    product = await create_product(container, vendor, category, title="Merino hat")
    paths = ["/v1/products?q=merino", f"/v1/products/{product.id}"]
    first = [await client.get(path) for path in paths]

    with counted(container) as statements:
        again = [await client.get(path) for path in paths]
        served_from_cache = len(statements)
        german = await client.get(f"/v1/products/{product.id}", headers={"Accept-Language": "de"})

    assert [r.status_code for r in again] == [200, 200]
    assert [r.content for r in again] == [r.content for r in first]
    assert again[0].headers["content-type"] == "application/json"
    assert [p["id"] for p in again[0].json()["data"]] == [product.id]
    # Another language is another body: only that read went to the database.
    assert served_from_cache == 0
    assert german.status_code == 200
    assert len(statements) > 0


async def test_a_vendors_edit_is_visible_on_the_next_read(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    product = await create_product(container, vendor, category, title="Merino hat")
    assert (await client.get(f"/v1/products/{product.id}")).json()["title"] == "Merino hat"
    assert [p["title"] for p in (await client.get("/v1/products")).json()["data"]] == ["Merino hat"]

    patched = await client.patch(
        f"/v1/vendors/{vendor.id}/products/{product.id}",
        json={"title": "Alpaca hat"},
        headers=auth_headers(container, vendor.owner),
    )

    assert patched.status_code == 200
    assert (await client.get(f"/v1/products/{product.id}")).json()["title"] == "Alpaca hat"
    assert [p["title"] for p in (await client.get("/v1/products")).json()["data"]] == ["Alpaca hat"]


async def test_selling_out_and_suspension_reach_cached_reads(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    product = await create_product(container, vendor, category, quantity=2)
    sku = (await client.get(f"/v1/products/{product.id}")).json()["variants"][0]["sku"]
    assert (await client.get("/v1/products?in_stock=true")).json()["data"] != []

    adjusted = await client.post(
        f"/v1/vendors/{vendor.id}/inventory/{sku}/adjustments",
        json={"delta": -2, "reason": "damaged"},
        headers=auth_headers(container, vendor.owner),
    )
    assert adjusted.status_code in (200, 201), adjusted.text
    await container.jobs.drain()  # the catalog hears the variant is out of stock

    page = (await client.get(f"/v1/products/{product.id}")).json()
    assert (page["in_stock"], page["variants"][0]["in_stock"]) == (False, False)
    assert (await client.get("/v1/products?in_stock=true")).json()["data"] == []

    admin = await create_user(container, platform_role="admin")
    await client.post(
        f"/v1/admin/vendors/{vendor.id}/suspend",
        json={"reason": "x"},
        headers=auth_headers(container, admin),
    )
    await container.jobs.drain()
    assert (await client.get(f"/v1/products/{product.id}")).status_code == 404
    assert (await client.get("/v1/products")).json()["data"] == []


async def test_turned_off_every_read_goes_to_the_database(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    product = await create_product(container, vendor, category)
    container.read_cache.enabled = False
    await client.get(f"/v1/products/{product.id}")

    with counted(container) as statements:
        again = await client.get(f"/v1/products/{product.id}")

    assert again.status_code == 200
    assert len(statements) >= 1


async def test_a_hit_is_answered_before_routing(
    container: Container, vendor: MadeVendor, category: Category
) -> None:
    from marketplace.app import create_app
    from marketplace.platform.http import get_uow

    product = await create_product(container, vendor, category, title="Merino hat")
    app = create_app(container=container, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        path = f"/v1/products/{product.id}"
        first = await client.get(path, params={"b": "2", "a": "1"})

        def routed() -> None:
            raise AssertionError("a cached read reached the route")

        app.dependency_overrides[get_uow] = routed
        # The same query in another order is the same read.
        hit = await client.get(path, params={"a": "1", "b": "2"})
        with pytest.raises(AssertionError, match="reached the route"):
            await client.get(path, headers={"Accept-Language": "fr"})

    assert (first.status_code, hit.status_code) == (200, 200)
    assert hit.content == first.content
    assert hit.headers["content-type"] == "application/json"


async def test_concurrent_misses_of_one_read_query_the_database_once(
    client: httpx.AsyncClient, container: Container, vendor: MadeVendor, category: Category
) -> None:
    product = await create_product(container, vendor, category, title="Merino hat")
    with counted(container) as one_miss:
        alone = await client.get("/v1/products", params={"q": "merino"})

    with counted(container) as statements:
        together = await asyncio.gather(
            *(client.get("/v1/products", params={"q": "hat"}) for _ in range(8))
        )

    assert alone.status_code == 200
    assert [r.status_code for r in together] == [200] * 8
    assert {r.content for r in together} == {together[0].content}
    assert [p["id"] for p in together[0].json()["data"]] == [product.id]
    assert len(one_miss) > 0
    assert len(statements) == len(one_miss)


async def test_past_its_ttl_a_page_is_served_stale_once_then_refreshed(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    product = await create_product(container, vendor, category, quantity=2)
    path = f"/v1/products/{product.id}"
    first = (await client.get(path)).json()
    # Stock sold out in the inventory: the page reads it live, but until the catalog hears
    # of it (the job is not run here) no catalog table changed, so the body stays current.
    adjusted = await client.post(
        f"/v1/vendors/{vendor.id}/inventory/{first['variants'][0]['sku']}/adjustments",
        json={"delta": -2, "reason": "damaged"},
        headers=auth_headers(container, vendor.owner),
    )
    assert adjusted.status_code in (200, 201), adjusted.text
    assert (await client.get(path)).json()["in_stock"] is True  # fresh: the cached body

    later = time.time() + 61  # past the 60 s TTL, within the stale window
    monkeypatch.setattr(container.read_cache, "_clock", lambda: later)
    with counted(container) as statements:
        stale = (await client.get(path)).json()
        await container.read_cache.drain()
        refreshed = len(statements)
    again = (await client.get(path)).json()

    assert first["in_stock"] is True
    assert stale["in_stock"] is True  # answered at once from the old body
    assert refreshed > 0  # one background request read the page again
    assert again["in_stock"] is False
    assert again["variants"][0]["in_stock"] is False
