"""Identity HTTP routes: auth, the caller's profile, vendor API keys and vendor roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from marketplace.identity import repository as repo
from marketplace.identity import service
from marketplace.identity.domain import BUILTIN_ROLES, VendorAccess
from marketplace.identity.models import ApiKey, User
from marketplace.identity.public import (
    CurrentUser,
    IdentityDep,
    bearer,
    vendor_permission,
)
from marketplace.identity.runtime import IdentityRuntime
from marketplace.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    LogoutIn,
    MembershipRead,
    MeRead,
    MeUpdate,
    RefreshIn,
    RegisterIn,
    RoleCreate,
    RoleRead,
    TokenIn,
    TokenOut,
    UserRead,
)
from marketplace.identity.tokens import TokenError
from marketplace.platform.errors import NotFound
from marketplace.platform.http import UoW

router = APIRouter()

StaffManager = Annotated[VendorAccess, Depends(vendor_permission("staff.manage"))]


def _user_read(rt: IdentityRuntime, user: User) -> UserRead:
    return UserRead(
        id=user.id,
        email=user.email,
        name=user.name,
        phone=service.user_phone(rt, user),
        locale=user.locale,
        platform_role=user.platform_role,
        created_at=user.created_at,
    )


def _token_out(pair: service.TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/auth/register", status_code=201, tags=["auth"], summary="Register a customer")
async def register(body: RegisterIn, uow: UoW, rt: IdentityDep) -> UserRead:
    user = await service.register(
        uow, rt, email=body.email, password=body.password, name=body.name, locale=body.locale
    )
    return _user_read(rt, user)


_TOKEN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/TokenIn"}},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "description": "the email"},
                        "password": {"type": "string"},
                        "grant_type": {"type": "string", "enum": ["password"]},
                    },
                }
            },
        },
    }
}


async def _credentials(request: Request) -> TokenIn:
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            # The OAuth2 password form, so that /docs "Authorize" works.
            form = await request.form()
            return TokenIn.model_validate(
                {
                    "email": form.get("username") or form.get("email"),
                    "password": form.get("password"),
                }
            )
        return TokenIn.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


@router.post(
    "/auth/token",
    tags=["auth"],
    summary="Log in: email and password for an access and a refresh token",
    openapi_extra=_TOKEN_BODY,
    responses={401: {"description": "invalid credentials"}, 429: {"description": "locked"}},
)
async def token(request: Request, uow: UoW, rt: IdentityDep) -> TokenOut:
    credentials = await _credentials(request)
    pair = await service.login(
        uow,
        rt,
        email=credentials.email,
        password=credentials.password,
        ip=request.client.host if request.client else None,
    )
    return _token_out(pair)


@router.post("/auth/refresh", tags=["auth"], summary="Rotate a refresh token")
async def refresh(body: RefreshIn, uow: UoW, rt: IdentityDep) -> TokenOut:
    return _token_out(await service.refresh(uow, rt, refresh_token=body.refresh_token))


@router.post("/auth/logout", status_code=204, tags=["auth"], summary="End this session")
async def logout(
    uow: UoW,
    rt: IdentityDep,
    user: CurrentUser,
    credential: Annotated[str | None, Depends(bearer)],
    body: LogoutIn | None = None,
) -> Response:
    jti = expires_at = None
    if credential:
        try:
            claims = rt.access_tokens.verify(credential)
            jti, expires_at = claims.jti, claims.expires_at
        except TokenError:
            pass
    await service.logout(
        uow,
        rt,
        refresh_token=body.refresh_token if body else None,
        access_jti=jti,
        access_expires_at=expires_at,
    )
    return Response(status_code=204)


async def _me(uow: UoW, rt: IdentityRuntime, user_id: str) -> MeRead:
    user = await repo.user_by_id(uow.session, user_id)
    if user is None:
        raise NotFound()
    memberships = await repo.user_memberships(uow.session, user_id)
    return MeRead(
        **_user_read(rt, user).model_dump(),
        vendors=[MembershipRead(vendor_id=m.vendor_id, role=m.role) for m in memberships],
    )


@router.get("/me", tags=["me"], summary="The caller's profile and vendor memberships")
async def get_me(uow: UoW, rt: IdentityDep, user: CurrentUser) -> MeRead:
    return await _me(uow, rt, user.id)


@router.patch("/me", tags=["me"], summary="Change name, phone, locale or password")
async def patch_me(body: MeUpdate, uow: UoW, rt: IdentityDep, user: CurrentUser) -> MeRead:
    fields = body.model_fields_set
    await service.update_profile(
        uow,
        rt,
        user_id=user.id,
        name=body.name,
        phone=body.phone,
        clear_phone="phone" in fields and body.phone is None,
        locale=body.locale,
        new_password=body.password,
        current_password=body.current_password,
    )
    await uow.flush()
    return await _me(uow, rt, user.id)


def _key_read(key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        permissions=list(key.permissions),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.post(
    "/vendors/{vid}/api-keys", status_code=201, tags=["api keys"], summary="Create an API key"
)
async def create_api_key(
    body: ApiKeyCreate, uow: UoW, access: StaffManager, user: CurrentUser
) -> ApiKeyCreated:
    key, plaintext = await service.create_api_key(
        uow, access=access, name=body.name, permissions=body.permissions
    )
    return ApiKeyCreated(**_key_read(key).model_dump(), key=plaintext)


@router.get("/vendors/{vid}/api-keys", tags=["api keys"], summary="List the vendor's API keys")
async def list_api_keys(uow: UoW, access: StaffManager) -> list[ApiKeyRead]:
    return [_key_read(k) for k in await repo.vendor_api_keys(uow.session, access.vendor_id)]


@router.delete("/vendors/{vid}/api-keys/{key_id}", tags=["api keys"], summary="Revoke an API key")
async def revoke_api_key(key_id: str, uow: UoW, access: StaffManager) -> ApiKeyRead:
    return _key_read(await service.revoke_api_key(uow, access=access, key_id=key_id))


@router.get("/vendors/{vid}/roles", tags=["vendor roles"], summary="Built-in and custom roles")
async def list_roles(uow: UoW, access: StaffManager) -> list[RoleRead]:
    builtin = [
        RoleRead(name=name, permissions=sorted(perms), builtin=True)
        for name, perms in BUILTIN_ROLES.items()
    ]
    custom = [
        RoleRead(name=r.name, permissions=list(r.permissions), builtin=False)
        for r in await repo.vendor_roles(uow.session, access.vendor_id)
    ]
    return builtin + custom


@router.post(
    "/vendors/{vid}/roles", status_code=201, tags=["vendor roles"], summary="Create a role"
)
async def create_role(body: RoleCreate, uow: UoW, access: StaffManager) -> RoleRead:
    role = await service.create_role(
        uow, access=access, name=body.name, permissions=body.permissions
    )
    return RoleRead(name=role.name, permissions=list(role.permissions), builtin=False)
