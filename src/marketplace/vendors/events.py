"""Events the vendors context publishes (notifications and other contexts subscribe)."""

from __future__ import annotations

from marketplace.platform.messaging import Event


class VendorApplied(Event):
    name = "vendors.vendor_applied.v1"
    vendor_id: str
    owner_id: str
    store_name: str


class VendorStatusChanged(Event):
    """Approved, rejected, suspended or reinstated; `reason` for rejections and suspensions."""

    name = "vendors.vendor_status_changed.v1"
    vendor_id: str
    owner_id: str
    previous_status: str
    status: str
    action: str
    reason: str | None = None


class VendorUpdated(Event):
    name = "vendors.vendor_updated.v1"
    vendor_id: str
    fields: list[str]


class PayoutAccountChanged(Event):
    name = "vendors.payout_account_changed.v1"
    vendor_id: str
    masked: str
    changed_by: str


class KycStatusChanged(Event):
    name = "vendors.kyc_status_changed.v1"
    vendor_id: str
    status: str


class StaffInvited(Event):
    name = "vendors.staff_invited.v1"
    vendor_id: str
    email: str
    role: str
    invited_by: str
