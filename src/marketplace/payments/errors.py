"""Payments error codes: each exception carries its HTTP status, code and title."""

from __future__ import annotations

from marketplace.platform.errors import AppError, Conflict, NotFound, ValidationFailed


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    title = "Payment not found"


class VendorOrderNotFound(NotFound):
    code = "vendor_order_not_found"
    title = "No payment covers this vendor order"


class RefundNotFound(NotFound):
    code = "refund_not_found"
    title = "Refund not found"


class PaymentNotRefundable(ValidationFailed):
    code = "payment_not_refundable"
    title = "Only a succeeded payment can be refunded"


class RefundExceedsRemaining(ValidationFailed):
    code = "refund_exceeds_remaining"
    title = "The refund exceeds what remains refundable"


class PaymentAlreadyCaptured(Conflict):
    code = "payment_already_captured"
    title = "The payment was already captured"


class PaymentInProgress(Conflict):
    code = "payment_in_progress"
    title = "A payment for this order is being created"


class ProviderUnavailableError(AppError):
    """The provider did not answer; the payment stays pending and a retry is safe."""

    status = 503
    code = "payment_provider_unavailable"
    title = "The payment provider is unavailable"


class ProviderRejectedError(AppError):
    """The provider refused the request for a reason that is ours, not the customer's
    (credentials, account configuration): the payment stays pending, operators must act."""

    status = 502
    code = "payment_provider_error"
    title = "The payment provider refused the request"


class InvalidWebhookSignature(AppError):
    status = 400
    code = "invalid_signature"
    title = "Webhook signature verification failed"


class UnknownProvider(NotFound):
    code = "payment_provider_not_found"
    title = "No such payment provider"


class ChargebackNotFound(NotFound):
    code = "chargeback_not_found"
    title = "Chargeback not found"


class ReconciliationRunNotFound(NotFound):
    code = "reconciliation_run_not_found"
    title = "Reconciliation run not found"


class PayoutNotFound(NotFound):
    code = "payout_not_found"
    title = "Payout not found"


class PayoutRunNotFound(NotFound):
    code = "payout_run_not_found"
    title = "Payout run not found"


class PayoutKycRequired(Conflict):
    code = "payout_kyc_required"
    title = "The vendor's identity (KYC) must be verified before a payout"


class PayoutVendorNotApproved(Conflict):
    code = "payout_vendor_not_approved"
    title = "Payouts are held while the store is suspended or not approved"


class PayoutAccountRequired(Conflict):
    code = "payout_account_required"
    title = "The vendor has no payout account"


class PayoutNothingAvailable(Conflict):
    code = "payout_nothing_available"
    title = "The vendor's available balance is zero or negative"


class PayoutExceedsAvailable(ValidationFailed):
    code = "payout_exceeds_available"
    title = "The payout exceeds the vendor's available balance"


class PayoutsUnavailable(AppError):
    """No enabled provider can make payouts (configuration)."""

    status = 503
    code = "payouts_unavailable"
    title = "No payment provider is enabled for payouts"
