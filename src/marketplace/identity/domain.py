"""Pure identity rules: permissions, built-in roles, password and lockout policies.

No I/O and no framework here; the service layer applies these rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

PlatformRole = Literal["admin", "support"]
PLATFORM_ROLES: Final = ("admin", "support")

# The vendor permission vocabulary (API.md); custom roles choose from these.
PERMISSIONS: Final = (
    "store.manage",
    "staff.manage",
    "products.read",
    "products.write",
    "inventory.write",
    "orders.read",
    "orders.fulfil",
    "refunds.issue",
    "reports.read",
    "payouts.read",
    "payouts.manage",
    "promotions.manage",
    "reviews.respond",
)
READ_PERMISSIONS: Final = frozenset(p for p in PERMISSIONS if p.endswith(".read"))

BUILTIN_ROLES: Final[dict[str, frozenset[str]]] = {
    "owner": frozenset(PERMISSIONS),
    # Managers run the store but cannot change who works there or move money out.
    "manager": frozenset(PERMISSIONS) - {"staff.manage", "payouts.manage"},
    "staff": frozenset(
        {
            "products.read",
            "products.write",
            "inventory.write",
            "orders.read",
            "orders.fulfil",
            "reviews.respond",
        }
    ),
}


class UnknownPermission(ValueError):
    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        super().__init__(f"unknown permissions: {', '.join(self.names)}")


def validate_permissions(names: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(names)
    unknown = chosen - set(PERMISSIONS)
    if unknown:
        raise UnknownPermission(unknown)
    return chosen


def is_builtin_role(name: str) -> bool:
    return name in BUILTIN_ROLES


# Passwords: NIST SP 800-63B: length over composition rules, and a ceiling so hashing a
# megabyte "password" cannot be used to burn CPU.
PASSWORD_MIN_LENGTH: Final = 10
PASSWORD_MAX_LENGTH: Final = 128
_COMMON_PASSWORDS: Final = frozenset(
    {
        "password123",
        "1234567890",
        "qwertyuiop",
        "password1234",
        "iloveyou123",
        "letmein1234",
        "0123456789",
        "administrator",
    }
)


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why `password` is not acceptable, or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"must be at least {PASSWORD_MIN_LENGTH} characters"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"must be at most {PASSWORD_MAX_LENGTH} characters"
    if password.lower() in _COMMON_PASSWORDS or len(set(password)) < 4:
        return "is too common"
    if email and password.lower() == email.lower():
        return "must not be the email address"
    return None


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Failed logins per account: after `threshold` failures within `window_seconds` the
    account is locked, for a time that doubles with every further failure."""

    threshold: int = 5
    window_seconds: int = 15 * 60
    base_lock_seconds: int = 60
    max_lock_seconds: int = 60 * 60

    def lock_seconds(self, failures: int) -> int:
        if failures < self.threshold:
            return 0
        doublings = failures - self.threshold
        return int(min(self.max_lock_seconds, self.base_lock_seconds * 2**doublings))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (customer, admin, support; vendor roles are per vendor) or a
    vendor API key (one vendor, a subset of permissions)."""

    kind: Literal["user", "api_key"]
    id: str
    platform_role: str | None = None
    vendor_id: str | None = None
    permissions: frozenset[str] = frozenset()

    @property
    def user_id(self) -> str | None:
        return self.id if self.kind == "user" else None

    @property
    def actor_role(self) -> str:
        if self.kind == "api_key":
            return "api_key"
        return self.platform_role or "user"


@dataclass(frozen=True, slots=True)
class VendorAccess:
    """A principal's standing in one vendor: the role that grants it and its permissions."""

    principal: Principal
    vendor_id: str
    role: str
    permissions: frozenset[str]

    @property
    def actor_role(self) -> str:
        return self.role if self.role in PLATFORM_ROLES else f"vendor:{self.role}"

    def allows(self, permission: str) -> bool:
        return permission in self.permissions


def vendor_access_for(
    principal: Principal, vendor_id: str, member_role: str | None, role_permissions: frozenset[str]
) -> VendorAccess | None:
    """What `principal` may do in `vendor_id`; None means the vendor is invisible to it."""
    if principal.kind == "api_key":
        if principal.vendor_id != vendor_id:
            return None
        return VendorAccess(principal, vendor_id, "api_key", principal.permissions)
    if member_role is not None:
        return VendorAccess(principal, vendor_id, member_role, role_permissions)
    if principal.platform_role == "admin":
        return VendorAccess(principal, vendor_id, "admin", frozenset(PERMISSIONS))
    if principal.platform_role == "support":
        return VendorAccess(principal, vendor_id, "support", READ_PERMISSIONS)
    return None
