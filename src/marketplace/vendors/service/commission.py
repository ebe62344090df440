"""Commission use cases: admins set rules, payments resolve the rule for an order line,
operators list rules.

`resolve_commission` is the single question payments asks: "what commission applies to this
line of this vendor, in this category, at this instant". It answers with the rule's id, which
payments stores with the line, so the commission charged can always be traced to its rule.
None of these functions commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.compliance.public import record_audit
from marketplace.platform.clock import ensure_utc, utcnow
from marketplace.platform.db import AnyRow
from marketplace.platform.errors import NotFound, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import Money
from marketplace.platform.pagination import DEFAULT_LIMIT, PageParams, SortKey, paginate
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors.domain.commission import (
    SCOPES,
    Candidate,
    CommissionType,
    RuleTerms,
    Scope,
    choose,
    commission_on,
)
from marketplace.vendors.models import CommissionRule
from marketplace.vendors.repository import commission as repo
from marketplace.vendors.repository import store as store_repo

__all__ = [
    "MAX_BACKDATING",
    "AppliedCommission",
    "list_rules",
    "resolve_commission",
    "rule_terms",
    "set_rule",
]

# A rule may start "now" as the admin's clock sees it, which can be a little behind ours; any
# earlier and orders already placed would resolve to a rate they were not charged.
MAX_BACKDATING: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class AppliedCommission:
    """The rule that applies to an order line: payments stores `rule_id` with the line."""

    rule_id: str
    scope: Scope
    scope_id: str | None
    terms: RuleTerms
    effective_from: datetime

    def on(self, line_total: Money) -> Money:
        """The commission on a line of this total (see `domain.commission.commission_on`)."""
        return commission_on(self.terms, line_total)


def rule_terms(rule: CommissionRule | AnyRow) -> RuleTerms:
    flat = None
    if rule.flat_amount is not None and rule.flat_currency is not None:
        flat = Money(rule.flat_amount, rule.flat_currency)
    return RuleTerms(type=cast(CommissionType, rule.type), percent_bps=rule.percent_bps, flat=flat)


def _candidate(rule: CommissionRule | AnyRow) -> Candidate:
    return Candidate(
        rule_id=rule.id,
        scope=cast(Scope, rule.scope),
        scope_id=rule.scope_id,
        terms=rule_terms(rule),
        effective_from=rule.effective_from,
    )


def _check_scope(scope: str, scope_id: str | None) -> None:
    # Routes build these from their paths, so a mismatch is a programming error, not input.
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if (scope == "default") != (scope_id is None):
        raise ValueError("a default rule has no scope_id; vendor and category rules need one")


def _audit_fields(rule: CommissionRule) -> dict[str, Any]:
    return {
        "scope": rule.scope,
        "scope_id": rule.scope_id,
        "type": rule.type,
        "percent_bps": rule.percent_bps,
        "flat": (
            {"amount": rule.flat_amount, "currency": rule.flat_currency}
            if rule.flat_amount is not None
            else None
        ),
        "effective_from": rule.effective_from,
    }


async def set_rule(
    uow: UnitOfWork,
    *,
    scope: Scope,
    scope_id: str | None,
    terms: RuleTerms,
    effective_from: datetime | None = None,
    actor_id: str,
    actor_role: str,
) -> CommissionRule:
    """Add a rule for the platform default, a category or a vendor, in force from
    `effective_from` (default: now) until a later rule of the same scope takes over.

    Rules are append-only: this never changes an existing row, so the rate of an order
    already placed stays what it was. For the same reason `effective_from` may not lie more
    than a minute in the past. A vendor rule needs the vendor to exist (in any status: a rate
    can be agreed before approval); category ids are not checked until catalog exists.
    """
    _check_scope(scope, scope_id)
    now = utcnow()
    if effective_from is None:
        effective_from = now
    elif effective_from.tzinfo is None or effective_from.utcoffset() is None:
        raise ValidationFailed.on_field(
            ["body", "effective_from"], "effective_from needs a time zone", "naive_datetime"
        )
    elif effective_from < now - MAX_BACKDATING:
        raise ValidationFailed.on_field(
            ["body", "effective_from"],
            "effective_from must not be in the past: orders already placed keep their rate",
            "effective_from_in_past",
        )
    # Stored in UTC anyway; normalised now so the returned rule reads as it will from the table.
    effective_from = ensure_utc(effective_from)
    if scope == "vendor":
        assert scope_id is not None  # _check_scope
        if await store_repo.vendor(uow.session, scope_id) is None:
            raise NotFound("vendor not found", code="vendor_not_found")
    rule = CommissionRule(
        id=new_id("cmr"),
        scope=scope,
        scope_id=scope_id,
        type=terms.type,
        percent_bps=terms.percent_bps,
        flat_amount=terms.flat.amount if terms.flat is not None else None,
        flat_currency=terms.flat.currency if terms.flat is not None else None,
        effective_from=effective_from,
        created_by=actor_id,
        created_at=now,
    )
    repo.add_rule(uow.session, rule)
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="commission.rule_set",
        resource_type="commission_rule",
        resource_id=rule.id,
        after=_audit_fields(rule),
    )
    return rule


async def resolve_commission(
    session: AsyncSession, *, vendor_id: str, category_path: Sequence[str], at: datetime
) -> AppliedCommission | None:
    """The rule that applies to a line of `vendor_id` whose product is in `category_path`
    (leaf first, then its ancestors) at the instant `at`; None if no rule was in force.

    Pass the instant the order was placed, not "now", to price an existing order: later
    rules never change the answer for an earlier instant.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    rows = await repo.candidate_rules(
        session, vendor_id=vendor_id, category_ids=list(category_path), at=at
    )
    chosen = choose(
        (_candidate(row) for row in rows),
        vendor_id=vendor_id,
        category_path=category_path,
        at=at,
    )
    if chosen is None:
        return None
    return AppliedCommission(
        rule_id=chosen.rule_id,
        scope=chosen.scope,
        scope_id=chosen.scope_id,
        terms=chosen.terms,
        effective_from=chosen.effective_from,
    )


async def resolve_commissions(
    session: AsyncSession, *, sales: Sequence[tuple[str, Sequence[str]]], at: datetime
) -> list[AppliedCommission | None]:
    """`resolve_commission` for each (vendor id, leaf-first category path) of `sales`, in
    order, from one query: the candidates of all of them, each sale choosing among its own
    (`choose` ignores the others)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    if not sales:
        return []
    rows = await repo.candidate_rules_of(
        session,
        vendor_ids=sorted({vendor_id for vendor_id, _ in sales}),
        category_ids=sorted({c for _, path in sales for c in path}),
        at=at,
    )
    candidates = [_candidate(row) for row in rows]
    resolved: list[AppliedCommission | None] = []
    for vendor_id, path in sales:
        chosen = choose(candidates, vendor_id=vendor_id, category_path=path, at=at)
        resolved.append(
            None
            if chosen is None
            else AppliedCommission(
                rule_id=chosen.rule_id,
                scope=chosen.scope,
                scope_id=chosen.scope_id,
                terms=chosen.terms,
                effective_from=chosen.effective_from,
            )
        )
    return resolved


async def list_rules(
    session: AsyncSession,
    *,
    scope: Scope | None = None,
    scope_id: str | None = None,
    page: PageParams = PageParams(limit=DEFAULT_LIMIT, cursor=None),
) -> tuple[list[CommissionRule], str | None]:
    """Rules, newest `effective_from` first (scheduled ones before the one in force), one
    keyset page at a time; optionally one scope's, or one vendor's or category's."""
    if scope_id is not None and scope in (None, "default"):
        raise ValidationFailed.on_field(
            ["query", "scope_id"],
            "scope_id needs scope=vendor or scope=category",
            "scope_id_without_scope",
        )
    return await paginate(
        session,
        repo.rules_in(scope, scope_id),
        keys=[
            SortKey(CommissionRule.effective_from, descending=True),
            SortKey(CommissionRule.id, descending=True),
        ],
        params=page,
        cursor_of=lambda rule: (rule.effective_from, rule.id),
    )
