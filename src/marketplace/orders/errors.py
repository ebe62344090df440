"""Orders error codes: each exception carries its HTTP status, code and title.

Validation failures name the request field they are about (`errors[].loc`), so a client can
show the message next to the input that caused it.
"""

from __future__ import annotations

from marketplace.platform.errors import (
    AppError,
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)


def _on(loc: list[str | int], msg: str, code: str) -> list[FieldError]:
    return [FieldError(loc=loc, msg=msg, code=code)]


class CartNotFound(NotFound):
    """Also what a caller gets for someone else's cart or a wrong guest token: whether a
    cart exists is not theirs to learn."""

    code = "cart_not_found"
    title = "Cart not found"

    def __init__(self, cart_id: str) -> None:
        super().__init__(f"no cart {cart_id}")


class CartItemNotFound(NotFound):
    code = "cart_item_not_found"
    title = "Cart item not found"

    def __init__(self, item_id: str) -> None:
        super().__init__(f"no item {item_id} in this cart")


class CartClosed(Conflict):
    code = "cart_closed"
    title = "Cart is no longer open"

    def __init__(self, cart_id: str, status: str | None = None) -> None:
        detail = f"cart {cart_id} is {status}" if status else f"cart {cart_id} is not open"
        super().__init__(detail + " and cannot change")


class CartEmpty(ValidationFailed):
    code = "cart_empty"
    title = "Cart is empty"

    def __init__(self, cart_id: str) -> None:
        msg = f"cart {cart_id} has no items"
        super().__init__(msg, errors=_on(["body", "cart_id"], msg, "cart_empty"))


class VariantNotFound(ValidationFailed):
    code = "variant_not_found"
    title = "Variant not found"

    def __init__(self, loc: list[str | int], what: str) -> None:
        msg = f"no variant {what}"
        super().__init__(msg, errors=_on(loc, msg, "variant_not_found"))


class VariantNotPurchasable(ValidationFailed):
    code = "variant_not_purchasable"
    title = "Variant cannot be bought"

    def __init__(self, variant_id: str) -> None:
        msg = f"variant {variant_id} is not for sale"
        super().__init__(msg, errors=_on(["body", "variant_id"], msg, "variant_not_purchasable"))


class QuantityLimitExceeded(ValidationFailed):
    code = "quantity_limit_exceeded"
    title = "Too many units of one item"

    def __init__(self, current: int, limit: int) -> None:
        msg = f"the line already holds {current}; a line holds at most {limit}"
        super().__init__(msg, errors=_on(["body", "quantity"], msg, "quantity_limit_exceeded"))


class CartLineLimitExceeded(ValidationFailed):
    code = "cart_line_limit_exceeded"
    title = "Too many items in the cart"

    def __init__(self, limit: int) -> None:
        msg = f"a cart holds at most {limit} different items"
        super().__init__(msg, errors=_on(["body", "variant_id"], msg, "cart_line_limit_exceeded"))


class CouponNotFound(ValidationFailed):
    code = "coupon_not_found"
    title = "Coupon not found"

    def __init__(self, code: str) -> None:
        msg = f"no coupon {code!r} applies to this cart"
        super().__init__(msg, errors=_on(["body", "code"], msg, "coupon_not_found"))


# --- orders ------------------------------------------------------------------------------


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "No such order"


class VendorOrderNotFound(NotFound):
    code = "vendor_order_not_found"
    title = "No such vendor order"


class ReceiptNotAvailable(Conflict):
    """The order was never paid (still pending, or its payment failed): there is nothing to
    give a receipt for. `order_status` says where it is (not `status`: that member is the
    HTTP status in a problem document)."""

    code = "receipt_not_available"
    title = "No receipt: the order is not paid"

    def __init__(self, detail: str, *, status: str) -> None:
        super().__init__(detail, extra={"order_status": status})


class StatementNotAvailable(Conflict):
    """The vendor order was never paid: no statement. `vendor_order_status` says where it is."""

    code = "statement_not_available"
    title = "No statement: the vendor order is not paid"

    def __init__(self, detail: str, *, status: str) -> None:
        super().__init__(detail, extra={"vendor_order_status": status})


class DocumentUnavailable(AppError):
    """The document is recorded but its stored PDF can be neither read nor reproduced
    exactly: an operator must restore it (logged as an error)."""

    status = 503
    code = "document_unavailable"
    title = "Document temporarily unavailable"


class ReturnNotFound(NotFound):
    code = "return_not_found"
    title = "No such return"


class InvalidTransition(Conflict):
    """The order is not in a status this change can start from; `status` says which it is."""

    code = "invalid_transition"
    title = "Not possible in the current status"

    def __init__(self, detail: str, *, status: str) -> None:
        self.current_status = status
        super().__init__(detail, extra={"status": status})


class CheckoutRefused(ValidationFailed):
    code = "checkout_refused"


class ReturnWindowClosed(ValidationFailed):
    code = "return_window_closed"


class PaymentDeclined(AppError):
    """The provider refused the charge: the order is canceled and its stock released, and
    that outcome is committed with this answer (and replayed for the same Idempotency-Key)."""

    status = 402
    code = "payment_declined"
    title = "Payment declined"
    keeps_changes = True


class SoldOut(AppError):
    """Paid, but the units were sold to others while the payment was being confirmed (its
    reservation had expired): the order is canceled and refunded, committed with this answer."""

    status = 409
    code = "sold_out"
    title = "Sold out while paying"
    keeps_changes = True
