"""The provider interface every gateway adapter implements, and what it answers in.

Adapters (the sandbox now; Stripe, PayPal, Razorpay later) translate between these plain
values and their API. Our code never sees a provider's objects, only these results, and a
webhook is verified and normalised by the adapter that knows its signature scheme.

Every call carries the idempotency key we persisted before calling: a provider answers a
repeated key with its first result, which is what makes a retry after a timeout safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered with an error of its own: the outcome is
    unknown, retry later with the same idempotency key."""


class InvalidSignature(Exception):
    """A webhook whose signature or timestamp does not verify."""


class ProviderError(Exception):
    """The provider refused the request for a reason a retry will not fix and that is not the
    customer's: bad or missing credentials, a feature not enabled on the account, a request
    we built wrong. Never a silent success: the payment or refund stays pending and the
    error reaches the operators (logs, dead letters)."""


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    idempotency_key: str
    amount: int
    currency: str
    payment_method: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChargeResult:
    provider_payment_id: str
    status: Literal["succeeded", "failed"]
    amount_captured: int
    fee_amount: int = 0
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    idempotency_key: str
    provider_payment_id: str
    amount: int
    currency: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefundResult:
    provider_refund_id: str
    status: Literal["succeeded", "failed"]
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A payout to a vendor's destination: `destination` holds its decrypted details (`iban`,
    or `account_number` + `routing_number`, or `wallet_provider` + `wallet_id`, with `type`,
    `holder_name`, `country`); never log it. `metadata` is echoed in the provider's events."""

    idempotency_key: str
    vendor_id: str
    amount: int
    currency: str
    destination: Mapping[str, str]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransferResult:
    """`pending`: accepted, on its way (the outcome comes by webhook); `paid` / `failed`: the
    provider knew at once."""

    provider_transfer_id: str
    status: Literal["pending", "paid", "failed"]
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A webhook event normalised: what happened to which of our payments or refunds.

    `payment_id` / `refund_id` are our ids, sent to the provider as metadata and echoed back.
    A refund event also carries its payment's outcome, so processing it can settle a payment
    whose own success event has not been processed yet (events arrive in any order).
    """

    provider_event_id: str
    type: str
    kind: Literal[
        "payment_succeeded",
        "payment_failed",
        "refund_succeeded",
        "refund_failed",
        "dispute_opened",
        "dispute_closed",
        "payout_paid",
        "payout_failed",
        "other",
    ]
    payment_id: str | None = None
    provider_payment_id: str | None = None
    amount_captured: int = 0
    fee_amount: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    refund_id: str | None = None
    provider_refund_id: str | None = None
    # Disputes (chargebacks): the amount withdrawn from us, the provider's dispute fee, the
    # card network's reason, and on closing the outcome.
    provider_dispute_id: str | None = None
    dispute_amount: int = 0
    dispute_fee: int = 0
    dispute_currency: str | None = None
    dispute_reason: str | None = None
    dispute_outcome: Literal["won", "lost"] | None = None
    # payout_paid / payout_failed: money on its way to (or back from) a vendor. Our payout id
    # where the provider echoes our metadata, else its transfer id identifies the payout.
    payout_id: str | None = None
    provider_transfer_id: str | None = None
    # payout_paid: the id the provider's statements list the payout under, when it is not
    # the transfer id (PayPal: the payout item's transaction, not the batch).
    provider_settlement_id: str | None = None


RecordKind = Literal["charge", "refund", "dispute", "dispute_reversal", "transfer"]


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """One money movement in the provider's own books, like a Stripe balance transaction:
    `amount` is signed from our side (a charge adds, a refund or a dispute withdraws) and
    `fee` is what the provider kept for it (negative when it gives a fee back). `source_id`
    is the provider's object (payment intent, refund, dispute, transfer)."""

    kind: RecordKind
    source_id: str
    amount: int
    fee: int
    currency: str
    created_at: datetime


class PaymentProvider(Protocol):
    name: str

    def accepts_payment_method(self, payment_method: str) -> bool:
        """Whether the token has this provider's shape (checked before anything is stored)."""
        ...

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Create and confirm a payment: authorize and capture at once."""
        ...

    async def refund(self, request: RefundRequest) -> RefundResult: ...

    async def transfer(self, request: TransferRequest) -> TransferResult: ...

    async def list_records(self, *, start: datetime, end: datetime) -> list[ProviderRecord]:
        """The provider's balance transactions created in [start, end) (reconciliation)."""
        ...

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
        """Raise InvalidSignature unless the body is signed by the provider, recently."""
        ...

    def parse_webhook(self, body: bytes) -> ProviderEvent:
        """Normalise a verified body (raises ValueError on a body that is not an event)."""
        ...


@runtime_checkable
class VerifiesWebhooksRemotely(Protocol):
    """An adapter whose provider verifies its own webhooks (PayPal's
    `verify-webhook-signature`): the receiver awaits this instead of `verify_webhook`, so
    no thread waits on the network."""

    async def verify_webhook_remotely(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> None:
        """Raise InvalidSignature unless the provider confirms the delivery is its own;
        ProviderUnavailable when it cannot be asked."""
        ...
