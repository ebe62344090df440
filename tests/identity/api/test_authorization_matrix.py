"""Who may call what: every operation in the OpenAPI document, for every kind of caller.

Adding a route without an entry here fails `test_every_route_has_an_entry`, so nobody ships
an endpoint whose access rules were never decided. Cross-tenant access is never 2xx.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from factories import matrix_orders, matrix_payouts
from factories.catalog import create_category
from factories.identity import (
    DEFAULT_PASSWORD,
    add_member,
    auth_headers,
    create_api_key,
    create_user,
)
from factories.orders import create_cart
from factories.vendors import application, create_vendor
from marketplace.bootstrap import Container
from marketplace.identity.models import ApiKey, User
from marketplace.inventory import public as inventory

ANON = "anonymous"
CUST_A = "customer A"
CUST_B = "customer B"
V1_STAFF = "vendor-1 staff"
V1_OWNER = "vendor-1 owner"
V2_OWNER = "vendor-2 owner"
V1_KEY = "vendor-1 API key"
ADMIN = "admin"
SUPPORT = "support"
CALLERS = (ANON, CUST_A, CUST_B, V1_STAFF, V1_OWNER, V2_OWNER, V1_KEY, ADMIN, SUPPORT)


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


def people(status: int) -> dict[str, int]:
    """Any signed-in person; API keys are refused personal endpoints."""
    return {**everyone(status), ANON: 401, V1_KEY: 403}


def admin_read(status: int = 200) -> dict[str, int]:
    return {**everyone(403), ANON: 401, ADMIN: status, SUPPORT: status}


def vendor_staff_manage(status: int) -> dict[str, int]:
    """A permission vendor-1's staff and key lack (staff.manage, store.manage): only its
    owner and platform admins."""
    return {
        ANON: 401,
        CUST_A: 404,
        CUST_B: 404,
        V1_STAFF: 403,
        V1_OWNER: status,
        V2_OWNER: 404,
        V1_KEY: 403,
        ADMIN: status,
        SUPPORT: 403,
    }


def vendor_read(status: int) -> dict[str, int]:
    """A read permission staff lack (payouts.read): owner, admin and support."""
    return {**vendor_staff_manage(status), SUPPORT: status}


def admin_write(status: int) -> dict[str, int]:
    return {**everyone(403), ANON: 401, ADMIN: status}


@dataclass
class World:
    container: Container
    users: dict[str, User]
    api_key: str
    existing_key_id: str
    login_email: str
    vendor_1: str
    vendor_2: str
    category_id: str = ""
    product_id: str = ""
    image_id: str = ""
    ready_image_id: str = ""
    import_id: str = ""
    cart_id: str = ""  # customer A's open cart
    cart_variants: tuple[str, ...] = ()
    order_variant: str = ""  # vendor 1's stocked variant for orders
    order_id: str = ""  # customer A's paid order at vendor 1
    vendor_order_id: str = ""
    last_item_id: str = ""

    def customer_a(self) -> str:
        return self.users[CUST_A].id

    def owner_of_vendor_1(self) -> str:
        return self.users[V1_OWNER].id

    async def headers(self, caller: str) -> dict[str, str]:
        if caller == ANON:
            return {}
        if caller == V1_KEY:
            return {"Authorization": f"Bearer {self.api_key}"}
        return auth_headers(self.container, self.users[caller])


Body = Callable[[World, str, httpx.AsyncClient], Awaitable[Any]]


async def no_body(world: World, caller: str, client: httpx.AsyncClient) -> None:
    return None


def fixed(value: Any) -> Body:
    async def body(world: World, caller: str, client: httpx.AsyncClient) -> Any:
        return value

    return body


async def registration(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    slug = caller.replace(" ", "-").lower()
    return {"email": f"new-{slug}@example.com", "password": DEFAULT_PASSWORD, "name": "New"}


async def credentials(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return {"email": world.login_email, "password": DEFAULT_PASSWORD}


async def fresh_refresh_token(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    tokens = await client.post("/v1/auth/token", json=await credentials(world, caller, client))
    return {"refresh_token": tokens.json()["refresh_token"]}


async def role_body(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return {"name": f"role-{caller.replace(' ', '-')}", "permissions": ["orders.read"]}


Target = Callable[[World, str], Awaitable[dict[str, str]]]


async def vendor_1(world: World, caller: str) -> dict[str, str]:
    return {"vid": world.vendor_1, "key_id": world.existing_key_id}


def ids(**values: str) -> Target:
    """Fixed path ids (an unknown one: staff get 404, everybody else is refused first)."""

    async def target(world: World, caller: str) -> dict[str, str]:
        return dict(values)

    return target


def fresh_vendor(status: str) -> Target:
    """A vendor of its own per caller, for decisions that change its status."""

    async def target(world: World, caller: str) -> dict[str, str]:
        made = await create_vendor(world.container, status=status)
        return {"vid": made.id}

    return target


async def fresh_member(world: World, caller: str) -> dict[str, str]:
    member = await create_user(world.container)
    await add_member(world.container, vendor_id=world.vendor_1, user=member, role="staff")
    return {"vid": world.vendor_1, "uid": member.id}


async def vendor_application(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return application()


async def invitee(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    slug = caller.replace(" ", "-").lower()
    return {"email": f"invitee-{slug}@example.com", "role": "staff"}


async def payout_body(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return {
        "type": "bank",
        "holder_name": "Matrix GmbH",
        "country": "DE",
        "iban": "DE89370400440532013000",
        "current_password": DEFAULT_PASSWORD,
    }


COMMISSION = {"type": "percent", "percent_bps": 1000}


async def category(world: World, caller: str) -> dict[str, str]:
    return {"cid": "cat_matrix"}


async def resolve_query(world: World, caller: str) -> dict[str, str]:
    return {"?vendor_id": world.vendor_1}


SETTINGS = {"policies": {"returns": "30 days"}, "shipping_options": [], "return_window_days": 30}

MATRIX_SKU = "MATRIX-SKU"


async def stocked_sku(world: World, caller: str) -> dict[str, str]:
    return {"vid": world.vendor_1, "sku": MATRIX_SKU}


def products_write(status: int) -> dict[str, int]:
    """products.write on vendor 1: its staff has it, its read-only API key does not."""
    return {**vendor_staff_manage(status), V1_STAFF: status}


def products_read(status: int) -> dict[str, int]:
    """products.read on vendor 1: staff, the API key and support too."""
    return {**vendor_staff_manage(status), V1_STAFF: status, V1_KEY: status, SUPPORT: status}


def png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def vendor_product(world: World, caller: str) -> dict[str, str]:
    return {"vid": world.vendor_1, "pid": world.product_id, "image_id": world.image_id}


def fresh_product_of_vendor_1() -> Target:
    async def target(world: World, caller: str) -> dict[str, str]:
        product = await _make_product(world.container, world, f"DEL-{caller.replace(' ', '-')}")
        return {"vid": world.vendor_1, "pid": product}

    return target


async def an_import(world: World, caller: str) -> dict[str, str]:
    return {"vid": world.vendor_1, "import_id": world.import_id}


async def ready_image(world: World, caller: str) -> dict[str, str]:
    return {"vid": world.vendor_1, "pid": world.product_id, "image_id": world.ready_image_id}


async def fresh_image(world: World, caller: str) -> dict[str, str]:
    image = await _make_image(world.container, world)
    return {"vid": world.vendor_1, "pid": world.product_id, "image_id": image}


async def product_create_body(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return {
        "title": "Matrix hat",
        "category_id": world.category_id,
        "status": "active",
        "variants": [
            {"sku": f"NEW-{caller.replace(' ', '-')}", "price": {"amount": 1000, "currency": "EUR"}}
        ],
    }


async def category_body(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return {"name": "New", "slug": f"new-{caller.replace(' ', '-').lower()}"}


def carts_customer_a(status: int) -> dict[str, int]:
    """Customer A's cart: only they reach it; for anyone else it does not exist (404), and
    API keys have no carts (403)."""
    return {**everyone(404), CUST_A: status, V1_KEY: 403}


async def cart_of_a(world: World, caller: str) -> dict[str, str]:
    return {"cart_id": world.cart_id}


async def fresh_line_of_a(world: World, caller: str) -> dict[str, str]:
    """A line in customer A's cart for each caller (adding the same variant again re-creates
    the line customer A removed)."""
    from factories.orders import MadeCart, add_line

    cart = MadeCart(world.cart_id, None)
    customer = world.users[CUST_A].id
    item_id = await add_line(world.container, cart, world.cart_variants[0], customer_id=customer)
    return {"cart_id": world.cart_id, "item_id": item_id}


async def fresh_guest_cart(world: World, caller: str) -> dict[str, str]:
    from factories.orders import create_cart

    guest = await create_cart(world.container)
    return {"cart_id": guest.id, "!X-Cart-Token": str(guest.token)}


async def cart_item_body(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return {"variant_id": world.cart_variants[1], "quantity": 1}


async def sandbox_provider(world: World, caller: str) -> dict[str, str]:
    return {"provider": "sandbox"}


def own_order(status: int) -> dict[str, int]:
    """Customer A's order: A and platform staff see it; to anyone else it does not exist."""
    return {**people(404), CUST_A: status, ADMIN: status, SUPPORT: status}


def customer_a_only(status: int) -> dict[str, int]:
    return {**people(404), CUST_A: status}


def orders_fulfil(status: int) -> dict[str, int]:
    """orders.fulfil on vendor 1: staff has it, the read-only key and support do not."""
    return products_write(status)


async def checkout_key(world: World, caller: str) -> dict[str, str]:
    return {"!Idempotency-Key": f"matrix-{caller}"}


async def checkout_request(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return matrix_orders.checkout_body(world, await matrix_orders.shipping_option(world))


async def order_of_a(world: World, caller: str) -> dict[str, str]:
    return {"oid": world.order_id}


async def fresh_order_of_a(world: World, caller: str) -> dict[str, str]:
    order_id, _ = await matrix_orders.paid_order(world)
    return {"oid": order_id}


async def delivered_order_of_a(world: World, caller: str) -> dict[str, str]:
    order_id, _ = await matrix_orders.paid_order(world, delivered=True)
    return {"oid": order_id}


async def return_body(world: World, caller: str, client: httpx.AsyncClient) -> Any:
    return {"items": [{"order_item_id": world.last_item_id, "quantity": 1}], "reason": "damaged"}


async def vendor_order_of_1(world: World, caller: str) -> dict[str, str]:
    return {"vid": world.vendor_1, "void": world.vendor_order_id}


async def fresh_vendor_order_of_1(world: World, caller: str) -> dict[str, str]:
    _, vendor_order_id = await matrix_orders.paid_order(world)
    return {"vid": world.vendor_1, "void": vendor_order_id}


async def shipped_vendor_order_of_1(world: World, caller: str) -> dict[str, str]:
    """Delivered needs shipped first: ship a fresh one as the owner, then let the caller try."""
    from marketplace.orders.service import fulfilment

    _, vendor_order_id = await matrix_orders.paid_order(world)
    async with world.container.uow_factory() as uow:
        await fulfilment.ship(
            uow,
            vendor_order_id=vendor_order_id,
            vendor_id=world.vendor_1,
            actor=fulfilment.Actor(world.owner_of_vendor_1(), "vendor", "vendor:owner"),
            carrier="dhl",
            tracking_number="1234567891",
        )
        await uow.commit()
    return {"vid": world.vendor_1, "void": vendor_order_id}


async def fresh_manual_shipment_of_1(world: World, caller: str) -> dict[str, str]:
    """A parcel of vendor 1 followed by hand (carrier `other`), shipped as the owner."""
    from marketplace.orders.service import fulfilment

    _, vendor_order_id = await matrix_orders.paid_order(world)
    async with world.container.uow_factory() as uow:
        shipment = await fulfilment.ship(
            uow,
            vendor_order_id=vendor_order_id,
            vendor_id=world.vendor_1,
            actor=fulfilment.Actor(world.owner_of_vendor_1(), "vendor", "vendor:owner"),
            carrier="other",
            tracking_number=f"MATRIX-{caller.replace(' ', '-')}",
        )
        await uow.commit()
    await world.container.jobs.drain()  # shipping follows it
    return {"vid": world.vendor_1, "sid": shipment.id}


async def easypost_carrier(world: World, caller: str) -> dict[str, str]:
    from factories.shipping import enable_carriers

    enable_carriers(world.container)
    return {"carrier": "easypost"}


async def fresh_refund_target(world: World, caller: str) -> dict[str, str]:
    target = await fresh_vendor_order_of_1(world, caller)
    return {**target, "!Idempotency-Key": f"matrix-refund-{caller}"}


async def fresh_return_of_1(world: World, caller: str) -> dict[str, str]:
    return {"vid": world.vendor_1, "rid": await matrix_orders.return_request(world)}


async def notification_of_a(world: World, caller: str) -> dict[str, str]:
    """A fresh in-app entry of customer A's: only A may mark it read, others get 404."""
    from marketplace.notifications.models import Notification
    from marketplace.platform.clock import utcnow
    from marketplace.platform.ids import new_id

    async with world.container.uow_factory() as uow:
        entry = Notification(
            id=new_id("ntf"),
            user_id=world.customer_a(),
            event_id=new_id("msg"),
            kind="order_shipped",
            category="order_updates",
            title="Shipped",
            body="Shipped",
            data={},
            created_at=utcnow(),
            read_at=None,
        )
        uow.session.add(entry)
        await uow.commit()
    return {"notification_id": entry.id}


async def unsubscribe_token_of_a(world: World, caller: str) -> dict[str, str]:
    from marketplace.notifications.channels import runtime_for
    from marketplace.notifications.domain import unsubscribe_token

    async with world.container.uow_factory() as uow:
        secret = runtime_for(uow).unsubscribe_secret
    token = unsubscribe_token(secret, user_id=world.customer_a(), category="order_updates")
    return {"?token": token}


async def dead_delivery(world: World, caller: str) -> dict[str, str]:
    """A fresh dead email delivery per caller (an admin's retry revives it)."""
    from marketplace.notifications.models import Delivery
    from marketplace.platform.clock import utcnow
    from marketplace.platform.ids import new_id

    now = utcnow()
    async with world.container.uow_factory() as uow:
        delivery = Delivery(
            id=new_id("ndl"),
            event_id=new_id("msg"),
            event_name="orders.receipt_issued.v1",
            kind="receipt",
            channel="email",
            recipient=world.customer_a(),
            user_id=world.customer_a(),
            vendor_id=None,
            address="a@example.com",
            language="en",
            subject="Receipt",
            body_text="Receipt",
            body_html=None,
            attachments=[],
            unsubscribe_url=None,
            status="dead",
            attempts=6,
            next_attempt_at=now,
            locked_until=None,
            lock_token=None,
            last_error="SMTPConnectError: down",
            provider_message_id=None,
            response_status=None,
            created_at=now,
            sent_at=None,
            updated_at=now,
        )
        uow.session.add(delivery)
        await uow.commit()
    return {"delivery_id": delivery.id}


async def _new_endpoint(world: World) -> str:
    from marketplace.notifications.channels import runtime_for
    from marketplace.notifications.service import webhooks

    async with world.container.uow_factory() as uow:
        created = await webhooks.create_endpoint(
            uow,
            runtime_for(uow),
            vendor_id=world.vendor_1,
            url="https://erp.example.com/hooks",
            events=["order.placed"],
            actor_id=world.owner_of_vendor_1(),
            actor_role="vendor:owner",
        )
        await uow.commit()
    return created.endpoint.id


_shared_endpoints: dict[str, str] = {}


async def webhook_endpoint_of_1(world: World, caller: str) -> dict[str, str]:
    """One endpoint of vendor 1 for every caller (a vendor has at most 10)."""
    if world.vendor_1 not in _shared_endpoints:
        _shared_endpoints[world.vendor_1] = await _new_endpoint(world)
    return {"vid": world.vendor_1, "endpoint_id": _shared_endpoints[world.vendor_1]}


async def deletable_endpoint_of_1(world: World, caller: str) -> dict[str, str]:
    """Its own endpoint for each caller allowed to delete one; the shared one otherwise."""
    if caller in (V1_OWNER, ADMIN):
        return {"vid": world.vendor_1, "endpoint_id": await _new_endpoint(world)}
    return await webhook_endpoint_of_1(world, caller)


@dataclass
class Entry:
    expected: dict[str, int]
    body: Body = no_body
    target: Target = vendor_1
    files: Callable[[], dict[str, Any]] | None = None


MATRIX: dict[str, Entry] = {
    "GET /healthz": Entry(everyone(200)),
    "GET /readyz": Entry(everyone(200)),
    "GET /metrics": Entry(everyone(200)),
    "POST /v1/auth/register": Entry(everyone(201), registration),
    "POST /v1/auth/token": Entry(everyone(200), credentials),
    "POST /v1/auth/refresh": Entry(everyone(200), fresh_refresh_token),
    "POST /v1/auth/logout": Entry(people(204), fixed({})),
    "GET /v1/me": Entry(people(200)),
    "PATCH /v1/me": Entry(people(200), fixed({"name": "Renamed"})),
    "GET /v1/vendors/{vid}/api-keys": Entry(vendor_staff_manage(200)),
    "POST /v1/vendors/{vid}/api-keys": Entry(
        vendor_staff_manage(201), fixed({"name": "ci", "permissions": ["orders.read"]})
    ),
    "DELETE /v1/vendors/{vid}/api-keys/{key_id}": Entry(vendor_staff_manage(200)),
    "GET /v1/vendors/{vid}/roles": Entry(vendor_staff_manage(200)),
    "POST /v1/vendors/{vid}/roles": Entry(vendor_staff_manage(201), role_body),
    "GET /v1/admin/audit-logs": Entry(admin_read()),
    "GET /v1/admin/audit-logs/verify": Entry(admin_read()),
    "POST /v1/vendors": Entry(people(201), vendor_application),
    "GET /v1/vendors": Entry(everyone(200)),
    "GET /v1/vendors/{vid}": Entry(everyone(200)),
    "PATCH /v1/vendors/{vid}": Entry(vendor_staff_manage(200), fixed({"description": "new"})),
    "PUT /v1/vendors/{vid}/settings": Entry(vendor_staff_manage(200), fixed(SETTINGS)),
    "PUT /v1/vendors/{vid}/payout-account": Entry(
        {**vendor_staff_manage(200), ADMIN: 403}, payout_body
    ),
    "GET /v1/vendors/{vid}/payout-account": Entry(vendor_read(200)),
    "POST /v1/vendors/{vid}/members": Entry(vendor_staff_manage(201), invitee),
    "GET /v1/vendors/{vid}/members": Entry(vendor_staff_manage(200)),
    "DELETE /v1/vendors/{vid}/members/{uid}": Entry(vendor_staff_manage(204), target=fresh_member),
    "GET /v1/admin/vendors": Entry(admin_read()),
    "POST /v1/admin/vendors/{vid}/approve": Entry(admin_write(200), target=fresh_vendor("pending")),
    "POST /v1/admin/vendors/{vid}/reject": Entry(
        admin_write(200), fixed({"reason": "incomplete"}), fresh_vendor("pending")
    ),
    "POST /v1/admin/vendors/{vid}/suspend": Entry(
        admin_write(200), fixed({"reason": "fraud"}), fresh_vendor("approved")
    ),
    "POST /v1/admin/vendors/{vid}/reinstate": Entry(
        admin_write(200), target=fresh_vendor("suspended")
    ),
    "PUT /v1/admin/vendors/{vid}/kyc": Entry(admin_write(200), fixed({"status": "verified"})),
    "GET /v1/categories": Entry(everyone(200)),
    "POST /v1/admin/categories": Entry(admin_write(201), category_body),
    "GET /v1/products": Entry(everyone(200)),
    "GET /v1/products/{pid}": Entry(everyone(200), target=vendor_product),
    "POST /v1/vendors/{vid}/products": Entry(products_write(201), product_create_body),
    "GET /v1/vendors/{vid}/products": Entry(products_read(200)),
    "GET /v1/vendors/{vid}/products/{pid}": Entry(products_read(200), target=vendor_product),
    "PATCH /v1/vendors/{vid}/products/{pid}": Entry(
        products_write(200), fixed({"description": "changed"}), vendor_product
    ),
    "DELETE /v1/vendors/{vid}/products/{pid}": Entry(
        products_write(204), target=fresh_product_of_vendor_1()
    ),
    "POST /v1/vendors/{vid}/products/{pid}/images": Entry(
        products_write(201),
        target=vendor_product,
        files=lambda: {"file": ("a.png", png(), "image/png")},
    ),
    "POST /v1/vendors/{vid}/products/{pid}/images/upload-url": Entry(
        products_write(201), fixed({"content_type": "image/png"}), vendor_product
    ),
    # Passes authorization, then refuses: nothing was uploaded to the presigned link.
    "POST /v1/vendors/{vid}/products/{pid}/images/{image_id}/confirm": Entry(
        products_write(409), target=vendor_product
    ),
    "PATCH /v1/vendors/{vid}/products/{pid}/images/{image_id}": Entry(
        products_write(200), fixed({"alt_text": "a red square"}), ready_image
    ),
    "DELETE /v1/vendors/{vid}/products/{pid}/images/{image_id}": Entry(
        products_write(204), target=fresh_image
    ),
    # Passes authorization, then refuses: the matrix sends JSON, the import wants a file.
    "POST /v1/vendors/{vid}/product-imports": Entry(products_write(422)),
    "GET /v1/vendors/{vid}/product-imports/{import_id}": Entry(
        products_write(200), target=an_import
    ),
    "GET /v1/vendors/{vid}/products/export.csv": Entry(products_read(200)),
    "GET /v1/admin/commission": Entry(admin_read()),
    "GET /v1/admin/commission/resolve": Entry(admin_read(), target=resolve_query),
    "PUT /v1/admin/commission": Entry(admin_write(200), fixed(COMMISSION)),
    "PUT /v1/admin/vendors/{vid}/commission": Entry(admin_write(200), fixed(COMMISSION)),
    "PUT /v1/admin/categories/{cid}/commission": Entry(
        admin_write(200), fixed(COMMISSION), target=category
    ),
    # products.read: vendor-1's staff and its API key have it.
    "GET /v1/vendors/{vid}/inventory": Entry({**vendor_read(200), V1_STAFF: 200, V1_KEY: 200}),
    # inventory.write: staff has it, the key (orders.read, products.read) does not.
    "POST /v1/vendors/{vid}/inventory/{sku}/adjustments": Entry(
        {**vendor_staff_manage(201), V1_STAFF: 201},
        fixed({"delta": 1, "reason": "matrix"}),
        stocked_sku,
    ),
    # Customers get their one open cart (customer A already has one: 200), anonymous callers
    # a guest cart; API keys are not shoppers.
    "POST /v1/carts": Entry({**everyone(201), CUST_A: 200, V1_KEY: 403}),
    "GET /v1/carts/{cart_id}": Entry(carts_customer_a(200), target=cart_of_a),
    "POST /v1/carts/{cart_id}/items": Entry(carts_customer_a(201), cart_item_body, cart_of_a),
    "PATCH /v1/carts/{cart_id}/items/{item_id}": Entry(
        carts_customer_a(200), fixed({"quantity": 2}), fresh_line_of_a
    ),
    "DELETE /v1/carts/{cart_id}/items/{item_id}": Entry(
        carts_customer_a(200), target=fresh_line_of_a
    ),
    # Passes access, then refuses: no coupon exists until the promotions context does.
    "POST /v1/carts/{cart_id}/coupons": Entry(
        carts_customer_a(422), fixed({"code": "MATRIX"}), cart_of_a
    ),
    # Any signed-in person holding a guest cart's token may merge it into their own cart.
    "POST /v1/carts/{cart_id}/merge": Entry(people(200), target=fresh_guest_cart),
    # Gateways authenticate by signature, not by caller: unsigned is 400 for everyone.
    "POST /v1/webhooks/payments/{provider}": Entry(
        everyone(400),
        fixed({"id": "evt_matrix", "type": "payment_intent.succeeded"}),
        sandbox_provider,
    ),
    # payouts.read: owner, admins and support; staff and the key lack it.
    "GET /v1/vendors/{vid}/balance": Entry(vendor_read(200)),
    "GET /v1/vendors/{vid}/ledger": Entry(vendor_read(200)),
    "GET /v1/admin/ledger/trial-balance": Entry(admin_read()),
    "GET /v1/admin/transactions": Entry(admin_read()),
    "GET /v1/admin/chargebacks": Entry(admin_read()),
    "GET /v1/admin/chargebacks/{chargeback_id}": Entry(
        admin_read(404), target=ids(chargeback_id="cbk_missing")
    ),
    "POST /v1/admin/reconciliation-runs": Entry(
        admin_write(202),
        fixed(
            {"provider": "sandbox", "from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}
        ),
    ),
    "GET /v1/admin/reconciliation-runs": Entry(admin_read()),
    "GET /v1/admin/reconciliation-runs/{run_id}": Entry(
        admin_read(404), target=ids(run_id="rec_missing")
    ),
    "GET /v1/vendors/{vid}/payout-schedule": Entry(vendor_read(200)),
    # payouts.manage: the owner and admins (managers, staff, keys and support lack it).
    "PUT /v1/vendors/{vid}/payout-schedule": Entry(
        vendor_staff_manage(200),
        fixed({"interval": "manual", "minimum": {"amount": 0, "currency": "EUR"}}),
    ),
    "GET /v1/vendors/{vid}/payouts": Entry(vendor_read(200)),
    "GET /v1/vendors/{vid}/payouts/{payout_id}": Entry(
        vendor_read(200), target=matrix_payouts.payout_of_vendor_1
    ),
    "POST /v1/vendors/{vid}/payouts": Entry(
        vendor_staff_manage(201),
        fixed({"amount": {"amount": 100, "currency": "EUR"}}),
        matrix_payouts.payout_request,
    ),
    "POST /v1/admin/payouts/run": Entry(admin_write(200), fixed({})),
    "GET /v1/admin/payout-runs": Entry(admin_read()),
    "GET /v1/admin/payout-runs/{run_id}": Entry(admin_read(), target=matrix_payouts.a_run),
    "GET /v1/admin/ledger/negative-balances": Entry(admin_read()),
    "POST /v1/orders": Entry(people(201), checkout_request, checkout_key),
    "GET /v1/orders": Entry(people(200)),
    "GET /v1/orders/{oid}": Entry(own_order(200), target=order_of_a),
    "GET /v1/orders/{oid}/timeline": Entry(own_order(200), target=order_of_a),
    "GET /v1/orders/{oid}/tracking": Entry(own_order(200), target=order_of_a),
    # The receipt PDF: the order's customer and platform staff; nobody else learns it exists.
    "GET /v1/orders/{oid}/receipt": Entry(own_order(200), target=order_of_a),
    # The customer's own cancel and return routes: only customer A (staff use the admin route).
    "POST /v1/orders/{oid}/cancel": Entry(customer_a_only(200), fixed({}), fresh_order_of_a),
    "POST /v1/orders/{oid}/returns": Entry(customer_a_only(201), return_body, delivered_order_of_a),
    "GET /v1/admin/orders/{oid}": Entry(admin_read(), target=order_of_a),
    "POST /v1/admin/orders/{oid}/cancel": Entry(
        admin_write(200), fixed({"reason": "fraud"}), fresh_order_of_a
    ),
    # orders.read: staff, the API key, support; orders.fulfil: staff, not the key or support.
    "GET /v1/vendors/{vid}/orders": Entry(products_read(200)),
    "GET /v1/vendors/{vid}/orders/{void}": Entry(products_read(200), target=vendor_order_of_1),
    "GET /v1/vendors/{vid}/orders/{void}/timeline": Entry(
        products_read(200), target=vendor_order_of_1
    ),
    "GET /v1/vendors/{vid}/orders/{void}/statement": Entry(
        products_read(200), target=vendor_order_of_1
    ),
    "POST /v1/vendors/{vid}/orders/{void}/ship": Entry(
        orders_fulfil(200),
        fixed({"carrier": "dhl", "tracking_number": "1234567892"}),
        fresh_vendor_order_of_1,
    ),
    "POST /v1/vendors/{vid}/orders/{void}/deliver": Entry(
        orders_fulfil(200), target=shipped_vendor_order_of_1
    ),
    "POST /v1/vendors/{vid}/orders/{void}/cancel": Entry(
        orders_fulfil(200), fixed({"reason": "out of stock"}), fresh_vendor_order_of_1
    ),
    # refunds.issue: the owner and admins only.
    "POST /v1/vendors/{vid}/orders/{void}/refunds": Entry(
        vendor_staff_manage(201), fixed({"amount": 100, "reason": "late"}), fresh_refund_target
    ),
    "GET /v1/vendors/{vid}/returns": Entry(products_read(200)),
    "POST /v1/vendors/{vid}/returns/{rid}/approve": Entry(
        vendor_staff_manage(200), fixed({}), fresh_return_of_1
    ),
    "POST /v1/vendors/{vid}/returns/{rid}/reject": Entry(
        orders_fulfil(200), fixed({"note": "used"}), fresh_return_of_1
    ),
    # Carriers authenticate by signature, not by caller: unsigned is 400 for everyone.
    "POST /v1/webhooks/carriers/{carrier}": Entry(
        everyone(400), fixed({"object": "Event", "id": "evt_matrix"}), easypost_carrier
    ),
    "GET /v1/vendors/{vid}/shipments": Entry(products_read(200)),
    "POST /v1/vendors/{vid}/shipments/{sid}/events": Entry(
        orders_fulfil(201), fixed({"status": "in_transit"}), fresh_manual_shipment_of_1
    ),
    "GET /v1/me/notifications": Entry(people(200)),
    "GET /v1/me/notifications/unread-count": Entry(people(200)),
    "POST /v1/me/notifications/read-all": Entry(people(200)),
    "POST /v1/me/notifications/{notification_id}/read": Entry(
        {**people(404), CUST_A: 200}, target=notification_of_a
    ),
    "GET /v1/me/notification-preferences": Entry(people(200)),
    "PUT /v1/me/notification-preferences": Entry(people(200), fixed({"preferences": []})),
    # The signed token is the credential: whoever holds the link may unsubscribe.
    "GET /v1/notifications/unsubscribe": Entry(everyone(200), target=unsubscribe_token_of_a),
    "POST /v1/notifications/unsubscribe": Entry(everyone(200), target=unsubscribe_token_of_a),
    "GET /v1/admin/notifications/deliveries": Entry(admin_read()),
    "POST /v1/admin/notifications/deliveries/{delivery_id}/retry": Entry(
        admin_write(200), target=dead_delivery
    ),
    "POST /v1/vendors/{vid}/webhook-endpoints": Entry(
        vendor_staff_manage(201),
        fixed({"url": "https://erp.example.com/hooks", "events": ["order.placed"]}),
    ),
    "GET /v1/vendors/{vid}/webhook-endpoints": Entry(vendor_staff_manage(200)),
    "DELETE /v1/vendors/{vid}/webhook-endpoints/{endpoint_id}": Entry(
        vendor_staff_manage(204), target=deletable_endpoint_of_1
    ),
    "GET /v1/vendors/{vid}/webhook-endpoints/{endpoint_id}/deliveries": Entry(
        vendor_staff_manage(200), target=webhook_endpoint_of_1
    ),
}


@pytest.fixture
async def world(container: Container) -> World:
    users = {
        name: await create_user(
            container,
            platform_role={ADMIN: "admin", SUPPORT: "support"}.get(name),
        )
        for name in CALLERS
        if name not in {ANON, V1_KEY}
    }
    vendor_one = await create_vendor(container, owner=users[V1_OWNER])
    vendor_two = await create_vendor(container, owner=users[V2_OWNER])
    VENDOR_1, VENDOR_2 = vendor_one.id, vendor_two.id
    await add_member(container, vendor_id=VENDOR_1, user=users[V1_STAFF], role="staff")
    api_key = await create_api_key(
        container, vendor_id=VENDOR_1, permissions=["orders.read", "products.read"]
    )
    await create_api_key(container, vendor_id=VENDOR_1, permissions=["orders.read"], name="old")
    async with container.db.session() as session:
        key_id = await session.scalar(select(ApiKey.id).where(ApiKey.name == "old"))
    assert key_id is not None
    async with container.uow_factory() as uow:
        await inventory.set_stock(
            uow,
            vendor_id=VENDOR_1,
            product_id="prd_matrix",
            variant_id="var_matrix",
            sku=MATRIX_SKU,
            quantity=10,
            low_stock_threshold=0,
            actor_id="test",
        )
        await uow.commit()
    login_user = await create_user(container, email="matrix-login@example.com")
    owner_headers = auth_headers(container, users[V1_OWNER])
    await _set_payout_account(container, VENDOR_1, owner_headers)
    world = World(container, users, api_key, key_id, login_user.email, VENDOR_1, VENDOR_2)
    world.category_id = (await create_category(container)).id
    world.product_id = await _make_product(container, world, "MATRIX-HAT")
    world.image_id = await _make_image(container, world, pending=True)
    world.ready_image_id = await _make_image(container, world)
    world.import_id = await _start_import(container, owner_headers, VENDOR_1)
    world.cart_variants = (
        await _variant_of(container, world.product_id),
        await _variant_of(container, await _make_product(container, world, "MATRIX-CART")),
    )
    world.cart_id = (await create_cart(container, customer_id=users[CUST_A].id)).id
    world.order_variant = await matrix_orders.stocked_variant(
        container, VENDOR_1, users[V1_OWNER].id, world.category_id
    )
    world.order_id, world.vendor_order_id = await matrix_orders.paid_order(world)
    return world


async def _variant_of(container: Container, product_id: str) -> str:
    from marketplace.catalog.models import Variant

    async with container.db.session() as session:
        variant_id = await session.scalar(
            select(Variant.id).where(Variant.product_id == product_id)
        )
    assert variant_id is not None
    return variant_id


async def _start_import(container: Container, headers: dict[str, str], vendor_id: str) -> str:
    from marketplace.app import create_app

    app = create_app(container=container, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    csv = (
        b"sku,title,description,category,price,currency,quantity,"
        b"low_stock_threshold,status,image_urls\n"
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            f"/v1/vendors/{vendor_id}/product-imports",
            files={"file": ("p.csv", csv, "text/csv")},
            params={"dry_run": "true"},
            headers=headers,
        )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _owner_access(world: World) -> Any:
    from marketplace.identity.domain import PERMISSIONS, Principal, VendorAccess

    owner = world.users[V1_OWNER]
    return VendorAccess(
        Principal(kind="user", id=owner.id), world.vendor_1, "owner", frozenset(PERMISSIONS)
    )


async def _make_product(container: Container, world: World, sku: str) -> str:
    from marketplace.catalog.schemas.product import ProductCreate
    from marketplace.catalog.service import product as products

    body = ProductCreate.model_validate(
        {
            "title": "Matrix product",
            "category_id": world.category_id,
            "status": "active",
            "variants": [{"sku": sku, "price": {"amount": 1500, "currency": "EUR"}}],
        }
    )
    async with container.uow_factory() as uow:
        product = await products.create_product(uow, access=_owner_access(world), body=body)
        await uow.commit()
    return product.id


async def _make_image(container: Container, world: World, *, pending: bool = False) -> str:
    from marketplace.catalog.service import images

    async with container.uow_factory() as uow:
        if pending:
            made = await images.presign(
                uow,
                container.storage,
                access=_owner_access(world),
                product_id=world.product_id,
                content_type="image/png",
            )
            image_id = made.image_id
        else:
            image = await images.upload(
                uow,
                container.storage,
                access=_owner_access(world),
                product_id=world.product_id,
                data=png(),
            )
            image_id = image.id
        await uow.commit()
    return image_id


async def _set_payout_account(
    container: Container, vendor_id: str, headers: dict[str, str]
) -> None:
    from marketplace.app import create_app

    app = create_app(container=container, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.put(
            f"/v1/vendors/{vendor_id}/payout-account",
            json=await payout_body(None, V1_OWNER, client),  # type: ignore[arg-type]
            headers=headers,
        )
    assert response.status_code == 200, response.text


def _operations(schema: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


async def test_every_route_has_an_entry(client: httpx.AsyncClient) -> None:
    operations = _operations((await client.get("/openapi.json")).json())

    assert sorted(operations - MATRIX.keys()) == [], "add these routes to the matrix"
    assert sorted(MATRIX.keys() - operations) == [], "these matrix entries match no route"


async def test_authorization_matrix(world: World, client: httpx.AsyncClient) -> None:
    """One world for every operation (building it is the slow part); all mismatches are
    reported together."""
    mismatches: dict[str, dict[str, tuple[int, int]]] = {}
    for operation in sorted(MATRIX):
        got = await _statuses(operation, world, client)
        expected = MATRIX[operation].expected
        wrong = {c: (got[c], expected[c]) for c in CALLERS if got[c] != expected[c]}
        if wrong:
            mismatches[operation] = wrong  # caller: (got, expected)
        template = operation.split(" ", 1)[1]
        if "/vendors/{vid}" in template and expected[ANON] == 401:
            # Cross-tenant: vendor 2's owner never succeeds on vendor 1's non-public resources.
            assert got[V2_OWNER] >= 400, operation

    assert mismatches == {}


async def _statuses(operation: str, world: World, client: httpx.AsyncClient) -> dict[str, int]:
    entry = MATRIX[operation]
    method, template = operation.split(" ", 1)
    got: dict[str, int] = {}
    for caller in CALLERS:
        path, query, extra_headers = template, {}, {}
        for name, value in (await entry.target(world, caller)).items():
            if name.startswith("?"):
                query[name[1:]] = value
            if name.startswith("!"):  # a header the operation needs (a guest cart's token)
                extra_headers[name[1:]] = value
            path = path.replace("{" + name + "}", value)
        body = await entry.body(world, caller, client)
        response = await client.request(
            method,
            path,
            headers={**await world.headers(caller), **extra_headers},
            json=body,
            params=query,
            files=entry.files() if entry.files else None,
        )
        got[caller] = response.status_code
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", operation
    return got
