"""Store routes: apply, the vendor page, profile and settings, payout account, staff, and
the admin review queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from marketplace.identity.public import (
    AdminReader,
    AdminWriter,
    CurrentUser,
    IdentityDep,
    OptionalPrincipal,
    Principal,
    VendorAccess,
    revoke_membership,
    vendor_members,
    vendor_permission,
    verify_password,
)
from marketplace.identity.public import (
    vendor_access as principal_vendor_access,
)
from marketplace.platform.crypto import FieldCipher, mask
from marketplace.platform.db import AnyRow
from marketplace.platform.errors import Forbidden, ValidationFailed
from marketplace.platform.http import Cipher, UoW
from marketplace.platform.money import MoneySchema
from marketplace.platform.pagination import Page, PageQuery, SortKey, paginate
from marketplace.vendors.domain.store import VendorStatus, is_public
from marketplace.vendors.models import PayoutAccount, ShippingOption, Vendor
from marketplace.vendors.repository import store as repo
from marketplace.vendors.schemas.store import (
    BusinessRead,
    KycUpdate,
    MemberInvite,
    MemberRead,
    PayoutAccountIn,
    PayoutAccountRead,
    Rating,
    Reason,
    ShippingOptionRead,
    VendorApply,
    VendorPatch,
    VendorPrivateRead,
    VendorRead,
    VendorSettings,
)
from marketplace.vendors.service import store as service

router = APIRouter(tags=["vendors"])
admin = APIRouter(tags=["vendor review"])

StoreManager = Annotated[VendorAccess, Depends(vendor_permission("store.manage"))]
StaffManager = Annotated[VendorAccess, Depends(vendor_permission("staff.manage"))]
PayoutReader = Annotated[VendorAccess, Depends(vendor_permission("payouts.read"))]
PayoutManager = Annotated[VendorAccess, Depends(vendor_permission("payouts.manage"))]


def _options(options: Sequence[ShippingOption | AnyRow]) -> list[ShippingOptionRead]:
    return [
        ShippingOptionRead(
            id=o.id,
            name=o.name,
            price=MoneySchema(amount=o.price_amount, currency=o.price_currency),
            delivery_days_min=o.delivery_days_min,
            delivery_days_max=o.delivery_days_max,
            countries=list(o.countries),
        )
        for o in options
    ]


def _public(vendor: Vendor, options: Sequence[ShippingOption | AnyRow]) -> VendorRead:
    return VendorRead(
        id=vendor.id,
        slug=vendor.slug,
        name=vendor.name,
        status=vendor.status,
        description=vendor.description,
        logo_url=vendor.logo_url,
        banner_url=vendor.banner_url,
        country=vendor.country,
        default_currency=vendor.default_currency,
        currencies=list(vendor.currencies),
        support_email=vendor.support_email,
        support_phone=vendor.support_phone,
        policies=dict(vendor.policies),
        shipping_options=_options(options),
        return_window_days=vendor.return_window_days,
        handling_days=vendor.handling_days,
        vacation_mode=vendor.vacation_mode,
        vacation_message=vendor.vacation_message,
        rating=Rating(average=service.rating_average(vendor), count=vendor.rating_count),
        created_at=vendor.created_at,
        approved_at=vendor.approved_at,
    )


def _private(
    cipher: FieldCipher, vendor: Vendor, options: Sequence[ShippingOption | AnyRow]
) -> VendorPrivateRead:
    tax_id = (
        cipher.decrypt(vendor.tax_id_encrypted, context=service.tax_id_context(vendor.id))
        if vendor.tax_id_encrypted
        else None
    )
    return VendorPrivateRead(
        **_public(vendor, options).model_dump(),
        business=BusinessRead(
            legal_name=vendor.legal_name,
            country=vendor.country,
            tax_id=mask(tax_id),
            address=dict(vendor.address),
        ),
        contact_email=vendor.contact_email,
        kyc_status=vendor.kyc_status,
        status_reason=vendor.status_reason,
    )


async def _read(uow: UoW, cipher: FieldCipher, vendor: Vendor) -> VendorPrivateRead:
    options = list(await repo.active_shipping_options(uow.session, vendor.id))
    return _private(cipher, vendor, options)


@router.post("/vendors", status_code=201, summary="Apply to sell: you become the owner")
async def apply(
    body: VendorApply, uow: UoW, cipher: Cipher, user: CurrentUser
) -> VendorPrivateRead:
    vendor = await service.apply(uow, cipher, user_id=user.id, body=body)
    return _private(cipher, vendor, [])


@router.get("/vendors", summary="Approved vendors, newest first")
async def list_vendors(uow: UoW, page: PageQuery) -> Page[VendorRead]:
    rows, cursor = await paginate(
        uow.session,
        repo.vendors_with_status("approved"),
        keys=[SortKey(Vendor.created_at, descending=True), SortKey(Vendor.id, descending=True)],
        params=page,
        cursor_of=lambda v: (v.created_at, v.id),
    )
    grouped = service.shipping_by_vendor(
        await repo.shipping_options_of(uow.session, [v.id for v in rows])
    )
    return Page(data=[_public(v, grouped.get(v.id, [])) for v in rows], next_cursor=cursor)


async def _visible_to(uow: UoW, principal: Principal | None, vendor: Vendor) -> bool:
    """Its team and platform staff see any vendor; everyone else only approved ones."""
    if principal is None:
        return False
    return await principal_vendor_access(uow, principal, vendor.id) is not None


@router.get(
    "/vendors/{vid}",
    response_model=VendorPrivateRead | VendorRead,
    summary="A vendor's page (its team and platform staff see more)",
)
async def get_vendor(
    vid: str, uow: UoW, cipher: Cipher, principal: OptionalPrincipal
) -> VendorPrivateRead | VendorRead:
    vendor = await repo.vendor(uow.session, vid)
    if vendor is None:
        raise service.VendorNotFound()
    insider = await _visible_to(uow, principal, vendor)
    if insider:
        return await _read(uow, cipher, vendor)
    if not is_public(vendor.status):
        raise service.VendorNotFound()
    return _public(vendor, list(await repo.active_shipping_options(uow.session, vendor.id)))


@router.patch("/vendors/{vid}", summary="Change the store profile")
async def patch_vendor(
    body: VendorPatch, uow: UoW, cipher: Cipher, access: StoreManager
) -> VendorPrivateRead:
    vendor = await service.update_profile(uow, access=access, body=body)
    return await _read(uow, cipher, vendor)


@router.put("/vendors/{vid}/settings", summary="Policies, shipping options, returns, vacation")
async def put_settings(
    body: VendorSettings, uow: UoW, cipher: Cipher, access: StoreManager
) -> VendorPrivateRead:
    vendor = await service.put_settings(uow, access=access, body=body)
    await uow.flush()
    return await _read(uow, cipher, vendor)


def _payout_read(account: PayoutAccount) -> PayoutAccountRead:
    return PayoutAccountRead(
        type=account.type,
        holder_name=account.holder_name,
        country=account.country,
        account=account.masked,
        wallet_provider=account.wallet_provider,
        updated_at=account.updated_at,
    )


@router.put(
    "/vendors/{vid}/payout-account",
    summary="Set where payouts go (re-enter your password)",
    responses={422: {"description": "invalid details or wrong current_password"}},
)
async def put_payout_account(
    body: PayoutAccountIn,
    uow: UoW,
    cipher: Cipher,
    rt: IdentityDep,
    access: PayoutManager,
    user: CurrentUser,
) -> PayoutAccountRead:
    if access.role in {"admin", "support", "api_key"}:
        # Where money goes is the vendor's own decision: platform staff cannot redirect it.
        raise Forbidden("only the vendor's own team can change its payout account")
    if not await verify_password(uow, rt, user_id=user.id, password=body.current_password):
        raise ValidationFailed.on_field(
            ["body", "current_password"], "current password is wrong", "invalid_password"
        )
    account = await service.set_payout_account(uow, cipher, access=access, body=body)
    return _payout_read(account)


@router.get("/vendors/{vid}/payout-account", summary="The payout account, masked")
async def get_payout_account(uow: UoW, access: PayoutReader) -> PayoutAccountRead:
    account = await repo.payout_account(uow.session, access.vendor_id)
    if account is None:
        raise service.VendorNotFound("no payout account yet", code="payout_account_not_found")
    return _payout_read(account)


@router.post("/vendors/{vid}/members", status_code=201, summary="Add or invite staff by email")
async def invite_member(body: MemberInvite, uow: UoW, access: StaffManager) -> MemberRead:
    invited = await service.invite_member(uow, access=access, email=body.email, role=body.role)
    return MemberRead(
        user_id=invited.user_id,
        email=invited.email,
        name=None,
        role=invited.role,
        status="active" if invited.status == "active" else "invited",
    )


@router.get("/vendors/{vid}/members", summary="Members and pending invitations")
async def list_members(uow: UoW, access: StaffManager) -> list[MemberRead]:
    members = [
        MemberRead(user_id=u.id, email=u.email, name=u.name, role=role, status="active")
        for u, role in await vendor_members(uow, access.vendor_id)
    ]
    invited = [
        MemberRead(user_id=None, email=i.email, name=None, role=i.role, status="invited")
        for i in await repo.pending_invitations(uow.session, access.vendor_id)
    ]
    return members + invited


@router.delete(
    "/vendors/{vid}/members/{uid}", status_code=204, summary="Remove a member (not the last owner)"
)
async def remove_member(uid: str, uow: UoW, access: StaffManager) -> Response:
    await revoke_membership(
        uow,
        vendor_id=access.vendor_id,
        user_id=uid,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
    )
    return Response(status_code=204)


@admin.get("/admin/vendors", summary="The vendor queue, by status")
async def admin_list(
    uow: UoW,
    cipher: Cipher,
    principal: AdminReader,
    page: PageQuery,
    status: Annotated[VendorStatus | None, Query()] = None,
) -> Page[VendorPrivateRead]:
    rows, cursor = await paginate(
        uow.session,
        repo.vendors_with_status(status),
        keys=[SortKey(Vendor.created_at), SortKey(Vendor.id)],
        params=page,
        cursor_of=lambda v: (v.created_at, v.id),
    )
    grouped = service.shipping_by_vendor(
        await repo.shipping_options_of(uow.session, [v.id for v in rows])
    )
    return Page(data=[_private(cipher, v, grouped.get(v.id, [])) for v in rows], next_cursor=cursor)


async def _review(
    uow: UoW, cipher: FieldCipher, principal: Principal, vid: str, action: str, reason: str | None
) -> VendorPrivateRead:
    vendor = await service.review(
        uow,
        vendor_id=vid,
        action=action,
        reason=reason,
        actor_id=principal.id,
        actor_role=principal.actor_role,
    )
    return await _read(uow, cipher, vendor)


@admin.post("/admin/vendors/{vid}/approve", summary="Approve an application")
async def approve(vid: str, uow: UoW, cipher: Cipher, principal: AdminWriter) -> VendorPrivateRead:
    return await _review(uow, cipher, principal, vid, "approve", None)


@admin.post("/admin/vendors/{vid}/reject", summary="Reject an application")
async def reject(
    vid: str, body: Reason, uow: UoW, cipher: Cipher, principal: AdminWriter
) -> VendorPrivateRead:
    return await _review(uow, cipher, principal, vid, "reject", body.reason)


@admin.post("/admin/vendors/{vid}/suspend", summary="Suspend: no new orders, hidden from browse")
async def suspend(
    vid: str, body: Reason, uow: UoW, cipher: Cipher, principal: AdminWriter
) -> VendorPrivateRead:
    return await _review(uow, cipher, principal, vid, "suspend", body.reason)


@admin.post("/admin/vendors/{vid}/reinstate", summary="Lift a suspension")
async def reinstate(
    vid: str, uow: UoW, cipher: Cipher, principal: AdminWriter
) -> VendorPrivateRead:
    return await _review(uow, cipher, principal, vid, "reinstate", None)


@admin.put("/admin/vendors/{vid}/kyc", summary="Set the KYC status (payouts need verified)")
async def set_kyc(
    vid: str, body: KycUpdate, uow: UoW, cipher: Cipher, principal: AdminWriter
) -> VendorPrivateRead:
    vendor = await service.set_kyc(
        uow,
        vendor_id=vid,
        status=body.status,
        actor_id=principal.id,
        actor_role=principal.actor_role,
    )
    return await _read(uow, cipher, vendor)


router.include_router(admin)
