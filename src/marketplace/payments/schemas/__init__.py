"""Payments response bodies: balances, ledger postings and transactions, the trial balance,
and the webhook acknowledgement."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from marketplace.platform.money import MoneySchema


class BalanceRead(BaseModel):
    """What the platform owes the vendor, per currency; negative when the vendor owes (a
    refund after the hold took more than was available)."""

    pending: list[MoneySchema] = Field(description="earned, still inside the hold period")
    available: list[MoneySchema] = Field(description="payable to the vendor")


class PostingRead(BaseModel):
    id: str
    account: str = Field(examples=["vendor_pending:vnd_01JD3X5V6Q2W8Y9Z0A1B2C3D4E"])
    amount: int = Field(description="minor units; positive: debit, negative: credit")
    currency: str
    vendor_order_id: str | None = None
    order_item_id: str | None = None


class VendorPostingRead(PostingRead):
    transaction_id: str
    type: str = Field(description="capture | refund | release | ...")
    order_id: str | None
    created_at: datetime


class TransactionRead(BaseModel):
    id: str
    type: str = Field(description="capture | fee | refund | release | payout | adjustment")
    currency: str
    order_id: str | None
    vendor_order_id: str | None
    payment_id: str | None
    refund_id: str | None
    description: str
    created_at: datetime
    postings: list[PostingRead]


class CurrencyTotals(BaseModel):
    debits: int
    credits: int


class AccountBalanceRead(BaseModel):
    account: str
    kind: str = Field(description="asset | liability | revenue | expense")
    currency: str
    debits: int
    credits: int
    balance: int = Field(description="debits - credits")


class TrialBalanceRead(BaseModel):
    balanced: bool = Field(description="debits equal credits in every currency")
    currencies: dict[str, CurrencyTotals]
    accounts: list[AccountBalanceRead]


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="the event had been received before: not stored again")
