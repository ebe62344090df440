"""Identity use cases: registration, login, token refresh and logout, the caller's profile,
principal resolution, vendor API keys, vendor roles and memberships.

Each function is one use case on the caller's unit of work; none commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError

from marketplace.compliance.public import record_audit
from marketplace.identity import repository as repo
from marketplace.identity.domain import (
    BUILTIN_ROLES,
    Principal,
    VendorAccess,
    is_builtin_role,
    password_problem,
    validate_permissions,
    vendor_access_for,
)
from marketplace.identity.errors import (
    ApiKeyNotFound,
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    LastOwner,
    RefreshTokenReused,
    RoleExists,
    UserNotFound,
)
from marketplace.identity.events import UserRegistered, VendorMemberAdded
from marketplace.identity.models import ApiKey, RefreshToken, User, VendorMember, VendorRole
from marketplace.identity.runtime import IdentityRuntime
from marketplace.identity.tokens import (
    TokenError,
    looks_like_api_key,
    new_api_key,
    new_refresh_token,
    sha256_hex,
)
from marketplace.platform.clock import utcnow
from marketplace.platform.db import is_unique_violation
from marketplace.platform.errors import RateLimited, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.ratelimit import enforce
from marketplace.platform.uow import UnitOfWork

API_KEY_TOUCH_SECONDS = 60


class AccountLocked(RateLimited):
    code = "account_locked"
    title = "Too many failed logins"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def normalize_email(email: str, *, field: str = "email") -> str:
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed.on_field(["body", field], str(error), "invalid_email") from None
    # Lower-casing the local part too: mailbox case-sensitivity is theory, duplicates are real.
    return result.normalized.lower()


def _check_password(password: str, email: str, field: str = "password") -> None:
    problem = password_problem(password, email=email)
    if problem:
        raise ValidationFailed.on_field(["body", field], f"password {problem}", "weak_password")


def phone_context(user_id: str) -> str:
    return f"identity_user.phone_encrypted:{user_id}"


def user_phone(rt: IdentityRuntime, user: User) -> str | None:
    if user.phone_encrypted is None:
        return None
    return rt.cipher.decrypt(user.phone_encrypted, context=phone_context(user.id))


async def register(
    uow: UnitOfWork,
    rt: IdentityRuntime,
    *,
    email: str,
    password: str,
    name: str,
    locale: str | None = None,
    platform_role: str | None = None,
) -> User:
    email = normalize_email(email)
    _check_password(password, email)
    if await repo.user_by_email(uow.session, email) is not None:
        raise EmailTaken(f"{email} already has an account")
    now = utcnow()
    user = User(
        id=new_id("usr"),
        email=email,
        password_hash=await asyncio.to_thread(rt.passwords.hash, password),
        name=name.strip(),
        locale=locale,
        platform_role=platform_role,
        status="active",
        tokens_valid_after=now.replace(microsecond=0),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(user)
    try:
        await uow.session.flush()
    except IntegrityError as error:
        # Two registrations racing for one email: the unique index decides.
        if is_unique_violation(error):
            raise EmailTaken(f"{email} already has an account") from None
        raise
    uow.publish(UserRegistered(user_id=user.id, email=email, locale=locale))
    return user


async def _issue_tokens(
    uow: UnitOfWork, rt: IdentityRuntime, user: User, *, family_id: str | None = None
) -> TokenPair:
    access, _claims = rt.access_tokens.mint(user_id=user.id, platform_role=user.platform_role)
    refresh = new_refresh_token()
    now = utcnow()
    uow.session.add(
        RefreshToken(
            id=new_id("rtk"),
            user_id=user.id,
            family_id=family_id or new_id("rtf"),
            token_hash=sha256_hex(refresh),
            created_at=now,
            expires_at=now + rt.config.refresh_ttl,
        )
    )
    return TokenPair(access, refresh, int(rt.config.access_ttl.total_seconds()))


def _fail_key(email: str) -> str:
    return f"login:fail:{sha256_hex(email)}"


def _lock_key(email: str) -> str:
    return f"login:lock:{sha256_hex(email)}"


async def login(
    uow: UnitOfWork, rt: IdentityRuntime, *, email: str, password: str, ip: str | None
) -> TokenPair:
    await enforce(rt.limiter, f"auth:ip:{ip or 'unknown'}", rt.config.auth_rate_limit)
    try:
        email = normalize_email(email)
    except ValidationFailed:
        raise InvalidCredentials("email or password is wrong") from None
    locked_for = await rt.cache.ttl(_lock_key(email))
    if locked_for:
        raise AccountLocked(locked_for, "too many failed logins; try again later")

    user = await repo.user_by_email(uow.session, email)
    hash_ = user.password_hash if user is not None and user.status == "active" else None
    valid = await asyncio.to_thread(rt.passwords.verify, hash_, password)
    if not valid or user is None:
        policy = rt.config.lockout
        failures = await rt.cache.incr(_fail_key(email), ttl_seconds=policy.window_seconds)
        lock_seconds = policy.lock_seconds(failures)
        if lock_seconds:
            await rt.cache.set(_lock_key(email), b"1", ttl_seconds=lock_seconds)
        raise InvalidCredentials("email or password is wrong")

    await rt.cache.delete(_fail_key(email))
    if rt.passwords.needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(rt.passwords.hash, password)
    user.last_login_at = utcnow()
    return await _issue_tokens(uow, rt, user)


async def refresh(uow: UnitOfWork, rt: IdentityRuntime, *, refresh_token: str) -> TokenPair:
    now = utcnow()
    token = await repo.refresh_token_by_hash(uow.session, sha256_hex(refresh_token))
    if token is None or token.expires_at <= now:
        raise InvalidToken("refresh token is invalid or expired")
    if token.revoked_at is not None:
        raise InvalidToken("refresh token was revoked")
    if not await repo.mark_refresh_token_used(uow.session, token.id, now):
        # Reuse means the token leaked: end the whole session family (committed with the 401).
        await repo.revoke_family(uow.session, token.family_id, now)
        raise RefreshTokenReused("this refresh token was already used; the session is revoked")
    user = await repo.user_by_id(uow.session, token.user_id)
    if user is None or user.status != "active":
        raise InvalidToken("refresh token is invalid or expired")
    return await _issue_tokens(uow, rt, user, family_id=token.family_id)


async def logout(
    uow: UnitOfWork,
    rt: IdentityRuntime,
    *,
    refresh_token: str | None,
    access_jti: str | None,
    access_expires_at: datetime | None,
) -> None:
    now = utcnow()
    if refresh_token:
        token = await repo.refresh_token_by_hash(uow.session, sha256_hex(refresh_token))
        if token is not None:
            await repo.revoke_family(uow.session, token.family_id, now)
    if access_jti and access_expires_at:
        remaining = int((access_expires_at - now).total_seconds())
        if remaining > 0:
            await rt.cache.set(f"revoked:jti:{access_jti}", b"1", ttl_seconds=remaining + 1)


async def update_profile(
    uow: UnitOfWork,
    rt: IdentityRuntime,
    *,
    user_id: str,
    name: str | None = None,
    phone: str | None = None,
    clear_phone: bool = False,
    locale: str | None = None,
    new_password: str | None = None,
    current_password: str | None = None,
) -> User:
    user = await repo.user_by_id(uow.session, user_id)
    if user is None:
        raise UserNotFound()
    if new_password is not None:
        if current_password is None or not await asyncio.to_thread(
            rt.passwords.verify, user.password_hash, current_password
        ):
            raise ValidationFailed.on_field(
                ["body", "current_password"], "current password is wrong", "invalid_password"
            )
        _check_password(new_password, user.email)
        user.password_hash = await asyncio.to_thread(rt.passwords.hash, new_password)
        # Every other session ends with a password change.
        now = utcnow()
        user.tokens_valid_after = now.replace(microsecond=0)
        await repo.revoke_user_refresh_tokens(uow.session, user.id, now)
    before = {"name": user.name, "locale": user.locale, "phone": user.phone_encrypted}
    if name is not None:
        user.name = name.strip()
    if locale is not None:
        user.locale = locale
    if clear_phone:
        user.phone_encrypted = None
    elif phone is not None:
        user.phone_encrypted = rt.cipher.encrypt(phone, context=phone_context(user.id))
    user.updated_at = utcnow()
    after = {"name": user.name, "locale": user.locale, "phone": user.phone_encrypted}
    # Password changes are security events for everyone; other profile edits are audited
    # for platform staff, whose accounts can do the most harm.
    if new_password is not None or (user.platform_role and before != after):
        changed_before = {k: v for k, v in before.items() if after[k] != v}
        changed_after = {k: after[k] for k in changed_before}
        if new_password is not None:
            changed_before["password"], changed_after["password"] = "old", "new"
        record_audit(
            uow,
            actor_id=user.id,
            actor_role=user.platform_role or "user",
            action="user.password_changed" if new_password is not None else "user.updated",
            resource_type="user",
            resource_id=user.id,
            before=changed_before,
            after=changed_after,
        )
    return user


async def resolve_principal(
    uow: UnitOfWork, rt: IdentityRuntime, credential: str
) -> Principal | None:
    """The principal behind a bearer credential, or None when it is not valid."""
    if looks_like_api_key(credential):
        key = await repo.api_key_by_hash(uow.session, sha256_hex(credential))
        if key is None or key.revoked_at is not None:
            return None
        now = utcnow()
        # Touch at most once a minute: a write per request would make keys a hot row.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            key.last_used_at = now
        return Principal(
            kind="api_key",
            id=key.id,
            vendor_id=key.vendor_id,
            permissions=frozenset(key.permissions),
        )
    try:
        claims = rt.access_tokens.verify(credential)
    except TokenError:
        return None
    if await rt.cache.get(f"revoked:jti:{claims.jti}") is not None:
        return None
    user = await repo.user_standing(uow.session, claims.user_id)
    if user is None or user.status != "active" or claims.issued_at < user.tokens_valid_after:
        return None
    return Principal(kind="user", id=claims.user_id, platform_role=user.platform_role)


async def role_permissions(uow: UnitOfWork, vendor_id: str, role: str) -> frozenset[str]:
    if is_builtin_role(role):
        return BUILTIN_ROLES[role]
    custom = await repo.vendor_role(uow.session, vendor_id, role)
    return frozenset(custom.permissions) if custom is not None else frozenset()


async def vendor_access(
    uow: UnitOfWork, principal: Principal, vendor_id: str
) -> VendorAccess | None:
    member_role: str | None = None
    permissions: frozenset[str] = frozenset()
    if principal.kind == "user":
        member = await repo.membership(uow.session, vendor_id, principal.id)
        if member is not None:
            member_role = member.role
            permissions = await role_permissions(uow, vendor_id, member.role)
    return vendor_access_for(principal, vendor_id, member_role, permissions)


def _permissions_field(names: Iterable[str]) -> frozenset[str]:
    try:
        return validate_permissions(names)
    except ValueError as error:
        raise ValidationFailed.on_field(
            ["body", "permissions"], str(error), "unknown_permission"
        ) from None


async def create_api_key(
    uow: UnitOfWork, *, access: VendorAccess, name: str, permissions: Iterable[str]
) -> tuple[ApiKey, str]:
    chosen = _permissions_field(permissions)
    beyond = chosen - access.permissions
    if beyond:
        # A key never grants more than its creator holds.
        raise ValidationFailed.on_field(
            ["body", "permissions"],
            f"you cannot grant permissions you do not hold: {', '.join(sorted(beyond))}",
            "permission_not_held",
        )
    plaintext = new_api_key()
    key = ApiKey(
        id=new_id("key"),
        vendor_id=access.vendor_id,
        name=name.strip(),
        prefix=plaintext[3:11],
        key_hash=sha256_hex(plaintext),
        permissions=sorted(chosen),
        created_by=access.principal.id,
        created_at=utcnow(),
    )
    uow.session.add(key)
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="api_key.created",
        resource_type="api_key",
        resource_id=key.id,
        after={"vendor_id": key.vendor_id, "name": key.name, "permissions": key.permissions},
    )
    return key, plaintext


async def revoke_api_key(uow: UnitOfWork, *, access: VendorAccess, key_id: str) -> ApiKey:
    key = await repo.vendor_api_key(uow.session, access.vendor_id, key_id)
    if key is None:
        raise ApiKeyNotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record_audit(
            uow,
            actor_id=access.principal.id,
            actor_role=access.actor_role,
            action="api_key.revoked",
            resource_type="api_key",
            resource_id=key.id,
            before={"revoked": False},
            after={"revoked": True},
        )
    return key


async def create_role(
    uow: UnitOfWork, *, access: VendorAccess, name: str, permissions: Iterable[str]
) -> VendorRole:
    chosen = _permissions_field(permissions)
    name = name.strip().lower()
    if is_builtin_role(name) or await repo.vendor_role(uow.session, access.vendor_id, name):
        raise RoleExists(f"role {name!r} already exists")
    role = VendorRole(
        id=new_id("rol"),
        vendor_id=access.vendor_id,
        name=name,
        permissions=sorted(chosen),
        created_at=utcnow(),
    )
    uow.session.add(role)
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="vendor_role.created",
        resource_type="vendor_role",
        resource_id=role.id,
        after={"vendor_id": role.vendor_id, "name": name, "permissions": role.permissions},
    )
    return role


async def grant_membership(
    uow: UnitOfWork,
    *,
    vendor_id: str,
    user_id: str,
    role: str,
    actor_id: str,
    actor_role: str,
) -> VendorMember:
    if not is_builtin_role(role) and await repo.vendor_role(uow.session, vendor_id, role) is None:
        raise ValidationFailed.on_field(["body", "role"], f"unknown role {role!r}", "unknown_role")
    if await repo.user_by_id(uow.session, user_id) is None:
        raise UserNotFound()
    member = await repo.membership(uow.session, vendor_id, user_id)
    before = {"role": member.role} if member else None
    if member is None:
        member = VendorMember(
            id=new_id("mem"),
            vendor_id=vendor_id,
            user_id=user_id,
            role=role,
            created_at=utcnow(),
        )
        uow.session.add(member)
        uow.publish(VendorMemberAdded(vendor_id=vendor_id, user_id=user_id, role=role))
    else:
        if member.role == "owner" and role != "owner":
            await _keep_an_owner(uow, vendor_id)
        member.role = role
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="vendor_member.granted",
        resource_type="vendor_member",
        resource_id=f"{vendor_id}:{user_id}",
        before=before,
        after={"role": role},
    )
    return member


async def _keep_an_owner(uow: UnitOfWork, vendor_id: str) -> None:
    if await repo.count_owners(uow.session, vendor_id) <= 1:
        raise LastOwner("the vendor's last owner cannot be removed or demoted")


async def revoke_membership(
    uow: UnitOfWork, *, vendor_id: str, user_id: str, actor_id: str, actor_role: str
) -> None:
    member = await repo.membership(uow.session, vendor_id, user_id)
    if member is None:
        raise UserNotFound("no such member")
    if member.role == "owner":
        await _keep_an_owner(uow, vendor_id)
    await uow.session.delete(member)
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="vendor_member.removed",
        resource_type="vendor_member",
        resource_id=f"{vendor_id}:{user_id}",
        before={"role": member.role},
    )


async def create_admin(
    uow: UnitOfWork, rt: IdentityRuntime, *, email: str, password: str, name: str
) -> tuple[User, bool]:
    """Create a platform admin, or promote an existing account; returns (user, created)."""
    normalized = normalize_email(email)
    existing = await repo.user_by_email(uow.session, normalized)
    if existing is not None:
        before = existing.platform_role
        existing.platform_role = "admin"
        existing.updated_at = utcnow()
        record_audit(
            uow,
            actor_id="cli",
            actor_role="operator",
            action="user.promoted",
            resource_type="user",
            resource_id=existing.id,
            before={"platform_role": before},
            after={"platform_role": "admin"},
        )
        return existing, False
    user = await register(
        uow, rt, email=normalized, password=password, name=name, platform_role="admin"
    )
    record_audit(
        uow,
        actor_id="cli",
        actor_role="operator",
        action="user.admin_created",
        resource_type="user",
        resource_id=user.id,
        after={"email": user.email, "platform_role": "admin"},
    )
    return user, True
