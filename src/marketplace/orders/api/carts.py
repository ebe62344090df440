"""Cart routes for shoppers: signed-in customers use their own carts; guests prove a cart is
theirs with the `X-Cart-Token` header returned when it was created. Anyone else, for any
cart, gets 404. API keys are for vendor integrations and have no cart."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response

from marketplace.identity.public import CurrentUser, IdentityDep, OptionalPrincipal
from marketplace.orders.schemas.cart import (
    CartCreated,
    CartItemAdd,
    CartItemPatch,
    CartItemRead,
    CartRead,
    CouponApply,
    VendorGroupRead,
)
from marketplace.orders.service import carts as service
from marketplace.orders.service.carts import CartView, ItemView, Shopper
from marketplace.platform.errors import Forbidden, ValidationFailed
from marketplace.platform.http import UoW, never_replay
from marketplace.platform.money import Money, MoneySchema
from marketplace.platform.ratelimit import RateLimit, enforce

router = APIRouter(prefix="/carts", tags=["carts"])

CartToken = Annotated[
    str | None,
    Header(
        alias="X-Cart-Token",
        max_length=200,
        description="a guest cart's token (from POST /v1/carts); not needed for your own cart",
    ),
]
CartId = Annotated[str, Path(max_length=40, description="cart id")]
ItemId = Annotated[str, Path(max_length=40, description="cart item id")]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such cart, not yours, or a missing or wrong token"}
}
_CLOSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "the cart is merged or converted and cannot change"}
}
# Guest carts cost nothing to ask for and live 30 days: per client IP, a rate that no shopper
# reaches but that stops a script from filling the table.
GUEST_CARTS_PER_IP = RateLimit(limit=30, window_seconds=60)
# A cart body may carry a token and shows what someone intends to buy: never cache it.
_NO_STORE = "no-store"


async def shopper(principal: OptionalPrincipal, uow: UoW, token: CartToken = None) -> Shopper:
    if principal is None:
        # A guest's answers are only theirs: the token (or the cart it opens) is the secret.
        never_replay(uow)
    if principal is not None and principal.kind != "user":
        raise Forbidden("carts are for people, not API keys", code="user_required")
    return Shopper(customer_id=principal.id if principal else None, token=token)


ShopperDep = Annotated[Shopper, Depends(shopper)]


def _money(money: Money | None) -> MoneySchema | None:
    return MoneySchema.from_money(money) if money is not None else None


def _item(view: ItemView) -> CartItemRead:
    return CartItemRead(
        id=view.id,
        variant_id=view.variant_id,
        product_id=view.product_id,
        vendor_id=view.vendor_id,
        sku=view.sku,
        title=view.title,
        quantity=view.quantity,
        unit_price=_money(view.unit_price),
        line_total=_money(view.line_total),
        available=view.available,
        in_stock=view.in_stock,
        purchasable=view.purchasable,
        problems=view.problems,
    )


def _read(view: CartView, response: Response) -> CartRead:
    response.headers["Cache-Control"] = _NO_STORE
    return CartRead(**_fields(view))


def _fields(view: CartView) -> dict[str, object]:
    return {
        "id": view.id,
        "status": view.status,
        "guest": view.guest,
        "items": [_item(i) for i in view.items],
        "vendors": [
            VendorGroupRead(
                vendor_id=group.vendor_id,
                items=[_item(i) for i in group.items],
                totals=[MoneySchema.from_money(m) for m in group.totals],
            )
            for group in view.vendors
        ],
        "totals": [MoneySchema.from_money(m) for m in view.totals],
        "item_count": view.item_count,
        "order_id": view.order_id,
        "merged_into_id": view.merged_into_id,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
    }


@router.post(
    "",
    status_code=201,
    summary="Start a cart (or get your open one)",
    description=(
        "Signed in: your one open cart: 201 when it was created now, 200 when you already "
        "had one. Anonymous: a new guest cart (201) with a secret `token`, shown only in this "
        "response; send it as `X-Cart-Token` on every call about that cart."
    ),
    responses={
        200: {"model": CartCreated, "description": "your existing open cart"},
        429: {"description": "too many guest carts from this address; see Retry-After"},
    },
)
async def create_cart(
    uow: UoW, who: ShopperDep, identity: IdentityDep, response: Response
) -> CartCreated:
    if who.customer_id is None:
        key = f"orders:guest_cart:ip:{uow.client_ip or 'unknown'}"
        await enforce(identity.limiter, key, GUEST_CARTS_PER_IP)
    view, created = await service.create_cart(uow, shopper=who)
    if not created:
        response.status_code = 200
    response.headers["Cache-Control"] = _NO_STORE
    return CartCreated(**_fields(view), token=view.token)


@router.get(
    "/{cart_id}",
    summary="A cart with live prices, stock and problems per item",
    responses=_NOT_FOUND,
)
async def get_cart(cart_id: CartId, uow: UoW, who: ShopperDep, response: Response) -> CartRead:
    return _read(await service.get_cart(uow, cart_id=cart_id, shopper=who), response)


@router.post(
    "/{cart_id}/items",
    status_code=201,
    summary="Add units of a variant (by id, or by sku with vendor_id)",
    description=(
        "201 when a new line was created; 200 when the variant was already in the cart and "
        "the units were added to its line (at most 99 per line, 100 lines per cart)."
    ),
    responses={
        200: {"model": CartRead, "description": "units added to an existing line"},
        **_NOT_FOUND,
        **_CLOSED,
    },
)
async def add_item(
    cart_id: CartId, body: CartItemAdd, uow: UoW, who: ShopperDep, response: Response
) -> CartRead:
    if (body.variant_id is None) == (body.sku is None):
        raise ValidationFailed.on_field(
            ["body", "variant_id"], "send either variant_id or sku (with vendor_id)", "required"
        )
    if body.sku is not None and body.vendor_id is None:
        raise ValidationFailed.on_field(
            ["body", "vendor_id"], "vendor_id is required with sku", "required"
        )
    view, created = await service.add_item(
        uow,
        cart_id=cart_id,
        shopper=who,
        quantity=body.quantity,
        variant_id=body.variant_id,
        sku=body.sku,
        vendor_id=body.vendor_id,
    )
    if not created:
        response.status_code = 200
    return _read(view, response)


@router.patch(
    "/{cart_id}/items/{item_id}",
    summary="Set an item's quantity",
    responses={**_NOT_FOUND, **_CLOSED},
)
async def change_quantity(
    cart_id: CartId,
    item_id: ItemId,
    body: CartItemPatch,
    uow: UoW,
    who: ShopperDep,
    response: Response,
) -> CartRead:
    view = await service.change_quantity(
        uow, cart_id=cart_id, item_id=item_id, shopper=who, quantity=body.quantity
    )
    return _read(view, response)


@router.delete(
    "/{cart_id}/items/{item_id}",
    summary="Remove an item; answers the cart",
    responses={**_NOT_FOUND, **_CLOSED},
)
async def remove_item(
    cart_id: CartId, item_id: ItemId, uow: UoW, who: ShopperDep, response: Response
) -> CartRead:
    view = await service.remove_item(uow, cart_id=cart_id, item_id=item_id, shopper=who)
    return _read(view, response)


@router.post(
    "/{cart_id}/coupons",
    summary="Apply a coupon code (not available yet)",
    description=(
        "Coupons belong to the promotions context, which does not exist yet: every code is "
        "answered 422 `coupon_not_found` (naming `body.code`) for now, after the usual "
        "checks of access (404) and of the cart being open (409)."
    ),
    responses={**_NOT_FOUND, **_CLOSED, 422: {"description": "coupon_not_found"}},
)
async def apply_coupon(
    cart_id: CartId, body: CouponApply, uow: UoW, who: ShopperDep, response: Response
) -> CartRead:
    view = await service.apply_coupon(uow, cart_id=cart_id, shopper=who, code=body.code)
    return _read(view, response)  # pragma: no cover - unreachable until promotions exist


@router.post(
    "/{cart_id}/merge",
    summary="Merge a guest cart into your open cart",
    description=(
        "`cart_id` is the guest cart, proven with its `X-Cart-Token`. Its items move into "
        "your open cart (created if you have none): a variant in both keeps one line with the "
        "quantities summed (capped at 99); lines beyond 100 are dropped. The guest cart "
        "becomes `merged`. Answers your cart."
    ),
    responses={
        **_NOT_FOUND,
        409: {"description": "the guest cart was already merged or converted"},
    },
)
async def merge_cart(
    cart_id: CartId, uow: UoW, user: CurrentUser, response: Response, token: CartToken = None
) -> CartRead:
    view = await service.merge_guest_cart(
        uow, guest_cart_id=cart_id, token=token, customer_id=user.id
    )
    return _read(view, response)
