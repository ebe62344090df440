"""Commission routes (admin): set the platform default and the category and vendor overrides,
list the rules, and check which rule applies to a vendor's line at an instant.

Categories are not a context yet: a category id is any string of 1 to 40 characters, and a
resolution knows only the category asked about, not its ancestors. Once catalog publishes
category paths through its facade, `resolve` passes the whole path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from marketplace.identity.public import AdminReader, AdminWriter, Principal
from marketplace.platform.clock import utcnow
from marketplace.platform.http import UoW
from marketplace.platform.money import MoneySchema
from marketplace.platform.pagination import Page, PageQuery
from marketplace.vendors.domain.commission import Scope
from marketplace.vendors.models import CommissionRule
from marketplace.vendors.schemas.commission import (
    AppliedCommissionRead,
    CommissionResolution,
    CommissionRuleIn,
    CommissionRuleRead,
)
from marketplace.vendors.service import commission as service

router = APIRouter(tags=["commission"])

VendorId = Annotated[str, Path(min_length=1, max_length=40, description="vendor id")]
CategoryId = Annotated[
    str, Path(min_length=1, max_length=40, description="category id (not checked yet)")
]


def _rule_read(rule: CommissionRule) -> CommissionRuleRead:
    flat = None
    if rule.flat_amount is not None and rule.flat_currency is not None:
        flat = MoneySchema(amount=rule.flat_amount, currency=rule.flat_currency)
    return CommissionRuleRead(
        id=rule.id,
        scope=rule.scope,
        scope_id=rule.scope_id,
        type=rule.type,
        percent_bps=rule.percent_bps,
        flat=flat,
        effective_from=rule.effective_from,
        created_by=rule.created_by,
        created_at=rule.created_at,
    )


async def _set(
    uow: UoW, admin: Principal, body: CommissionRuleIn, scope: Scope, scope_id: str | None
) -> CommissionRuleRead:
    rule = await service.set_rule(
        uow,
        scope=scope,
        scope_id=scope_id,
        terms=body.to_terms(),
        effective_from=body.effective_from,
        actor_id=admin.id,
        actor_role=admin.platform_role or "admin",
    )
    return _rule_read(rule)


@router.put("/admin/commission", summary="Set the platform's default commission")
async def set_default_commission(
    body: CommissionRuleIn, uow: UoW, admin: AdminWriter
) -> CommissionRuleRead:
    return await _set(uow, admin, body, "default", None)


@router.put("/admin/vendors/{vid}/commission", summary="Set a vendor's commission override")
async def set_vendor_commission(
    vid: VendorId, body: CommissionRuleIn, uow: UoW, admin: AdminWriter
) -> CommissionRuleRead:
    return await _set(uow, admin, body, "vendor", vid)


@router.put("/admin/categories/{cid}/commission", summary="Set a category's commission override")
async def set_category_commission(
    cid: CategoryId, body: CommissionRuleIn, uow: UoW, admin: AdminWriter
) -> CommissionRuleRead:
    return await _set(uow, admin, body, "category", cid)


@router.get("/admin/commission", summary="List commission rules, newest effective_from first")
async def list_commission_rules(
    uow: UoW,
    reader: AdminReader,
    page: PageQuery,
    scope: Scope | None = None,
    scope_id: Annotated[
        str | None, Query(min_length=1, max_length=40, description="needs scope")
    ] = None,
) -> Page[CommissionRuleRead]:
    rules, cursor = await service.list_rules(uow.session, scope=scope, scope_id=scope_id, page=page)
    return Page(data=[_rule_read(rule) for rule in rules], next_cursor=cursor)


@router.get(
    "/admin/commission/resolve",
    summary="Which commission rule applies to a vendor's line at an instant",
)
async def resolve_commission(
    uow: UoW,
    reader: AdminReader,
    vendor_id: Annotated[str, Query(min_length=1, max_length=40)],
    category_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    at: Annotated[AwareDatetime | None, Query(description="with a time zone; default now")] = None,
) -> CommissionResolution:
    instant = at or utcnow()
    applied = await service.resolve_commission(
        uow.session,
        vendor_id=vendor_id,
        category_path=[category_id] if category_id else [],
        at=instant,
    )
    return CommissionResolution(
        vendor_id=vendor_id,
        category_id=category_id,
        at=instant,
        applied=(
            AppliedCommissionRead(
                rule_id=applied.rule_id,
                scope=applied.scope,
                scope_id=applied.scope_id,
                type=applied.terms.type,
                percent_bps=applied.terms.percent_bps,
                flat=(
                    MoneySchema.from_money(applied.terms.flat)
                    if applied.terms.flat is not None
                    else None
                ),
                effective_from=applied.effective_from,
            )
            if applied is not None
            else None
        ),
    )
