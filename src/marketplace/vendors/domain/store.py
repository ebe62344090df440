"""Store rules: the vendor lifecycle, KYC states, and validation of store data.

Lifecycle: an application is `pending`; an admin approves or rejects it; an approved vendor
can be suspended and reinstated. Only an approved vendor sells; a suspended one keeps
servicing the orders it already has.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import pycountry

VendorStatus = Literal["pending", "approved", "rejected", "suspended"]
KycStatus = Literal["not_started", "pending", "verified", "rejected"]
KYC_STATUSES: Final = ("not_started", "pending", "verified", "rejected")

# action -> (from statuses, to status)
TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "approve": (frozenset({"pending"}), "approved"),
    "reject": (frozenset({"pending"}), "rejected"),
    "suspend": (frozenset({"approved"}), "suspended"),
    "reinstate": (frozenset({"suspended"}), "approved"),
}


class InvalidTransition(Exception):
    def __init__(self, action: str, current: str) -> None:
        self.action = action
        self.current = current
        super().__init__(f"cannot {action} a vendor that is {current}")


def transition(current: str, action: str) -> str:
    allowed_from, to = TRANSITIONS[action]
    if current not in allowed_from:
        raise InvalidTransition(action, current)
    return to


def can_sell(status: str, vacation_mode: bool) -> bool:
    return status == "approved" and not vacation_mode


def is_public(status: str) -> bool:
    return status == "approved"


SLUG_PATTERN: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$")
RESERVED_SLUGS: Final = frozenset(
    {"admin", "api", "www", "help", "support", "marketplace", "vendors", "static", "media"}
)


def slug_problem(slug: str) -> str | None:
    if not SLUG_PATTERN.match(slug) or "--" in slug:
        return "use 3-50 lowercase letters, digits and single hyphens, not at either end"
    if slug in RESERVED_SLUGS:
        return "this slug is reserved"
    return None


def country_problem(code: str) -> str | None:
    if len(code) != 2 or not code.isupper() or pycountry.countries.get(alpha_2=code) is None:
        return "must be an ISO 3166-1 alpha-2 country code such as DE or US"
    return None
