"""What other contexts use of identity: who is calling, and what they may do.

Routes take one of these dependencies instead of checking access themselves:

* `CurrentPrincipal` / `OptionalPrincipal` / `CurrentUser` (a person, not an API key);
* `AdminReader` (admin or support) and `AdminWriter` (admin) for `/v1/admin/...`;
* `vendor_permission("orders.read")` for `/v1/vendors/{vid}/...`: a caller who is not of that
  vendor gets 404 (the vendor's data is invisible to them), a member or key lacking the
  permission gets 403, and platform support may only use read permissions.

Plus facades for the vendors context: granting and revoking memberships (owner on approval,
staff invitations), and reading a user's email and name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer

from marketplace.identity import repository as repo
from marketplace.identity import service
from marketplace.identity.domain import PERMISSIONS, Principal, VendorAccess, is_builtin_role
from marketplace.identity.runtime import IdentityRuntime
from marketplace.identity.tokens import looks_like_api_key, sha256_hex
from marketplace.platform.errors import Forbidden, NotFound, Unauthorized
from marketplace.platform.http import UoW
from marketplace.platform.uow import UnitOfWork

__all__ = [
    "PERMISSIONS",
    "AdminReader",
    "AdminWriter",
    "CurrentPrincipal",
    "CurrentUser",
    "IdentityDep",
    "OptionalPrincipal",
    "Principal",
    "UserSummary",
    "VendorAccess",
    "grant_membership",
    "idempotency_scope_resolver",
    "normalize_email",
    "revoke_membership",
    "role_exists",
    "user_id_by_email",
    "user_summary",
    "vendor_access",
    "vendor_members",
    "vendor_permission",
    "verify_password",
]

bearer = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token",
    auto_error=False,
    description="An access token from /v1/auth/token, or a vendor API key (mk_...)",
)

_STATE_KEY = "principal"


async def runtime(request: Request) -> IdentityRuntime:
    identity = getattr(request.app.state, "identity", None)
    if not isinstance(identity, IdentityRuntime):
        raise RuntimeError("the identity context is not configured in this app")
    return identity


IdentityDep = Annotated[IdentityRuntime, Depends(runtime)]


async def optional_principal(
    request: Request,
    uow: UoW,
    rt: IdentityDep,
    credential: Annotated[str | None, Depends(bearer)],
) -> Principal | None:
    state = request.scope.setdefault("state", {})
    if _STATE_KEY in state:
        cached: Principal | None = state[_STATE_KEY]
        return cached
    principal = await service.resolve_principal(uow, rt, credential) if credential else None
    if credential and principal is None:
        raise Unauthorized(
            "the access token or API key is invalid, expired or revoked",
            code="invalid_token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    state[_STATE_KEY] = principal
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def current_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise Unauthorized(
            "sign in: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def current_user(principal: CurrentPrincipal) -> Principal:
    if principal.kind != "user":
        raise Forbidden("this operation is for people, not API keys", code="user_required")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def platform_role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.platform_role not in roles:
            raise Forbidden(f"requires platform role: {' or '.join(roles)}")
        return principal

    return dependency


AdminReader = Annotated[Principal, Depends(platform_role("admin", "support"))]
AdminWriter = Annotated[Principal, Depends(platform_role("admin"))]


def vendor_permission(permission: str) -> Callable[..., Awaitable[VendorAccess]]:
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    async def dependency(
        uow: UoW,
        principal: CurrentPrincipal,
        vid: Annotated[str, Path(description="vendor id", max_length=40)],
    ) -> VendorAccess:
        access = await service.vendor_access(uow, principal, vid)
        if access is None:
            raise NotFound("vendor not found", code="vendor_not_found")
        if not access.allows(permission):
            raise Forbidden(f"requires the {permission} permission")
        return access

    return dependency


def idempotency_scope_resolver(rt: IdentityRuntime) -> Callable[[Any], Awaitable[str | None]]:
    """Scope Idempotency-Keys by principal, so a refreshed access token keeps its keys."""

    async def resolve(scope: Any) -> str | None:
        for name, value in scope.get("headers", ()):
            if name != b"authorization":
                continue
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not credential:
                return None
            if looks_like_api_key(credential):
                return "key:" + sha256_hex(credential)
            subject = rt.access_tokens.subject_without_lookup(credential)
            return f"usr:{subject}" if subject else None
        return None

    return resolve


@dataclass(frozen=True, slots=True)
class UserSummary:
    id: str
    email: str
    name: str
    locale: str | None


async def user_summary(uow: UnitOfWork, user_id: str) -> UserSummary | None:
    user = await repo.user_by_id(uow.session, user_id)
    if user is None:
        return None
    return UserSummary(id=user.id, email=user.email, name=user.name, locale=user.locale)


async def user_id_by_email(uow: UnitOfWork, email: str) -> str | None:
    user = await repo.user_by_email(uow.session, service.normalize_email(email))
    return user.id if user is not None else None


async def verify_password(
    uow: UnitOfWork, rt: IdentityRuntime, *, user_id: str, password: str
) -> bool:
    """Re-confirm a signed-in user's password before a sensitive change."""
    import asyncio

    user = await repo.user_by_id(uow.session, user_id)
    if user is None:
        return False
    return await asyncio.to_thread(rt.passwords.verify, user.password_hash, password)


async def vendor_members(uow: UnitOfWork, vendor_id: str) -> list[tuple[UserSummary, str]]:
    """The vendor's members with their roles, oldest first."""
    return [
        (UserSummary(user_id, email, name, locale), role)
        for user_id, email, name, locale, role in await repo.vendor_member_users(
            uow.session, vendor_id
        )
    ]


async def owner_locales(uow: UnitOfWork, vendor_ids: Sequence[str]) -> dict[str, str | None]:
    """Each vendor's oldest owner's own locale (None if they chose none), in one query, as
    `vendor_members` would give it; vendors without an owner are left out."""
    locales: dict[str, str | None] = {}
    for vendor_id, locale in await repo.owner_locales(uow.session, vendor_ids):
        locales.setdefault(vendor_id, locale)
    return locales


async def role_exists(uow: UnitOfWork, vendor_id: str, role: str) -> bool:
    """A built-in role, or one of this vendor's custom roles."""
    return is_builtin_role(role) or await repo.vendor_role(uow.session, vendor_id, role) is not None


normalize_email = service.normalize_email
vendor_access = service.vendor_access
grant_membership = service.grant_membership
revoke_membership = service.revoke_membership
