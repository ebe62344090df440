"""Cart use cases: create, read with live data, change lines, merge a guest cart into a
customer's, hand lines to checkout and close the cart, purge stale carts.

Who may use a cart: its customer, or for a guest cart whoever holds its token. Anyone else
gets 404, as if it did not exist. Every change first takes the cart's lock with a conditional
UPDATE that also proves it is still open (409 `cart_closed` otherwise), so the line limits
checked afterwards hold until commit. Nothing here commits: the boundary does.

Reads are assembled with one query per related context for the whole cart (catalog variants,
inventory stock), never one per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from marketplace.catalog import public as catalog
from marketplace.inventory import public as inventory
from marketplace.orders.domain import cart as rules
from marketplace.orders.errors import (
    CartClosed,
    CartEmpty,
    CartItemNotFound,
    CartLineLimitExceeded,
    CartNotFound,
    CouponNotFound,
    QuantityLimitExceeded,
    VariantNotFound,
    VariantNotPurchasable,
)
from marketplace.orders.models import Cart, CartItem
from marketplace.orders.repository import cart as repo
from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.money import Money
from marketplace.platform.uow import UnitOfWork

PURGE_BATCH = 500


@dataclass(frozen=True, slots=True)
class Shopper:
    """Who is calling: a signed-in customer, and/or the guest token they sent."""

    customer_id: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class CartLine:
    item_id: str
    variant_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ItemView:
    id: str
    variant_id: str
    quantity: int
    product_id: str | None
    vendor_id: str | None
    sku: str | None
    title: str | None
    unit_price: Money | None
    line_total: Money | None
    available: int
    in_stock: bool
    purchasable: bool
    problems: list[str]


@dataclass(frozen=True, slots=True)
class VendorGroup:
    vendor_id: str | None
    items: list[ItemView]
    totals: list[Money]


@dataclass(frozen=True, slots=True)
class CartView:
    id: str
    status: str
    guest: bool
    created_at: datetime
    updated_at: datetime
    items: list[ItemView]
    vendors: list[VendorGroup]
    totals: list[Money]
    item_count: int
    order_id: str | None = None
    merged_into_id: str | None = None
    token: str | None = field(default=None, repr=False)  # only when a guest cart was created


# --- access --------------------------------------------------------------------------------


def _may_use(cart: Cart, shopper: Shopper) -> bool:
    if cart.customer_id is not None:
        return cart.customer_id == shopper.customer_id
    return rules.token_matches(shopper.token, cart.token_hash)


async def _visible_cart(uow: UnitOfWork, cart_id: str, shopper: Shopper) -> Cart:
    cart = await repo.cart(uow.session, cart_id)
    if cart is None or not _may_use(cart, shopper):
        raise CartNotFound(cart_id)
    return cart


async def _lock_open(uow: UnitOfWork, cart: Cart, now: datetime) -> None:
    if not await repo.touch_open(uow.session, cart.id, now):
        current = await repo.cart(uow.session, cart.id)
        if current is None:  # purged between the read and the lock
            raise CartNotFound(cart.id)
        raise CartClosed(cart.id, current.status)


async def _changeable_cart(uow: UnitOfWork, cart_id: str, shopper: Shopper) -> Cart:
    """The caller's cart, open and locked, as it is now that the lock is held."""
    cart = await _visible_cart(uow, cart_id, shopper)
    await _lock_open(uow, cart, utcnow())
    locked = await repo.cart(uow.session, cart.id)
    assert locked is not None  # the lock keeps it
    return locked


# --- reads ---------------------------------------------------------------------------------


async def cart_view(uow: UnitOfWork, cart: Cart, *, token: str | None = None) -> CartView:
    """The cart with live catalog and stock facts per line: one query for the lines, one to
    the catalog and one to inventory, whatever the number of lines."""
    lines = await repo.items(uow.session, cart.id)
    variant_ids = [line.variant_id for line in lines]
    infos = await catalog.variants_info(uow, variant_ids) if lines else {}
    levels = await inventory.availability(uow, variant_ids) if lines else {}
    views = [
        _item_view(line, infos.get(line.variant_id), levels.get(line.variant_id)) for line in lines
    ]
    groups: dict[str | None, list[ItemView]] = {}
    for view in views:
        groups.setdefault(view.vendor_id, []).append(view)
    return CartView(
        id=cart.id,
        status=cart.status,
        guest=cart.customer_id is None,
        created_at=cart.created_at,
        updated_at=cart.updated_at,
        items=views,
        vendors=[VendorGroup(v, members, _totals(members)) for v, members in groups.items()],
        totals=_totals(views),
        item_count=sum(view.quantity for view in views),
        order_id=cart.order_id,
        merged_into_id=cart.merged_into_id,
        token=token,
    )


def _item_view(
    line: CartItem, info: catalog.VariantInfo | None, level: inventory.StockLevel | None
) -> ItemView:
    available = level.available if level is not None else None
    price = info.price if info is not None else None
    return ItemView(
        id=line.id,
        variant_id=line.variant_id,
        quantity=line.quantity,
        product_id=info.product_id if info else None,
        vendor_id=info.vendor_id if info else None,
        sku=info.sku if info else None,
        title=info.title if info else None,
        unit_price=price,
        line_total=Money(price.amount * line.quantity, price.currency) if price else None,
        available=max(available or 0, 0),
        in_stock=bool(level and level.in_stock),
        purchasable=bool(info and info.purchasable),
        problems=list(
            rules.line_problems(
                quantity=line.quantity,
                known=info is not None,
                purchasable=bool(info and info.purchasable),
                available=available,
            )
        ),
    )


def _totals(views: Sequence[ItemView]) -> list[Money]:
    sums = rules.totals_by_currency(
        (v.line_total.currency, v.line_total.amount) for v in views if v.line_total is not None
    )
    return [Money(amount, currency) for currency, amount in sums.items()]


async def get_cart(uow: UnitOfWork, *, cart_id: str, shopper: Shopper) -> CartView:
    return await cart_view(uow, await _visible_cart(uow, cart_id, shopper))


# --- changes -------------------------------------------------------------------------------


async def _open_cart_of(uow: UnitOfWork, customer_id: str, now: datetime) -> tuple[Cart, bool]:
    """The customer's open cart, created if they have none; (cart, created)."""
    existing = await repo.open_cart_of(uow.session, customer_id)
    if existing is not None:
        return existing, False
    created = await repo.insert_cart(
        uow.session, cart_id=new_id("crt"), customer_id=customer_id, token_hash=None, now=now
    )
    cart = await repo.open_cart_of(uow.session, customer_id)
    if cart is None:  # pragma: no cover - the row was just inserted or found by the index
        raise RuntimeError("open cart vanished while being created")
    return cart, created


async def create_cart(uow: UnitOfWork, *, shopper: Shopper) -> tuple[CartView, bool]:
    """A signed-in customer's one open cart (created if needed), or a new guest cart whose
    token is in the view, shown this once; (view, created)."""
    now = utcnow()
    if shopper.customer_id is not None:
        cart, created = await _open_cart_of(uow, shopper.customer_id, now)
        return await cart_view(uow, cart), created
    token = rules.new_guest_token()
    cart_id = new_id("crt")
    await repo.insert_cart(
        uow.session, cart_id=cart_id, customer_id=None, token_hash=rules.hash_token(token), now=now
    )
    guest = await repo.cart(uow.session, cart_id)
    assert guest is not None
    return await cart_view(uow, guest, token=token), True


async def _resolve_variant(
    uow: UnitOfWork, *, variant_id: str | None, sku: str | None, vendor_id: str | None
) -> str:
    if variant_id is not None:
        return variant_id
    # The route requires one or the other.
    assert sku is not None
    assert vendor_id is not None
    found = await catalog.variant_id_by_sku(uow, vendor_id=vendor_id, sku=sku)
    if found is None:
        raise VariantNotFound(["body", "sku"], f"with sku {sku!r} at vendor {vendor_id}")
    return found


async def add_item(
    uow: UnitOfWork,
    *,
    cart_id: str,
    shopper: Shopper,
    quantity: int,
    variant_id: str | None = None,
    sku: str | None = None,
    vendor_id: str | None = None,
) -> tuple[CartView, bool]:
    """Add units of a variant (by id, or by a vendor's sku); a variant already in the cart
    gets them added to its line. (view, whether a new line was created)."""
    cart = await _changeable_cart(uow, cart_id, shopper)
    wanted = await _resolve_variant(uow, variant_id=variant_id, sku=sku, vendor_id=vendor_id)
    info = (await catalog.variants_info(uow, [wanted])).get(wanted)
    if info is None:
        raise VariantNotFound(["body", "variant_id"], wanted)
    if not info.purchasable:
        raise VariantNotPurchasable(wanted)
    now = utcnow()
    lines = await repo.items(uow.session, cart.id)
    existing = next((line for line in lines if line.variant_id == wanted), None)
    if existing is not None:
        total = rules.added_quantity(existing.quantity, quantity)
        if total is None:
            raise QuantityLimitExceeded(existing.quantity, rules.MAX_QUANTITY)
        await repo.set_quantity(uow.session, cart.id, existing.id, total, now)
    else:
        if len(lines) >= rules.MAX_LINES:
            raise CartLineLimitExceeded(rules.MAX_LINES)
        await repo.insert_items(uow.session, [_item_row(cart.id, wanted, quantity, now)])
    return await cart_view(uow, cart), existing is None


def _item_row(cart_id: str, variant_id: str, quantity: int, now: datetime) -> dict[str, object]:
    return {
        "id": new_id("cit"),
        "cart_id": cart_id,
        "variant_id": variant_id,
        "quantity": quantity,
        "created_at": now,
        "updated_at": now,
    }


async def change_quantity(
    uow: UnitOfWork, *, cart_id: str, item_id: str, shopper: Shopper, quantity: int
) -> CartView:
    cart = await _changeable_cart(uow, cart_id, shopper)
    if not await repo.set_quantity(uow.session, cart.id, item_id, quantity, utcnow()):
        raise CartItemNotFound(item_id)
    return await cart_view(uow, cart)


async def remove_item(uow: UnitOfWork, *, cart_id: str, item_id: str, shopper: Shopper) -> CartView:
    cart = await _changeable_cart(uow, cart_id, shopper)
    if not await repo.delete_item(uow.session, cart.id, item_id):
        raise CartItemNotFound(item_id)
    return await cart_view(uow, cart)


async def apply_coupon(uow: UnitOfWork, *, cart_id: str, shopper: Shopper, code: str) -> CartView:
    """No coupon exists yet: the promotions context that will own them is not built, so every
    code is unknown. Access and the open state are checked first, as they will be then."""
    await _changeable_cart(uow, cart_id, shopper)
    raise CouponNotFound(code)


async def merge_guest_cart(
    uow: UnitOfWork, *, guest_cart_id: str, token: str | None, customer_id: str
) -> CartView:
    """Move a guest cart's lines into the customer's open cart (created if needed), e.g. at
    sign-in: a variant in both keeps one line with the quantities summed and capped; lines
    beyond the cart's limit are dropped. The guest cart becomes `merged`, at most once."""
    guest = await repo.cart(uow.session, guest_cart_id)
    if guest is None or guest.customer_id is not None or not _may_use(guest, Shopper(token=token)):
        raise CartNotFound(guest_cart_id)
    now = utcnow()
    target, _ = await _open_cart_of(uow, customer_id, now)
    await _lock_open(uow, target, now)
    target = await repo.cart(uow.session, target.id) or target
    if not await repo.close(uow.session, guest.id, now, status="merged", merged_into_id=target.id):
        # Merged or converted meanwhile, perhaps by a concurrent merge: say what it is now.
        now_closed = await repo.cart(uow.session, guest.id)
        raise CartClosed(guest.id, now_closed.status if now_closed else None)
    current = await repo.items(uow.session, target.id)
    incoming = await repo.items(uow.session, guest.id)
    merged = rules.merge_lines(
        [rules.Line(i.variant_id, i.quantity) for i in current],
        [rules.Line(i.variant_id, i.quantity) for i in incoming],
    )
    by_variant = {i.variant_id: i for i in current}
    new_rows = []
    for line in merged:
        mine = by_variant.get(line.variant_id)
        if mine is None:
            new_rows.append(_item_row(target.id, line.variant_id, line.quantity, now))
        elif mine.quantity != line.quantity:
            await repo.set_quantity(uow.session, target.id, mine.id, line.quantity, now)
    await repo.insert_items(uow.session, new_rows)
    return await cart_view(uow, target)


# --- for checkout --------------------------------------------------------------------------


async def checkout_lines(uow: UnitOfWork, *, cart_id: str, customer_id: str) -> list[CartLine]:
    """The lines of the customer's open cart, for checkout. Takes the cart's lock, so no line
    changes until the checkout's transaction ends (a change waits, then finds the cart
    converted). CartNotFound if it is not theirs or not open; CartEmpty without lines."""
    if not await repo.touch_open(uow.session, cart_id, utcnow(), customer_id=customer_id):
        raise CartNotFound(cart_id)
    lines = await repo.items(uow.session, cart_id)
    if not lines:
        raise CartEmpty(cart_id)
    return [CartLine(item_id=i.id, variant_id=i.variant_id, quantity=i.quantity) for i in lines]


async def mark_converted(uow: UnitOfWork, *, cart_id: str, order_id: str) -> None:
    """open -> converted with the order that came of it, at most once (conditional UPDATE):
    CartClosed if it was not open, CartNotFound if there is no such cart."""
    if not await repo.close(uow.session, cart_id, utcnow(), status="converted", order_id=order_id):
        current = await repo.cart(uow.session, cart_id)
        if current is None:
            raise CartNotFound(cart_id)
        raise CartClosed(cart_id, current.status)


# --- housekeeping --------------------------------------------------------------------------


async def purge_stale_carts(
    uow: UnitOfWork, *, now: datetime | None = None, limit: int = PURGE_BATCH
) -> int:
    """Delete up to `limit` carts (any status) untouched for STALE_AFTER, with their lines;
    returns how many. Orders copy what they need at checkout, so nothing refers to them."""
    cutoff = (now or utcnow()) - rules.STALE_AFTER
    stale = await repo.lock_stale(uow.session, cutoff, limit)
    return await repo.delete_carts(uow.session, stale)
