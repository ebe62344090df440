"""Queries of commission rules: the candidates for one resolution, and filtered listings.

Commission rules are platform-wide settings, not a vendor's data: there is no tenancy filter,
and only admin routes reach these queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Select, Table, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform import direct
from marketplace.platform.db import AnyRow
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


_rule = cast(Table, CommissionRule.__table__)
# Every checkout asks: built once, its IN lists expanding at execution (an empty category
# list matches nothing), returning rows rather than entities.
_CANDIDATES_OF = select(_rule).where(
    or_(
        and_(
            _rule.c.scope == "vendor",
            _rule.c.scope_id.in_(bindparam("the_vendors", expanding=True)),
        ),
        _rule.c.scope == "default",
        and_(
            _rule.c.scope == "category",
            _rule.c.scope_id.in_(bindparam("the_categories", expanding=True)),
        ),
    ),
    _rule.c.effective_from <= bindparam("at"),
)


async def candidate_rules_of(
    session: AsyncSession, *, vendor_ids: Sequence[str], category_ids: Sequence[str], at: datetime
) -> Sequence[AnyRow]:
    """`candidate_rules` for several sales at once (one checkout): the union of theirs, as
    rows with every column of the rule."""
    result = await direct.execute(
        session,
        _CANDIDATES_OF,
        {"the_vendors": list(vendor_ids), "the_categories": list(category_ids), "at": at},
    )
    return result.all()


def rules_in(scope: str | None, scope_id: str | None) -> Select[CommissionRule]:
    """Every rule, or those of one scope (and one vendor or category); ordered by the caller."""
    stmt = select(CommissionRule)
    if scope is not None:
        stmt = stmt.where(CommissionRule.scope == scope)
    if scope_id is not None:
        stmt = stmt.where(CommissionRule.scope_id == scope_id)
    return stmt
