"""Vendor tables (prefix `vendors_`), one module per aggregate."""

from marketplace.vendors.models.commission import CommissionRule
from marketplace.vendors.models.store import PayoutAccount, ShippingOption, StaffInvitation, Vendor

__all__ = ["CommissionRule", "PayoutAccount", "ShippingOption", "StaffInvitation", "Vendor"]
