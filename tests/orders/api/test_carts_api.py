"""Carts over HTTP: customers' and guests' carts, lines and their limits, live prices and
stock per line, merging a guest cart at sign-in, and who may see which cart (nobody else's:
404, never 403)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.catalog import create_category, create_product
from factories.identity import auth_headers, create_api_key, create_user
from factories.orders import add_line, cart_row, create_cart, lines, variant_of
from factories.vendors import MadeVendor, create_vendor
from marketplace.bootstrap import Container
from marketplace.catalog.models import Category, Variant
from marketplace.identity.models import User
from marketplace.inventory import public as inventory
from marketplace.orders.domain.cart import hash_token
from marketplace.orders.models import Cart, CartItem
from marketplace.orders.service import carts
from marketplace.platform.clock import utcnow
from marketplace.platform.ratelimit import RateLimiter


@pytest.fixture
async def vendor(container: Container) -> MadeVendor:
    return await create_vendor(container)


@pytest.fixture
async def category(container: Container) -> Category:
    return await create_category(container)


@pytest.fixture
async def customer(container: Container) -> User:
    return await create_user(container)


@pytest.fixture
def headers(container: Container, customer: User) -> dict[str, str]:
    return auth_headers(container, customer)


async def make_variant(
    container: Container,
    vendor: MadeVendor,
    category: Category,
    *,
    title: str = "Wool hat",
    price: int = 1999,
    currency: str = "EUR",
    quantity: int = 10,
    status: str = "active",
) -> Variant:
    product = await create_product(
        container,
        vendor,
        category,
        title=title,
        price=price,
        currency=currency,
        quantity=quantity,
        status=status,
    )
    return await variant_of(container, product)


async def set_stock(container: Container, variant: Variant, quantity: int) -> None:
    async with container.uow_factory() as uow:
        await inventory.set_stock(
            uow,
            vendor_id=variant.vendor_id,
            product_id=variant.product_id,
            variant_id=variant.id,
            sku=variant.sku,
            quantity=quantity,
            low_stock_threshold=0,
            actor_id="usr_test",
        )
        await uow.commit()


def money(amount: int, currency: str = "EUR") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


async def test_a_customer_has_one_open_cart(
    client: httpx.AsyncClient, headers: dict[str, str], session: AsyncSession
) -> None:
    first = await client.post("/v1/carts", headers=headers)
    again = await client.post("/v1/carts", headers=headers)

    assert first.status_code == 201
    assert again.status_code == 200
    body = first.json()
    assert again.json()["id"] == body["id"]
    assert (body["status"], body["guest"], body["token"], body["items"]) == (
        "open",
        False,
        None,
        [],
    )
    assert (body["totals"], body["vendors"], body["item_count"]) == ([], [], 0)
    assert first.headers["cache-control"] == "no-store"


async def test_a_guest_cart_is_reached_only_with_its_token(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    created = await client.post("/v1/carts")
    body = created.json()
    token = body["token"]
    cart_id = body["id"]

    without = await client.get(f"/v1/carts/{cart_id}")
    wrong = await client.get(f"/v1/carts/{cart_id}", headers={"X-Cart-Token": token + "x"})
    right = await client.get(f"/v1/carts/{cart_id}", headers={"X-Cart-Token": token})

    assert created.status_code == 201
    assert (body["guest"], token.startswith("ct_")) == (True, True)
    assert (without.status_code, without.json()["code"]) == (404, "cart_not_found")
    assert (wrong.status_code, wrong.json()["code"]) == (404, "cart_not_found")
    assert right.status_code == 200
    assert "token" not in right.json()  # shown once, at creation
    stored = await cart_row(session, cart_id)
    assert stored is not None
    assert stored.token_hash == hash_token(token)
    assert stored.customer_id is None
    # Each anonymous POST is a new guest cart.
    assert (await client.post("/v1/carts")).json()["id"] != cart_id


async def test_guest_carts_are_rate_limited_per_client_address(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    session: AsyncSession,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One fixed instant: the 31 requests must not straddle the limiter's aligned window,
    # which on a slow machine they otherwise sometimes do.
    monkeypatch.setattr(
        container.identity,
        "limiter",
        RateLimiter(container.cache, clock=lambda: 1_800_000_010.0),
    )
    allowed = [(await client.post("/v1/carts")).status_code for _ in range(30)]
    refused = await client.post("/v1/carts")
    customer = await client.post("/v1/carts", headers=headers)

    assert allowed == [201] * 30
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert await session.scalar(select(func.count()).select_from(Cart)) == 31
    # Signed-in customers have one cart each and are not limited by it.
    assert customer.status_code == 201


async def test_items_show_live_catalog_and_stock_facts_grouped_by_vendor(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    headers: dict[str, str],
) -> None:
    hat = await make_variant(container, vendor, category, title="Hat", price=1999)
    other_vendor = await create_vendor(container, currency="USD")
    scarf = await make_variant(
        container, other_vendor, category, title="Scarf", price=500, currency="USD", quantity=3
    )
    cart_id = (await client.post("/v1/carts", headers=headers)).json()["id"]

    added = await client.post(
        f"/v1/carts/{cart_id}/items", json={"variant_id": hat.id, "quantity": 2}, headers=headers
    )
    more = await client.post(
        f"/v1/carts/{cart_id}/items", json={"variant_id": hat.id, "quantity": 3}, headers=headers
    )
    by_sku = await client.post(
        f"/v1/carts/{cart_id}/items",
        json={"sku": scarf.sku, "vendor_id": other_vendor.id, "quantity": 4},
        headers=headers,
    )

    assert (added.status_code, more.status_code, by_sku.status_code) == (201, 200, 201)
    body = by_sku.json()
    hat_item, scarf_item = body["items"]
    assert {k: v for k, v in hat_item.items() if k != "id"} == {
        "variant_id": hat.id,
        "product_id": hat.product_id,
        "vendor_id": vendor.id,
        "sku": hat.sku,
        "title": "Hat",
        "quantity": 5,
        "unit_price": money(1999),
        "line_total": money(9995),
        "available": 10,
        "in_stock": True,
        "purchasable": True,
        "problems": [],
    }
    assert (scarf_item["quantity"], scarf_item["line_total"], scarf_item["available"]) == (
        4,
        money(2000, "USD"),
        3,
    )
    assert scarf_item["problems"] == ["insufficient_stock"]
    assert body["totals"] == [money(9995), money(2000, "USD")]
    assert body["item_count"] == 9
    assert [
        (g["vendor_id"], [i["id"] for i in g["items"]], g["totals"]) for g in body["vendors"]
    ] == [
        (vendor.id, [hat_item["id"]], [money(9995)]),
        (other_vendor.id, [scarf_item["id"]], [money(2000, "USD")]),
    ]
    assert (await client.get(f"/v1/carts/{cart_id}", headers=headers)).json() == body


async def test_availability_is_live_and_flips_to_out_of_stock(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    headers: dict[str, str],
) -> None:
    hat = await make_variant(container, vendor, category, quantity=10)
    cart_id = (await client.post("/v1/carts", headers=headers)).json()["id"]
    await client.post(
        f"/v1/carts/{cart_id}/items", json={"variant_id": hat.id, "quantity": 2}, headers=headers
    )

    def facts(response: httpx.Response) -> tuple[Any, ...]:
        item = response.json()["items"][0]
        return item["available"], item["in_stock"], item["problems"]

    before = await client.get(f"/v1/carts/{cart_id}", headers=headers)
    await set_stock(container, hat, 1)
    short = await client.get(f"/v1/carts/{cart_id}", headers=headers)
    await set_stock(container, hat, 0)
    gone = await client.get(f"/v1/carts/{cart_id}", headers=headers)

    assert facts(before) == (10, True, [])
    assert facts(short) == (1, True, ["insufficient_stock"])
    assert facts(gone) == (0, False, ["out_of_stock"])


async def test_a_product_taken_off_sale_shows_as_not_purchasable(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    headers: dict[str, str],
) -> None:
    hat = await make_variant(container, vendor, category)
    cart_id = (await client.post("/v1/carts", headers=headers)).json()["id"]
    await client.post(
        f"/v1/carts/{cart_id}/items", json={"variant_id": hat.id, "quantity": 1}, headers=headers
    )

    archived = await client.patch(
        f"/v1/vendors/{vendor.id}/products/{hat.product_id}",
        json={"status": "archived"},
        headers=auth_headers(container, vendor.owner),
    )
    item = (await client.get(f"/v1/carts/{cart_id}", headers=headers)).json()["items"][0]

    assert archived.status_code == 200
    assert (item["purchasable"], item["problems"]) == (False, ["not_purchasable"])


@pytest.mark.parametrize(
    ("body", "loc", "code"),
    [
        ({"quantity": 1}, ["body", "variant_id"], "required"),
        (
            {"variant_id": "var_x", "sku": "S", "vendor_id": "v", "quantity": 1},
            ["body", "variant_id"],
            "required",
        ),
        ({"sku": "S", "quantity": 1}, ["body", "vendor_id"], "required"),
        ({"variant_id": "var_unknown", "quantity": 1}, ["body", "variant_id"], "variant_not_found"),
        (
            {"sku": "NOPE", "vendor_id": "ven_x", "quantity": 1},
            ["body", "sku"],
            "variant_not_found",
        ),
        ({"variant_id": "var_x", "quantity": 0}, ["body", "quantity"], "greater_than_equal"),
        ({"variant_id": "var_x", "quantity": 100}, ["body", "quantity"], "less_than_equal"),
    ],
)
async def test_bad_items_are_refused_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient,
    container: Container,
    customer: User,
    headers: dict[str, str],
    session: AsyncSession,
    body: dict[str, Any],
    loc: list[str],
    code: str,
) -> None:
    cart = await create_cart(container, customer_id=customer.id)
    before = await cart_row(session, cart.id)
    assert before is not None
    touched = before.updated_at

    response = await client.post(f"/v1/carts/{cart.id}/items", json=body, headers=headers)

    assert response.status_code == 422
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [(loc, code)]
    assert await lines(session, cart.id) == []
    after = await cart_row(session, cart.id)
    assert after is not None
    assert after.updated_at == touched


async def test_a_variant_not_for_sale_cannot_be_added(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    headers: dict[str, str],
    session: AsyncSession,
) -> None:
    draft = await make_variant(container, vendor, category, status="draft")
    cart = await create_cart(container, customer_id=customer.id)

    response = await client.post(
        f"/v1/carts/{cart.id}/items", json={"variant_id": draft.id, "quantity": 1}, headers=headers
    )

    assert response.status_code == 422
    assert response.json()["code"] == "variant_not_purchasable"
    assert response.json()["errors"][0]["loc"] == ["body", "variant_id"]
    assert await lines(session, cart.id) == []


async def test_a_line_holds_at_most_99_units(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    headers: dict[str, str],
    session: AsyncSession,
) -> None:
    hat = await make_variant(container, vendor, category)
    cart = await create_cart(container, customer_id=customer.id)
    item_id = await add_line(container, cart, hat.id, 95, customer_id=customer.id)

    over = await client.post(
        f"/v1/carts/{cart.id}/items", json={"variant_id": hat.id, "quantity": 5}, headers=headers
    )
    patched_over = await client.patch(
        f"/v1/carts/{cart.id}/items/{item_id}", json={"quantity": 100}, headers=headers
    )
    to_max = await client.post(
        f"/v1/carts/{cart.id}/items", json={"variant_id": hat.id, "quantity": 4}, headers=headers
    )

    assert over.status_code == 422
    assert over.json()["code"] == "quantity_limit_exceeded"
    assert over.json()["errors"][0]["loc"] == ["body", "quantity"]
    assert patched_over.status_code == 422
    assert patched_over.json()["errors"][0]["loc"] == ["body", "quantity"]
    assert to_max.status_code == 200
    assert await lines(session, cart.id) == [(hat.id, 99)]


async def test_a_cart_holds_at_most_100_lines(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    headers: dict[str, str],
    session: AsyncSession,
) -> None:
    hat = await make_variant(container, vendor, category)
    cart = await create_cart(container, customer_id=customer.id)
    now = utcnow()
    async with container.uow_factory() as uow:
        await uow.session.execute(
            insert(CartItem),
            [
                {
                    "id": f"cit_{n:03d}",
                    "cart_id": cart.id,
                    "variant_id": f"var_gone_{n:03d}",
                    "quantity": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(100)
            ],
        )
        await uow.commit()

    response = await client.post(
        f"/v1/carts/{cart.id}/items", json={"variant_id": hat.id, "quantity": 1}, headers=headers
    )

    assert response.status_code == 422
    assert response.json()["code"] == "cart_line_limit_exceeded"
    assert response.json()["errors"][0]["loc"] == ["body", "variant_id"]
    assert len(await lines(session, cart.id)) == 100
    assert hat.id not in {v for v, _ in await lines(session, cart.id)}


async def test_change_and_remove_items(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    headers: dict[str, str],
    session: AsyncSession,
) -> None:
    hat = await make_variant(container, vendor, category)
    scarf = await make_variant(container, vendor, category)
    cart = await create_cart(container, customer_id=customer.id)
    hat_item = await add_line(container, cart, hat.id, 1, customer_id=customer.id)
    await add_line(container, cart, scarf.id, 1, customer_id=customer.id)
    other = await create_cart(container)
    foreign_item = await add_line(container, other, hat.id, 1)

    patched = await client.patch(
        f"/v1/carts/{cart.id}/items/{hat_item}", json={"quantity": 7}, headers=headers
    )
    assert patched.status_code == 200
    assert [(i["variant_id"], i["quantity"]) for i in patched.json()["items"]] == [
        (hat.id, 7),
        (scarf.id, 1),
    ]
    removed = await client.delete(f"/v1/carts/{cart.id}/items/{hat_item}", headers=headers)
    assert removed.status_code == 200
    assert [i["variant_id"] for i in removed.json()["items"]] == [scarf.id]

    again = await client.delete(f"/v1/carts/{cart.id}/items/{hat_item}", headers=headers)
    foreign = await client.patch(
        f"/v1/carts/{cart.id}/items/{foreign_item}", json={"quantity": 2}, headers=headers
    )
    assert (again.status_code, again.json()["code"]) == (404, "cart_item_not_found")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "cart_item_not_found")
    assert await lines(session, cart.id) == [(scarf.id, 1)]
    assert await lines(session, other.id) == [(hat.id, 1)]


async def test_nobody_else_sees_or_changes_a_cart(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    session: AsyncSession,
) -> None:
    hat = await make_variant(container, vendor, category)
    cart = await create_cart(container, customer_id=customer.id)
    item_id = await add_line(container, cart, hat.id, 2, customer_id=customer.id)
    guest = await create_cart(container)
    intruder = auth_headers(container, await create_user(container))
    admin = auth_headers(container, await create_user(container, platform_role="admin"))
    api_key = await create_api_key(container, vendor_id=vendor.id, permissions=["orders.read"])
    key = {"Authorization": f"Bearer {api_key}"}
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/carts/{cart.id}", None),
        ("POST", f"/v1/carts/{cart.id}/items", {"variant_id": hat.id, "quantity": 1}),
        ("PATCH", f"/v1/carts/{cart.id}/items/{item_id}", {"quantity": 5}),
        ("DELETE", f"/v1/carts/{cart.id}/items/{item_id}", None),
        ("POST", f"/v1/carts/{cart.id}/coupons", {"code": "SALE"}),
    ]

    statuses = []
    for method, path, body in calls:
        for caller in (intruder, admin, {}, {"X-Cart-Token": str(guest.token)}, key):
            response = await client.request(method, path, json=body, headers=caller)
            statuses.append(response.status_code)

    assert statuses == [404, 404, 404, 404, 403] * len(calls)
    assert await lines(session, cart.id) == [(hat.id, 2)]


async def test_a_guest_changes_their_cart_with_the_token(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    session: AsyncSession,
) -> None:
    hat = await make_variant(container, vendor, category)
    created = (await client.post("/v1/carts")).json()
    token = {"X-Cart-Token": created["token"]}
    path = f"/v1/carts/{created['id']}/items"

    refused = await client.post(path, json={"variant_id": hat.id, "quantity": 1})
    added = await client.post(path, json={"variant_id": hat.id, "quantity": 1}, headers=token)

    assert refused.status_code == 404
    assert added.status_code == 201
    assert await lines(session, created["id"]) == [(hat.id, 1)]


async def test_coupons_are_not_available_yet(
    client: httpx.AsyncClient, container: Container, customer: User, headers: dict[str, str]
) -> None:
    cart = await create_cart(container, customer_id=customer.id)

    response = await client.post(
        f"/v1/carts/{cart.id}/coupons", json={"code": "WELCOME10"}, headers=headers
    )

    assert response.status_code == 422
    assert response.json()["code"] == "coupon_not_found"
    assert [(e["loc"], e["code"]) for e in response.json()["errors"]] == [
        (["body", "code"], "coupon_not_found")
    ]


async def test_a_converted_cart_cannot_change(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    headers: dict[str, str],
    session: AsyncSession,
) -> None:
    hat = await make_variant(container, vendor, category)
    cart = await create_cart(container, customer_id=customer.id)
    item_id = await add_line(container, cart, hat.id, 2, customer_id=customer.id)
    async with container.uow_factory() as uow:
        await carts.mark_converted(uow, cart_id=cart.id, order_id="ord_1")
        await uow.commit()

    responses = [
        await client.post(
            f"/v1/carts/{cart.id}/items",
            json={"variant_id": hat.id, "quantity": 1},
            headers=headers,
        ),
        await client.patch(
            f"/v1/carts/{cart.id}/items/{item_id}", json={"quantity": 5}, headers=headers
        ),
        await client.delete(f"/v1/carts/{cart.id}/items/{item_id}", headers=headers),
        await client.post(f"/v1/carts/{cart.id}/coupons", json={"code": "X"}, headers=headers),
    ]
    read = await client.get(f"/v1/carts/{cart.id}", headers=headers)
    fresh = await client.post("/v1/carts", headers=headers)

    assert [(r.status_code, r.json()["code"]) for r in responses] == [(409, "cart_closed")] * 4
    assert (read.status_code, read.json()["status"], read.json()["order_id"]) == (
        200,
        "converted",
        "ord_1",
    )
    assert await lines(session, cart.id) == [(hat.id, 2)]
    # The customer's next cart is a new one.
    assert fresh.status_code == 201
    assert fresh.json()["id"] != cart.id


async def test_merging_a_guest_cart_sums_lines_into_the_customers_cart(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    headers: dict[str, str],
    session: AsyncSession,
) -> None:
    hat, scarf, gloves = [await make_variant(container, vendor, category) for _ in range(3)]
    mine = await create_cart(container, customer_id=customer.id)
    await add_line(container, mine, scarf.id, 50, customer_id=customer.id)
    await add_line(container, mine, gloves.id, 1, customer_id=customer.id)
    guest = await create_cart(container)
    await add_line(container, guest, hat.id, 2)
    await add_line(container, guest, scarf.id, 60)

    merged = await client.post(
        f"/v1/carts/{guest.id}/merge", headers={**headers, **guest.shopper_headers}
    )
    twice = await client.post(
        f"/v1/carts/{guest.id}/merge", headers={**headers, **guest.shopper_headers}
    )

    assert merged.status_code == 200
    assert merged.json()["id"] == mine.id
    assert [(i["variant_id"], i["quantity"]) for i in merged.json()["items"]] == [
        (scarf.id, 99),
        (gloves.id, 1),
        (hat.id, 2),
    ]
    assert await lines(session, mine.id) == [(scarf.id, 99), (gloves.id, 1), (hat.id, 2)]
    stored = await cart_row(session, guest.id)
    assert stored is not None
    assert (stored.status, stored.merged_into_id) == ("merged", mine.id)
    assert (twice.status_code, twice.json()["code"]) == (409, "cart_closed")
    assert await lines(session, mine.id) == [(scarf.id, 99), (gloves.id, 1), (hat.id, 2)]


async def test_merging_needs_a_signed_in_customer_and_the_guest_token(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    headers: dict[str, str],
    session: AsyncSession,
) -> None:
    hat = await make_variant(container, vendor, category)
    guest = await create_cart(container)
    await add_line(container, guest, hat.id, 3)
    someone = await create_user(container)
    theirs = await create_cart(container, customer_id=someone.id)

    anonymous = await client.post(f"/v1/carts/{guest.id}/merge", headers=guest.shopper_headers)
    no_token = await client.post(f"/v1/carts/{guest.id}/merge", headers=headers)
    customer_cart = await client.post(f"/v1/carts/{theirs.id}/merge", headers=headers)

    assert anonymous.status_code == 401
    assert (no_token.status_code, no_token.json()["code"]) == (404, "cart_not_found")
    assert (customer_cart.status_code, customer_cart.json()["code"]) == (404, "cart_not_found")
    stored = await cart_row(session, guest.id)
    assert stored is not None
    assert stored.status == "open"
    assert await lines(session, guest.id) == [(hat.id, 3)]

    # A customer without a cart gets one made for the merge.
    merged = await client.post(
        f"/v1/carts/{guest.id}/merge", headers={**headers, **guest.shopper_headers}
    )
    assert merged.status_code == 200
    assert [(i["variant_id"], i["quantity"]) for i in merged.json()["items"]] == [(hat.id, 3)]
    assert merged.json()["guest"] is False


async def test_reading_a_cart_runs_the_same_queries_for_1_and_10_items(
    client: httpx.AsyncClient,
    container: Container,
    vendor: MadeVendor,
    category: Category,
    customer: User,
    headers: dict[str, str],
) -> None:
    variants = [await make_variant(container, vendor, category) for _ in range(10)]
    small = await create_cart(container)
    await add_line(container, small, variants[0].id)
    big = await create_cart(container, customer_id=customer.id)
    for variant in variants:
        await add_line(container, big, variant.id, customer_id=customer.id)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        one = await client.get(f"/v1/carts/{small.id}", headers=small.shopper_headers)
        few = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        statements.clear()
        ten = await client.get(f"/v1/carts/{big.id}", headers=headers)
        many = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert (len(one.json()["items"]), len(ten.json()["items"])) == (1, 10)
    # The signed-in read also resolves its caller; the cart itself costs the same either way:
    # its row, its lines, the catalog's variants, the inventory's stock.
    cart_queries = [s for s in many if "orders_cart" in s or "catalog_" in s or "inventory_" in s]
    guest_queries = [s for s in few if "orders_cart" in s or "catalog_" in s or "inventory_" in s]
    assert len(cart_queries) == len(guest_queries) == 4


async def test_an_idempotent_replay_never_hands_a_guest_token_to_another_client(
    make_client: Any,
) -> None:
    async with make_client() as first, make_client() as second:
        mine = await first.post("/v1/carts", headers={"Idempotency-Key": "cart-1"})
        theirs = await second.post("/v1/carts", headers={"Idempotency-Key": "cart-1"})

    assert mine.status_code == 201
    assert theirs.json().get("token") != mine.json()["token"]
