"""Payment use cases: start (persist, no provider call), confirm (charge with no transaction
open), cancel, read; and recording a provider's outcome, which confirm and the webhook
processor share so that they converge.

Recording is decided by a conditional UPDATE (`status = 'pending'`): whoever flips the row
posts the capture and publishes the event, everybody else (a retried confirm, the provider's
webhook arriving too) finds the decision made and changes nothing. The ledger's unique
transaction key is the second guard. Nothing here commits, except `confirm_payment`'s
documented end of the read transaction before it calls the provider.

A provider payment pays for one of our payments: the unique index on succeeded
(provider, provider payment id) decides between two checkouts that present the same approved
PayPal order or Razorpay payment at the same moment (the adapters' own reuse checks cannot
see a capture that is still in flight). The loser is recorded as failed with
`payment_method_already_used`, which checkout turns into a declined payment.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy.exc import IntegrityError

from marketplace.payments.domain.ledger import VendorShare
from marketplace.payments.domain.payment import (
    KEY_MAX_LENGTH,
    KNOWN_PROVIDERS,
    PAYMENT_METHOD_RE,
    provider_key,
    share_problems,
)
from marketplace.payments.errors import (
    PaymentAlreadyCaptured,
    PaymentInProgress,
    PaymentNotFound,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from marketplace.payments.events import PaymentFailed, PaymentSucceeded
from marketplace.payments.models import CommissionLineRow, Payment, PaymentShare
from marketplace.payments.providers import (
    ChargeRequest,
    Gateways,
    ProviderError,
    ProviderUnavailable,
    gateways_for,
)
from marketplace.payments.repository import payment as repo
from marketplace.payments.service import ledger
from marketplace.platform.admission import waiting_elsewhere
from marketplace.platform.clock import utcnow
from marketplace.platform.db import is_unique_violation, transient
from marketplace.platform.direct import insert_objects
from marketplace.platform.errors import FieldError, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import UnknownCurrency, currency_exponent
from marketplace.platform.uow import UnitOfWork

logger = logging.getLogger(__name__)

_STARTED = "payments.started_payment"
ALREADY_USED = "payment_method_already_used"
_ALREADY_USED_MESSAGE = "This payment method already paid for another order."


@dataclass(frozen=True, slots=True)
class _Started:
    """A payment `start_payment` wrote in this unit of work, with the shares it was given."""

    payment: Payment
    shares: Sequence[VendorShare]


@dataclass(frozen=True, slots=True)
class PaymentView:
    id: str
    order_id: str
    provider: str
    status: str  # "pending" | "succeeded" | "failed" | "canceled"
    amount: int
    currency: str
    captured_amount: int
    refunded_amount: int
    failure_code: str | None
    failure_message: str | None
    provider_payment_id: str | None


def payment_view(payment: Payment) -> PaymentView:
    return PaymentView(
        id=payment.id,
        order_id=payment.order_id,
        provider=payment.provider,
        status=payment.status,
        amount=payment.amount,
        currency=payment.currency,
        captured_amount=payment.captured_amount,
        refunded_amount=payment.refunded_amount,
        failure_code=payment.failure_code,
        failure_message=payment.failure_message,
        provider_payment_id=payment.provider_payment_id,
    )


def _validate(
    gateways: Gateways,
    *,
    provider: str,
    payment_method: str,
    currency: str,
    amount: int,
    shares: Sequence[VendorShare],
    idempotency_key: str,
) -> None:
    errors: list[FieldError] = []

    def add(loc: Sequence[str | int], msg: str, code: str = "invalid") -> None:
        errors.append(FieldError(loc=list(loc), msg=msg, code=code))

    adapter = gateways.get(provider)
    if adapter is None:
        known = "known but not enabled here" if provider in KNOWN_PROVIDERS else "unknown"
        add(
            ["body", "payment", "provider"],
            f"payment provider {provider!r} is {known}; enabled: {', '.join(gateways.enabled)}",
            "provider_not_enabled",
        )
    elif not PAYMENT_METHOD_RE.fullmatch(payment_method) or not adapter.accepts_payment_method(
        payment_method
    ):
        add(
            ["body", "payment", "payment_method"],
            f"not a {provider} payment method token",
            "invalid_payment_method",
        )
    try:
        currency_exponent(currency)
    except UnknownCurrency:
        add(["body", "currency"], "not an ISO 4217 currency", "invalid_currency")
    for loc, msg in share_problems(amount, shares):
        add(["body", *loc], msg)
    if not idempotency_key or len(idempotency_key) > KEY_MAX_LENGTH:
        add(["header", "Idempotency-Key"], "required, at most 255 characters")
    if errors:
        raise ValidationFailed(errors[0].msg, errors=errors)


async def start_payment(
    uow: UnitOfWork,
    *,
    order_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    provider: str,
    payment_method: str,
    shares: Sequence[VendorShare],
    idempotency_key: str,
    new_order: bool = False,
) -> PaymentView:
    """Persist a pending payment with its shares (commission frozen per line) and the
    provider idempotency key derived from `idempotency_key`. No provider call.

    Idempotent per `order_id`: a second call returns the first payment. A caller that
    created the order in this very transaction says `new_order=True`: the lookup of an
    earlier payment is skipped (there cannot be one; the unique order id still guards), and
    the rows are written with that transaction's commit rather than now.
    422 naming the field when `sum(gross) != amount`, the provider is not enabled
    (`body.payment.provider`) or the payment method is not a token of that provider
    (`body.payment.payment_method`)."""
    if not new_order:
        existing = await repo.payment_by_order(uow.session, order_id)
        if existing is not None:
            return payment_view(existing)
    _validate(
        gateways_for(uow),
        provider=provider,
        payment_method=payment_method,
        currency=currency,
        amount=amount,
        shares=shares,
        idempotency_key=idempotency_key,
    )
    now = utcnow()
    payment = transient(
        Payment,
        id=new_id("pay"),
        order_id=order_id,
        customer_id=customer_id,
        provider=provider,
        payment_method=payment_method,
        status="pending",
        amount=amount,
        currency=currency,
        captured_amount=0,
        refunded_amount=0,
        fee_amount=0,
        provider_idempotency_key=provider_key("payment", order_id, idempotency_key),
        provider_payment_id=None,
        failure_code=None,
        failure_message=None,
        created_at=now,
        updated_at=now,
        succeeded_at=None,
    )
    shares_rows = [
        transient(
            PaymentShare,
            vendor_order_id=share.vendor_order_id,
            payment_id=payment.id,
            vendor_id=share.vendor_id,
            gross_amount=share.gross_amount,
            tax_amount=share.tax_amount,
            commission_amount=share.commission_amount,
            commission_tax_amount=share.commission_tax_amount,
            platform_discount_amount=share.platform_discount_amount,
            refund_reserved_amount=0,
            refunded_amount=0,
            hold_status="none",
            delivered_at=None,
            release_at=None,
            released_at=None,
        )
        for share in shares
    ]
    lines = [
        transient(
            CommissionLineRow,
            vendor_order_id=share.vendor_order_id,
            order_item_id=line.order_item_id,
            rule_id=line.rule_id,
            rate_bps=line.rate_bps,
            amount=line.amount,
        )
        for share in shares
        for line in share.lines
    ]
    if new_order:
        # Nothing reads or changes them before the order's commit, which writes them with
        # the order's own rows (parents first: the foreign keys are checked per statement).
        uow.add_new(payment, *shares_rows, *lines)
    else:
        await _insert_payment(uow, [payment, *shares_rows, *lines])
    # `confirm_payment` in the same unit of work takes the row from here instead of reading
    # it again (nothing else changes a pending payment before it is confirmed).
    uow.extras[_STARTED] = _Started(payment, shares)
    return payment_view(payment)


async def _insert_payment(uow: UnitOfWork, rows: Sequence[object]) -> None:
    try:
        # Core INSERTs, parents first (PostgreSQL checks the foreign keys per statement).
        await insert_objects(uow.session, rows)
    except IntegrityError as error:
        if is_unique_violation(error):
            # A concurrent checkout of the same order won the unique order_id.
            raise PaymentInProgress("a payment for this order already exists") from None
        raise


async def payment_of_order(uow: UnitOfWork, order_id: str) -> PaymentView | None:
    payment = await repo.payment_by_order(uow.session, order_id)
    return payment_view(payment) if payment is not None else None


async def get_payment(uow: UnitOfWork, payment_id: str) -> PaymentView:
    payment = await repo.payment(uow.session, payment_id)
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id}")
    return payment_view(payment)


async def confirm_payment(uow: UnitOfWork, gateways: Gateways, *, payment_id: str) -> PaymentView:
    """Charge the customer. Commits the unit of work's read before calling the provider (the
    caller committed its own work first), records the outcome in the next transaction,
    which the caller commits. See `public` for the checkout protocol."""
    # The row `start_payment` wrote in this unit of work, else as the session last read it
    # (no query when `payment_of_order` just did). Its status is decided again by the
    # conditional UPDATE that records the outcome, so a stale "pending" can only lead to a
    # charge the provider deduplicates by its key, never to a second capture.
    started = uow.extras.pop(_STARTED, None)
    if not isinstance(started, _Started) or started.payment.id != payment_id:
        started = None
    payment = started.payment if started else await uow.session.get(Payment, payment_id)
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id}")
    if payment.status != "pending":
        return payment_view(payment)
    request = ChargeRequest(
        idempotency_key=payment.provider_idempotency_key,
        amount=payment.amount,
        currency=payment.currency,
        payment_method=payment.payment_method,
        metadata={"payment_id": payment.id, "order_id": payment.order_id},
    )
    provider = gateways.get(payment.provider)
    if provider is None:
        # Disabled since the payment started: nothing was charged, the payment stays pending.
        raise ProviderUnavailableError(f"payment provider {payment.provider!r} is not enabled")
    # End the read: no transaction (and no lock, and on SQLite no connection) is held while
    # the provider takes its time. The caller committed its own work before calling us.
    await uow.commit()
    try:
        async with waiting_elsewhere():
            result = await provider.charge(request)
    except ProviderUnavailable as error:
        # Outcome unknown: the payment stays pending. A retry sends the same key, and the
        # provider's webhook settles it meanwhile if the charge went through.
        raise ProviderUnavailableError(str(error)) from error
    except ProviderError as error:
        # Our credentials or configuration, not the customer's card: the details go to the
        # operators' log, the customer gets a 502 and the payment stays pending.
        logger.error(
            "payment provider refused the charge: %s",
            error,
            extra={"payment_id": payment_id, "provider": provider.name},
        )
        raise ProviderRejectedError("the payment provider refused the request") from error
    if result.status == "succeeded":
        decided = await _record_success(
            uow,
            payment_id,
            provider_payment_id=result.provider_payment_id,
            captured=result.amount_captured,
            fee=result.fee_amount,
            shares=started.shares if started else None,
            synchronously=True,
        )
    else:
        decided = await _record_failure(
            uow,
            payment_id,
            provider_payment_id=result.provider_payment_id,
            code=result.failure_code,
            message=result.failure_message,
            synchronously=True,
        )
    if decided is not None:
        return payment_view(decided)  # the row our UPDATE returned: current
    return await get_payment(uow, payment_id)


async def record_success(
    uow: UnitOfWork, payment_id: str, *, provider_payment_id: str | None, captured: int, fee: int
) -> bool:
    """pending → succeeded, with the capture posted and PaymentSucceeded published, once.
    False when the payment was decided already, or when its provider payment paid for
    another payment (recorded as failed, `payment_method_already_used`)."""
    decided = await _record_success(
        uow, payment_id, provider_payment_id=provider_payment_id, captured=captured, fee=fee
    )
    return decided is not None and decided.status == "succeeded"


async def _record_success(
    uow: UnitOfWork,
    payment_id: str,
    *,
    provider_payment_id: str | None,
    captured: int,
    fee: int,
    shares: Sequence[VendorShare] | None = None,
    synchronously: bool = False,
) -> Payment | None:
    """`record_success`, answering with the row it changed (None: decided by someone else;
    a failed row: the provider payment had paid for another payment already).
    `shares`: the payment's shares when this unit of work started it (they are fixed).
    `synchronously`: recorded by `confirm_payment`, first in a transaction of its own (it
    committed before calling the provider), whose caller acts on the outcome in it."""
    now = utcnow()
    success = partial(
        repo.leave_pending_returning,
        uow.session,
        payment_id,
        "succeeded",
        now=now,
        provider_payment_id=provider_payment_id,
        captured_amount=captured,
        fee_amount=fee,
        succeeded_at=now,
    )
    try:
        if synchronously:
            # Nothing precedes it in this transaction: if the index refuses it, rolling the
            # transaction back loses nothing, so no savepoint (two round trips) is needed.
            payment = await success()
        else:
            # A savepoint: on PostgreSQL a violated index aborts the whole transaction
            # otherwise, and the caller's work in it (the webhook event) must survive.
            async with uow.session.begin_nested():
                payment = await success()
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise
        if synchronously:
            await uow.session.rollback()
        # Another payment succeeded with this provider payment (committed first, or waited
        # for by the index): the money is that payment's, this one paid nothing.
        logger.warning(
            "provider payment already paid for another payment",
            extra={"payment_id": payment_id, "provider_payment_id": provider_payment_id},
        )
        return await _record_failure(
            uow,
            payment_id,
            provider_payment_id=provider_payment_id,
            code=ALREADY_USED,
            message=_ALREADY_USED_MESSAGE,
            synchronously=synchronously,
        )
    if payment is None:
        current = await repo.payment(uow.session, payment_id)
        if (
            current is not None
            and current.status in {"canceled", "failed"}
            and current.failure_code != ALREADY_USED  # the charge is the other payment's
        ):
            # Charged after we gave up on it: money is at the provider that no order expects.
            # Needs an operator (an automatic refund comes with reconciliation).
            logger.error(
                "provider reports a charge for a payment that is %s",
                current.status,
                extra={"payment_id": payment_id, "provider_payment_id": provider_payment_id},
            )
        return None
    if captured != payment.amount:
        logger.warning(
            "captured amount differs from the payment amount",
            extra={"payment_id": payment_id, "captured": captured, "amount": payment.amount},
        )
    await ledger.post_capture(uow, payment, fee=fee, shares=shares)
    uow.publish(
        PaymentSucceeded(
            payment_id=payment.id,
            order_id=payment.order_id,
            amount=payment.captured_amount,
            currency=payment.currency,
            confirmed_synchronously=synchronously,
        )
    )
    return payment


async def record_failure(
    uow: UnitOfWork,
    payment_id: str,
    *,
    provider_payment_id: str | None,
    code: str | None,
    message: str | None,
) -> bool:
    decided = await _record_failure(
        uow, payment_id, provider_payment_id=provider_payment_id, code=code, message=message
    )
    return decided is not None


async def _record_failure(
    uow: UnitOfWork,
    payment_id: str,
    *,
    provider_payment_id: str | None,
    code: str | None,
    message: str | None,
    synchronously: bool = False,
) -> Payment | None:
    payment = await repo.leave_pending_returning(
        uow.session,
        payment_id,
        "failed",
        now=utcnow(),
        provider_payment_id=provider_payment_id,
        failure_code=code,
        failure_message=message,
    )
    if payment is None:
        return None
    uow.publish(
        PaymentFailed(
            payment_id=payment.id,
            order_id=payment.order_id,
            failure_code=code,
            failure_message=message,
            confirmed_synchronously=synchronously,
        )
    )
    return payment


async def cancel_payment(uow: UnitOfWork, *, payment_id: str) -> None:
    """A pending payment that will not be charged (abandoned checkout). A no-op when it
    failed or was canceled already; 409 `payment_already_captured` when it succeeded."""
    payment = await repo.payment(uow.session, payment_id)
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id}")
    if await repo.leave_pending(uow.session, payment_id, "canceled", now=utcnow()):
        return
    current = await repo.payment(uow.session, payment_id)
    assert current is not None
    if current.status == "succeeded":
        raise PaymentAlreadyCaptured("the customer was charged: refund instead")
    # failed or canceled already: nothing will be charged, which is what was asked.
