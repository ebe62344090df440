"""Events the identity context publishes."""

from __future__ import annotations

from marketplace.platform.messaging import Event


class UserRegistered(Event):
    name = "identity.user_registered.v1"
    user_id: str
    email: str
    locale: str | None = None


class VendorMemberAdded(Event):
    name = "identity.vendor_member_added.v1"
    vendor_id: str
    user_id: str
    role: str
