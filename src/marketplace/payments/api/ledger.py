"""Payments routes for money already moved: the providers' webhook, a vendor's balance and
ledger, and the admin's trial balance and transactions. Payments themselves have no routes:
checkout drives them through the facade."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from marketplace.identity.public import AdminReader, VendorAccess, vendor_permission
from marketplace.payments.models import LedgerPosting
from marketplace.payments.public import GatewaysDep
from marketplace.payments.schemas import (
    AccountBalanceRead,
    BalanceRead,
    CurrencyTotals,
    PostingRead,
    TransactionRead,
    TrialBalanceRead,
    VendorPostingRead,
    WebhookAck,
)
from marketplace.payments.service import ledger, webhooks
from marketplace.platform.errors import AppError
from marketplace.platform.http import UoW
from marketplace.platform.money import MoneySchema
from marketplace.platform.pagination import Page, PageQuery

router = APIRouter(tags=["payments"])

PayoutsReader = Annotated[VendorAccess, Depends(vendor_permission("payouts.read"))]
MAX_WEBHOOK_BYTES = 256 * 1024


@router.post(
    "/webhooks/payments/{provider}",
    summary="A payment provider's webhook (signature verified)",
    responses={
        400: {"description": "invalid_signature: bad or stale signature; nothing stored"},
        404: {"description": "no such enabled provider"},
        413: {"description": "body too large"},
        503: {"description": "the provider could not confirm the delivery; it will retry"},
    },
    # The body is read raw: the signature covers its exact bytes, so it is not parsed first.
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the provider's event as it sent it, verified with its own scheme: "
            "`sandbox` and `stripe` sign it in `Sandbox-Signature` / `Stripe-Signature` "
            '(`t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`), `razorpay` in '
            "`X-Razorpay-Signature` (hex HMAC-SHA256 of the body), and `paypal` deliveries "
            "(the `PayPal-Transmission-*`, `PayPal-Auth-Algo` and `PayPal-Cert-Url` headers) "
            "are confirmed by PayPal's verify-webhook-signature; 503 when it cannot be asked",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def payment_webhook(
    request: Request,
    uow: UoW,
    gateways: GatewaysDep,
    provider: Annotated[str, Path(min_length=1, max_length=20)],
) -> WebhookAck:
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise AppError("webhook body too large", status=413, code="payload_too_large")
    headers = {name.lower(): value for name, value in request.headers.items()}
    receipt = await webhooks.receive_webhook(
        uow, gateways, provider=provider, body=body, headers=headers
    )
    return WebhookAck(duplicate=receipt.duplicate)


@router.get("/vendors/{vid}/balance", summary="What the platform owes the vendor")
async def vendor_balance(uow: UoW, access: PayoutsReader) -> BalanceRead:
    balance = await ledger.vendor_balance(uow, access.vendor_id)
    return BalanceRead(
        pending=[MoneySchema.from_money(m) for m in balance.pending],
        available=[MoneySchema.from_money(m) for m in balance.available],
    )


@router.get("/vendors/{vid}/ledger", summary="The postings on the vendor's accounts, newest first")
async def vendor_ledger(
    uow: UoW, access: PayoutsReader, page: PageQuery
) -> Page[VendorPostingRead]:
    rows, cursor = await ledger.vendor_ledger(uow, access.vendor_id, page)
    return Page(
        data=[
            VendorPostingRead(
                **_posting(posting).model_dump(),
                transaction_id=transaction.id,
                type=transaction.type,
                order_id=transaction.order_id,
                created_at=posting.created_at,
            )
            for posting, transaction in rows
        ],
        next_cursor=cursor,
    )


@router.get("/admin/ledger/trial-balance", summary="Debits and credits per currency and account")
async def trial_balance(uow: UoW, admin: AdminReader) -> TrialBalanceRead:
    result = await ledger.trial_balance(uow)
    return TrialBalanceRead(
        balanced=result.balanced,
        currencies={
            c: CurrencyTotals(debits=d, credits=cr) for c, (d, cr) in result.currencies.items()
        },
        accounts=[
            AccountBalanceRead(
                account=a.account,
                kind=a.kind,
                currency=a.currency,
                debits=a.debits,
                credits=a.credits,
                balance=a.balance,
            )
            for a in result.accounts
        ],
    )


def _posting(posting: LedgerPosting) -> PostingRead:
    return PostingRead(
        id=posting.id,
        account=posting.account,
        amount=posting.amount,
        currency=posting.currency,
        vendor_order_id=posting.vendor_order_id,
        order_item_id=posting.order_item_id,
    )


@router.get("/admin/transactions", summary="Ledger transactions, oldest first")
async def list_transactions(
    uow: UoW,
    admin: AdminReader,
    page: PageQuery,
    order_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[TransactionRead]:
    items, cursor = await ledger.transactions(uow, order_id=order_id, page=page)
    return Page(
        data=[
            TransactionRead(
                id=t.id,
                type=t.type,
                currency=t.currency,
                order_id=t.order_id,
                vendor_order_id=t.vendor_order_id,
                payment_id=t.payment_id,
                refund_id=t.refund_id,
                description=t.description,
                created_at=t.created_at,
                postings=[_posting(p) for p in postings],
            )
            for t, postings in items
        ],
        next_cursor=cursor,
    )
