"""Store use cases: apply, review (approve, reject, suspend, reinstate, KYC), profile and
settings, staff, and the payout account.

Every change by a vendor's team or an admin is audited in the same transaction and published
as an event; none of these functions commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from marketplace.compliance.public import record_audit
from marketplace.identity.public import (
    VendorAccess,
    grant_membership,
    normalize_email,
    role_exists,
    user_id_by_email,
)
from marketplace.platform.clock import utcnow
from marketplace.platform.crypto import FieldCipher
from marketplace.platform.db import AnyRow, is_unique_violation
from marketplace.platform.errors import Conflict, NotFound, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import UnknownCurrency, currency_exponent
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors.domain.banking import (
    BankDetailError,
    mask_account,
    validate_aba_routing,
    validate_account_number,
    validate_iban,
    validate_wallet,
)
from marketplace.vendors.domain.store import (
    InvalidTransition,
    country_problem,
    slug_problem,
    transition,
)
from marketplace.vendors.events import (
    KycStatusChanged,
    PayoutAccountChanged,
    StaffInvited,
    VendorApplied,
    VendorStatusChanged,
    VendorUpdated,
)
from marketplace.vendors.models import PayoutAccount, ShippingOption, StaffInvitation, Vendor
from marketplace.vendors.repository import store as repo
from marketplace.vendors.schemas.store import (
    PayoutAccountIn,
    VendorApply,
    VendorPatch,
    VendorSettings,
)


class VendorNotFound(NotFound):
    code = "vendor_not_found"
    title = "Vendor not found"


class SlugTaken(ValidationFailed):
    code = "slug_taken"


class VendorTransitionRefused(Conflict):
    code = "invalid_vendor_transition"
    title = "Vendor status does not allow this"


def tax_id_context(vendor_id: str) -> str:
    return f"vendors_vendor.tax_id_encrypted:{vendor_id}"


def payout_context(account_id: str) -> str:
    return f"vendors_payout_account.details_encrypted:{account_id}"


def _country(code: str, loc: list[str | int]) -> str:
    problem = country_problem(code)
    if problem:
        raise ValidationFailed.on_field(loc, problem, "invalid_country")
    return code


def _currency(code: str, loc: list[str | int]) -> str:
    try:
        currency_exponent(code)
    except UnknownCurrency:
        raise ValidationFailed.on_field(
            loc, f"{code!r} is not an ISO 4217 currency", "invalid_currency"
        ) from None
    return code


def _email(value: str, field: str) -> str:
    return normalize_email(value, field=field)


async def apply(uow: UnitOfWork, cipher: FieldCipher, *, user_id: str, body: VendorApply) -> Vendor:
    problem = slug_problem(body.slug)
    if problem:
        raise ValidationFailed.on_field(["body", "slug"], problem, "invalid_slug")
    _country(body.business.country, ["body", "business", "country"])
    _country(body.business.address.country, ["body", "business", "address", "country"])
    _currency(body.currency, ["body", "currency"])
    contact_email = _email(body.contact_email, "contact_email")
    if await repo.slug_taken(uow.session, body.slug):
        raise SlugTaken.on_field(["body", "slug"], "this slug is taken", "slug_taken")
    now = utcnow()
    vendor_id = new_id("ven")
    vendor = Vendor(
        id=vendor_id,
        slug=body.slug,
        name=body.name.strip(),
        status="pending",
        owner_id=user_id,
        legal_name=body.business.legal_name.strip(),
        country=body.business.country,
        tax_id_encrypted=(
            cipher.encrypt(body.business.tax_id, context=tax_id_context(vendor_id))
            if body.business.tax_id
            else None
        ),
        address=body.business.address.model_dump(),
        contact_email=contact_email,
        default_currency=body.currency,
        currencies=[body.currency],
        description=body.description,
        policies={"returns": "", "shipping": "", "terms": ""},
        return_window_days=30,
        handling_days=2,
        vacation_mode=False,
        kyc_status="not_started",
        rating_count=0,
        rating_total=0,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(vendor)
    try:
        await uow.session.flush()
    except IntegrityError as error:
        if is_unique_violation(error):
            raise SlugTaken.on_field(["body", "slug"], "this slug is taken", "slug_taken") from None
        raise
    await grant_membership(
        uow,
        vendor_id=vendor.id,
        user_id=user_id,
        role="owner",
        actor_id=user_id,
        actor_role="applicant",
    )
    record_audit(
        uow,
        actor_id=user_id,
        actor_role="applicant",
        action="vendor.applied",
        resource_type="vendor",
        resource_id=vendor.id,
        after={"name": vendor.name, "slug": vendor.slug, "status": "pending"},
    )
    uow.publish(VendorApplied(vendor_id=vendor.id, owner_id=user_id, store_name=vendor.name))
    return vendor


async def get(uow: UnitOfWork, vendor_id: str) -> Vendor:
    vendor = await repo.vendor(uow.session, vendor_id)
    if vendor is None:
        raise VendorNotFound()
    return vendor


async def review(
    uow: UnitOfWork,
    *,
    vendor_id: str,
    action: str,
    reason: str | None,
    actor_id: str,
    actor_role: str,
) -> Vendor:
    """approve / reject / suspend / reinstate, with the row locked for the decision."""
    vendor = await repo.vendor_for_update(uow.session, vendor_id)
    if vendor is None:
        raise VendorNotFound()
    previous = vendor.status
    try:
        vendor.status = transition(previous, action)
    except InvalidTransition as error:
        raise VendorTransitionRefused(str(error), extra={"current_status": previous}) from None
    now = utcnow()
    vendor.status_reason = reason
    vendor.updated_at = now
    if action == "approve" and vendor.approved_at is None:
        vendor.approved_at = now
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action=f"vendor.{action}d" if action.endswith("e") else f"vendor.{action}ed",
        resource_type="vendor",
        resource_id=vendor.id,
        before={"status": previous},
        after={"status": vendor.status, "reason": reason},
    )
    uow.publish(
        VendorStatusChanged(
            vendor_id=vendor.id,
            owner_id=vendor.owner_id,
            previous_status=previous,
            status=vendor.status,
            action=action,
            reason=reason,
        )
    )
    return vendor


async def set_kyc(
    uow: UnitOfWork, *, vendor_id: str, status: str, actor_id: str, actor_role: str
) -> Vendor:
    vendor = await get(uow, vendor_id)
    previous = vendor.kyc_status
    vendor.kyc_status = status
    vendor.updated_at = utcnow()
    if previous != status:
        record_audit(
            uow,
            actor_id=actor_id,
            actor_role=actor_role,
            action="vendor.kyc_changed",
            resource_type="vendor",
            resource_id=vendor.id,
            before={"kyc_status": previous},
            after={"kyc_status": status},
        )
        uow.publish(KycStatusChanged(vendor_id=vendor.id, status=status))
    return vendor


_PROFILE_FIELDS = (
    "name",
    "description",
    "logo_url",
    "banner_url",
    "support_email",
    "support_phone",
    "contact_email",
    "currencies",
)


async def update_profile(uow: UnitOfWork, *, access: VendorAccess, body: VendorPatch) -> Vendor:
    vendor = await get(uow, access.vendor_id)
    changes: dict[str, Any] = {}
    for field in _PROFILE_FIELDS:
        if field not in body.model_fields_set:
            continue
        value = getattr(body, field)
        if field in {"name", "contact_email", "currencies"} and value is None:
            raise ValidationFailed.on_field(["body", field], "must not be null", "null")
        if field in {"support_email", "contact_email"} and value is not None:
            value = _email(value, field)
        if field == "currencies":
            value = [_currency(c, ["body", "currencies", i]) for i, c in enumerate(value)]
            if vendor.default_currency not in value:
                value = [vendor.default_currency, *value]
        changes[field] = value
    before = {f: getattr(vendor, f) for f in changes}
    for field, value in changes.items():
        setattr(vendor, field, value)
    changed = [f for f in changes if before[f] != changes[f]]
    if changed:
        vendor.updated_at = utcnow()
        record_audit(
            uow,
            actor_id=access.principal.id,
            actor_role=access.actor_role,
            action="vendor.profile_updated",
            resource_type="vendor",
            resource_id=vendor.id,
            before={f: before[f] for f in changed},
            after={f: changes[f] for f in changed},
        )
        uow.publish(VendorUpdated(vendor_id=vendor.id, fields=changed))
    return vendor


async def put_settings(uow: UnitOfWork, *, access: VendorAccess, body: VendorSettings) -> Vendor:
    vendor = await get(uow, access.vendor_id)
    current = {o.id: o for o in await repo.active_shipping_options(uow.session, vendor.id)}
    now = utcnow()
    for index, option in enumerate(body.shipping_options):
        loc: list[str | int] = ["body", "shipping_options", index]
        _currency(option.price.currency, [*loc, "price", "currency"])
        if option.price.amount < 0:
            raise ValidationFailed.on_field([*loc, "price", "amount"], "must be >= 0", "negative")
        for i, country in enumerate(option.countries):
            _country(country, [*loc, "countries", i])
        if option.id is not None and option.id not in current:
            raise ValidationFailed.on_field([*loc, "id"], "no such shipping option", "unknown_id")
    before = {
        "policies": vendor.policies,
        "return_window_days": vendor.return_window_days,
        "handling_days": vendor.handling_days,
        "vacation_mode": vendor.vacation_mode,
        "shipping_options": sorted(o.name for o in current.values()),
    }
    kept: set[str] = set()
    for index, option in enumerate(body.shipping_options):
        if option.id is not None:
            row = current[option.id]
            kept.add(row.id)
        else:
            row = ShippingOption(id=new_id("shp"), vendor_id=vendor.id, created_at=now)
            uow.session.add(row)
        row.name = option.name.strip()
        row.price_amount = option.price.amount
        row.price_currency = option.price.currency
        row.delivery_days_min = option.delivery_days_min
        row.delivery_days_max = option.delivery_days_max
        row.countries = sorted(set(option.countries))
        row.position = index
    for option_id, row in current.items():
        if option_id not in kept:
            row.archived_at = now  # orders placed with it keep their copy
    vendor.policies = body.policies.model_dump()
    vendor.return_window_days = body.return_window_days
    vendor.handling_days = body.handling_days
    vendor.vacation_mode = body.vacation_mode
    vendor.vacation_message = body.vacation_message
    vendor.updated_at = now
    after = {
        "policies": vendor.policies,
        "return_window_days": vendor.return_window_days,
        "handling_days": vendor.handling_days,
        "vacation_mode": vendor.vacation_mode,
        "shipping_options": sorted(o.name.strip() for o in body.shipping_options),
    }
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="vendor.settings_updated",
        resource_type="vendor",
        resource_id=vendor.id,
        before=before,
        after=after,
    )
    uow.publish(
        VendorUpdated(vendor_id=vendor.id, fields=[k for k in after if after[k] != before[k]])
    )
    return vendor


def _bank_details(body: PayoutAccountIn) -> tuple[dict[str, str], str]:
    """Validated details and the number to mask, per account type."""
    try:
        if body.type == "wallet":
            if not body.wallet_provider or not body.wallet_id:
                field = "wallet_provider" if not body.wallet_provider else "wallet_id"
                raise ValidationFailed.on_field(["body", field], "required for a wallet", "missing")
            provider, wallet_id = validate_wallet(body.wallet_provider, body.wallet_id)
            return {"wallet_provider": provider, "wallet_id": wallet_id}, wallet_id
        if body.iban:
            iban = validate_iban(body.iban)
            return {"iban": iban}, iban
        if not body.account_number:
            raise ValidationFailed.on_field(
                ["body", "iban"], "give an iban, or account_number and routing_number", "missing"
            )
        account = validate_account_number(body.account_number, body.country)
        details = {"account_number": account}
        if body.country == "US" or body.routing_number:
            if not body.routing_number:
                raise ValidationFailed.on_field(
                    ["body", "routing_number"], "required for US accounts", "missing"
                )
            details["routing_number"] = validate_aba_routing(body.routing_number)
        return details, account
    except BankDetailError as error:
        raise ValidationFailed.on_field(
            ["body", error.field], str(error), "invalid_bank_details"
        ) from None


async def set_payout_account(
    uow: UnitOfWork, cipher: FieldCipher, *, access: VendorAccess, body: PayoutAccountIn
) -> PayoutAccount:
    _country(body.country, ["body", "country"])
    details, number = _bank_details(body)
    masked = mask_account(number)
    now = utcnow()
    account = await repo.payout_account(uow.session, access.vendor_id)
    before = None
    if account is None:
        account = PayoutAccount(id=new_id("pac"), vendor_id=access.vendor_id, created_at=now)
        uow.session.add(account)
    else:
        before = {"type": account.type, "account": account.masked, "holder": account.holder_name}
    account.type = body.type
    account.holder_name = body.holder_name.strip()
    account.country = body.country
    account.wallet_provider = details.get("wallet_provider")
    account.details_encrypted = cipher.encrypt(
        json.dumps(details, sort_keys=True), context=payout_context(account.id)
    )
    account.masked = masked
    account.updated_at = now
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="vendor.payout_account_changed",
        resource_type="vendor",
        resource_id=access.vendor_id,
        before=before,
        after={"type": body.type, "account": masked, "holder": account.holder_name},
    )
    uow.publish(
        PayoutAccountChanged(
            vendor_id=access.vendor_id, masked=masked, changed_by=access.principal.id
        )
    )
    return account


def payout_details(cipher: FieldCipher, account: PayoutAccount) -> dict[str, str]:
    """The decrypted details, for the payments context's transfer to the vendor only."""
    decoded: dict[str, str] = json.loads(
        cipher.decrypt(account.details_encrypted, context=payout_context(account.id))
    )
    return decoded


@dataclass(frozen=True, slots=True)
class Invited:
    user_id: str | None
    email: str
    role: str
    status: str


async def invite_member(uow: UnitOfWork, *, access: VendorAccess, email: str, role: str) -> Invited:
    email = _email(email, "email")
    user_id = await user_id_by_email(uow, email)
    if user_id is not None:
        await grant_membership(
            uow,
            vendor_id=access.vendor_id,
            user_id=user_id,
            role=role,
            actor_id=access.principal.id,
            actor_role=access.actor_role,
        )
        return Invited(user_id, email, role, "active")
    await _check_role_exists(uow, access.vendor_id, role)
    invitation = await repo.pending_invitation(uow.session, access.vendor_id, email)
    if invitation is None:
        invitation = StaffInvitation(
            id=new_id("inv"),
            vendor_id=access.vendor_id,
            email=email,
            status="pending",
            invited_by=access.principal.id,
            created_at=utcnow(),
        )
        uow.session.add(invitation)
    invitation.role = role
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="vendor_member.invited",
        resource_type="vendor_member",
        resource_id=f"{access.vendor_id}:{email}",
        after={"role": role},
    )
    uow.publish(
        StaffInvited(
            vendor_id=access.vendor_id, email=email, role=role, invited_by=access.principal.id
        )
    )
    return Invited(None, email, role, "invited")


async def _check_role_exists(uow: UnitOfWork, vendor_id: str, role: str) -> None:
    if not await role_exists(uow, vendor_id, role):
        raise ValidationFailed.on_field(["body", "role"], f"unknown role {role!r}", "unknown_role")


async def accept_invitations(uow: UnitOfWork, *, user_id: str, email: str) -> int:
    """A new account whose email was invited joins those vendors with the invited roles."""
    accepted = 0
    for invitation in await repo.invitations_for_email(uow.session, email):
        await grant_membership(
            uow,
            vendor_id=invitation.vendor_id,
            user_id=user_id,
            role=invitation.role,
            actor_id=invitation.invited_by,
            actor_role="invitation",
        )
        invitation.status = "accepted"
        invitation.accepted_at = utcnow()
        accepted += 1
    return accepted


async def revoke_invitation(uow: UnitOfWork, *, access: VendorAccess, email: str) -> bool:
    invitation = await repo.pending_invitation(uow.session, access.vendor_id, email)
    if invitation is None:
        return False
    invitation.status = "revoked"
    return True


def rating_average(vendor: Vendor) -> float | None:
    if vendor.rating_count == 0:
        return None
    return round(vendor.rating_total / vendor.rating_count, 2)


def shipping_by_vendor(
    options: Sequence[ShippingOption | AnyRow],
) -> dict[str, list[ShippingOption | AnyRow]]:
    grouped: dict[str, list[ShippingOption | AnyRow]] = {}
    for option in options:
        grouped.setdefault(option.vendor_id, []).append(option)
    return grouped
