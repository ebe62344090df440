"""Orders error codes: each exception carries its HTTP status, code and title."""

from __future__ import annotations

from marketplace.platform.errors import AppError, Conflict, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "No such order"


class VendorOrderNotFound(NotFound):
    code = "vendor_order_not_found"
    title = "No such vendor order"


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
