"""HTTP routes of the audit log: filtered listing and chain verification (admin and support)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from marketplace.compliance import service
from marketplace.compliance.domain import AuditFilters
from marketplace.compliance.schemas import (
    AuditLogRead,
    BrokenEntryRead,
    ChainVerificationRead,
)
from marketplace.identity.public import AdminReader
from marketplace.platform.http import UoW
from marketplace.platform.pagination import Page, PageQuery

router = APIRouter(tags=["audit"])


@router.get("/admin/audit-logs", summary="List audit log entries, newest first")
async def list_audit_logs(
    principal: AdminReader,
    uow: UoW,
    page: PageQuery,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    resource_type: Annotated[str | None, Query(max_length=64)] = None,
    resource_id: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=120, examples=["vendor.approved"])] = None,
    occurred_from: Annotated[
        AwareDatetime | None, Query(alias="from", description="inclusive, with a time zone")
    ] = None,
    occurred_to: Annotated[
        AwareDatetime | None, Query(alias="to", description="exclusive, with a time zone")
    ] = None,
) -> Page[AuditLogRead]:
    filters = AuditFilters(
        actor_id=actor_id,
        resource_type=resource_type,
        resource_id=resource_id,
        action=action,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
    rows, cursor = await service.list_audit_logs(uow.session, filters=filters, page=page)
    return Page(data=[AuditLogRead.model_validate(row) for row in rows], next_cursor=cursor)


@router.get("/admin/audit-logs/verify", summary="Verify the audit log's hash chain")
async def verify_audit_chain(principal: AdminReader, uow: UoW) -> ChainVerificationRead:
    result = await service.verify_chain(uow.session)
    broken = result.first_broken
    return ChainVerificationRead(
        valid=result.valid,
        checked=result.checked,
        first_broken=(
            BrokenEntryRead(seq=broken.seq, id=broken.id, reason=broken.reason)
            if broken is not None
            else None
        ),
    )
