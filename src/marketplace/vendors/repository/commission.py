"""Queries of commission rules: the candidates for one resolution, and filtered listings.

Commission rules are platform-wide settings, not a vendor's data: there is no tenancy filter,
and only admin routes reach these queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.vendors.models import CommissionRule


def add_rule(session: AsyncSession, rule: CommissionRule) -> None:
    session.add(rule)


async def candidate_rules(
    session: AsyncSession, *, vendor_id: str, category_ids: Sequence[str], at: datetime
) -> Sequence[CommissionRule]:
    """Rules in force at `at` for this vendor, these categories or the default: the only
    rows that can win a resolution. Each branch of the OR is a prefix of the
    (scope, scope_id, effective_from) index.

    Superseded rules of those scopes come back too; they are few (a scope changes its rate a
    handful of times a year), and picking the winner is the domain's job (`choose`).
    """
    scopes = [
        and_(CommissionRule.scope == "vendor", CommissionRule.scope_id == vendor_id),
        CommissionRule.scope == "default",
    ]
    if category_ids:
        scopes.append(
            and_(
                CommissionRule.scope == "category",
                CommissionRule.scope_id.in_(list(category_ids)),
            )
        )
    stmt = select(CommissionRule).where(or_(*scopes), CommissionRule.effective_from <= at)
    return (await session.scalars(stmt)).all()


async def candidate_rules_of(
    session: AsyncSession, *, vendor_ids: Sequence[str], category_ids: Sequence[str], at: datetime
) -> Sequence[CommissionRule]:
    """`candidate_rules` for several sales at once (one checkout): the union of theirs."""
    scopes = [
        and_(CommissionRule.scope == "vendor", CommissionRule.scope_id.in_(list(vendor_ids))),
        CommissionRule.scope == "default",
    ]
    if category_ids:
        scopes.append(
            and_(
                CommissionRule.scope == "category",
                CommissionRule.scope_id.in_(list(category_ids)),
            )
        )
    stmt = select(CommissionRule).where(or_(*scopes), CommissionRule.effective_from <= at)
    return (await session.scalars(stmt)).all()


def rules_in(scope: str | None, scope_id: str | None) -> Select[CommissionRule]:
    """Every rule, or those of one scope (and one vendor or category); ordered by the caller."""
    stmt = select(CommissionRule)
    if scope is not None:
        stmt = stmt.where(CommissionRule.scope == scope)
    if scope_id is not None:
        stmt = stmt.where(CommissionRule.scope_id == scope_id)
    return stmt
