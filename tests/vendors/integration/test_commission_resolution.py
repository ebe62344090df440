"""Commission rules on a real database: setting them (append-only, audited) and resolving the
rule for a line by scope, category depth and time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.compliance.models import AuditLogEntry
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import NotFound, ValidationFailed
from marketplace.platform.money import Money
from marketplace.platform.pagination import PageParams
from marketplace.vendors.domain.commission import RuleTerms, Scope
from marketplace.vendors.models import CommissionRule
from marketplace.vendors.repository import commission as repo
from marketplace.vendors.service.commission import (
    AppliedCommission,
    list_rules,
    resolve_commission,
    resolve_commissions,
    set_rule,
)

LEAF, PARENT, ROOT = "cat_socks", "cat_clothing", "cat_fashion"
PATH = [LEAF, PARENT, ROOT]
VENDOR = "ven_resolution"


def pct(bps: int) -> RuleTerms:
    return RuleTerms("percent", percent_bps=bps)


async def _set(
    container: Container,
    scope: Scope,
    scope_id: str | None,
    terms: RuleTerms,
    *,
    effective_from: datetime | None = None,
) -> CommissionRule:
    async with container.uow_factory() as uow:
        rule = await set_rule(
            uow,
            scope=scope,
            scope_id=scope_id,
            terms=terms,
            effective_from=effective_from,
            actor_id="usr_admin",
            actor_role="admin",
        )
        await uow.commit()
    return rule


async def _resolve(
    container: Container,
    *,
    vendor_id: str = VENDOR,
    category_path: list[str] | None = None,
    at: datetime | None = None,
) -> AppliedCommission | None:
    async with container.uow_factory() as uow:
        return await resolve_commission(
            uow.session,
            vendor_id=vendor_id,
            category_path=PATH if category_path is None else category_path,
            at=at or utcnow(),
        )


def applied(rule: CommissionRule, terms: RuleTerms) -> AppliedCommission:
    return AppliedCommission(
        rule_id=rule.id,
        scope=rule.scope,  # type: ignore[arg-type]
        scope_id=rule.scope_id,
        terms=terms,
        effective_from=rule.effective_from,
    )


async def _count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_no_rule_resolves_to_none(container: Container) -> None:
    assert await _resolve(container) is None


async def test_the_default_applies_when_it_is_the_only_rule(container: Container) -> None:
    default = await _set(container, "default", None, pct(1000))

    assert await _resolve(container) == applied(default, pct(1000))
    assert await _resolve(container, category_path=[]) == applied(default, pct(1000))


async def test_a_category_override_beats_the_default(container: Container) -> None:
    await _set(container, "default", None, pct(1000))
    category = await _set(container, "category", ROOT, pct(1500))

    assert await _resolve(container) == applied(category, pct(1500))
    # A product outside that category still pays the default.
    other = await _resolve(container, category_path=["cat_garden"])
    assert other is not None
    assert other.terms == pct(1000)


async def test_a_leaf_category_beats_its_parent(container: Container) -> None:
    await _set(container, "default", None, pct(1000))
    await _set(container, "category", PARENT, pct(1200))
    leaf = await _set(container, "category", LEAF, pct(800))
    # Set after the leaf's rule: a newer parent rule still loses to the deeper category.
    await _set(container, "category", PARENT, pct(1300))

    assert await _resolve(container) == applied(leaf, pct(800))
    parent_only = await _resolve(container, category_path=[PARENT, ROOT])
    assert parent_only is not None
    assert parent_only.terms == pct(1300)


async def test_a_vendor_override_beats_every_category(container: Container) -> None:
    vendor = await create_vendor(container)
    await _set(container, "default", None, pct(1000))
    await _set(container, "category", LEAF, pct(800))
    fee = Money(30, "EUR")
    override = await _set(
        container, "vendor", vendor.id, RuleTerms("percent_plus_flat", percent_bps=500, flat=fee)
    )
    terms = RuleTerms("percent_plus_flat", percent_bps=500, flat=fee)

    resolved = await _resolve(container, vendor_id=vendor.id)

    assert resolved == applied(override, terms)
    assert resolved.on(Money(10_000, "EUR")) == Money(530, "EUR")
    # Another vendor selling in the same category is not affected.
    other = await _resolve(container, vendor_id="ven_other")
    assert other is not None
    assert other.terms == pct(800)


async def test_a_later_rule_never_changes_what_an_earlier_instant_resolves_to(
    container: Container,
) -> None:
    current = await _set(container, "default", None, pct(1000))
    order_placed_at = utcnow() + timedelta(seconds=1)
    before = await _resolve(container, at=order_placed_at)

    later = await _set(
        container, "default", None, pct(1500), effective_from=utcnow() + timedelta(days=30)
    )

    # The order placed before the change keeps its rate, now and after the change starts.
    assert before == applied(current, pct(1000))
    assert await _resolve(container, at=order_placed_at) == applied(current, pct(1000))
    assert await _resolve(container, at=later.effective_from - timedelta(microseconds=1)) == (
        applied(current, pct(1000))
    )
    assert await _resolve(container, at=later.effective_from) == applied(later, pct(1500))
    # Both rules are kept: a change is a new row, never an update.
    assert await _rule_ids(container) == [later.id, current.id]


async def test_a_scheduled_vendor_override_applies_only_from_its_start(
    container: Container,
) -> None:
    vendor = await create_vendor(container)
    default = await _set(container, "default", None, pct(1000))
    start = utcnow() + timedelta(days=7)
    override = await _set(container, "vendor", vendor.id, pct(0), effective_from=start)

    assert await _resolve(container, vendor_id=vendor.id) == applied(default, pct(1000))
    assert await _resolve(container, vendor_id=vendor.id, at=start) == applied(override, pct(0))


async def _rule_ids(container: Container) -> list[str]:
    async with container.uow_factory() as uow:
        rules, _ = await list_rules(uow.session, page=PageParams(limit=100, cursor=None))
        # Read inside the unit of work: leaving it rolls back, which expires the rows.
        return [rule.id for rule in rules]


async def test_setting_a_rule_is_audited_in_the_same_transaction(
    container: Container, session: AsyncSession
) -> None:
    vendor = await create_vendor(container)
    start = datetime.fromisoformat("2099-01-02T03:04:05.123456+00:00")
    rule = await _set(
        container,
        "vendor",
        vendor.id,
        RuleTerms("percent_plus_flat", percent_bps=750, flat=Money(25, "EUR")),
        effective_from=start,
    )

    entries = (
        await session.scalars(
            select(AuditLogEntry).where(
                AuditLogEntry.resource_type == "commission_rule",
                AuditLogEntry.resource_id == rule.id,
            )
        )
    ).all()

    assert len(entries) == 1
    entry = entries[0]
    assert (entry.action, entry.actor_id, entry.actor_role) == (
        "commission.rule_set",
        "usr_admin",
        "admin",
    )
    assert entry.changes == {
        "effective_from": {"before": None, "after": "2099-01-02T03:04:05.123456Z"},
        "flat": {"before": None, "after": {"amount": 25, "currency": "EUR"}},
        "percent_bps": {"before": None, "after": 750},
        "scope": {"before": None, "after": "vendor"},
        "scope_id": {"before": None, "after": vendor.id},
        "type": {"before": None, "after": "percent_plus_flat"},
    }
    stored = await session.get(CommissionRule, rule.id)
    assert stored is not None
    assert (stored.scope, stored.scope_id, stored.type, stored.percent_bps) == (
        "vendor",
        vendor.id,
        "percent_plus_flat",
        750,
    )
    assert (stored.flat_amount, stored.flat_currency) == (25, "EUR")
    assert (stored.effective_from, stored.created_by) == (start, "usr_admin")
    assert rule.id.startswith("cmr_")


async def test_a_rule_starting_in_the_past_is_refused_and_nothing_is_stored(
    container: Container, session: AsyncSession
) -> None:
    rules_before = await _count(session, CommissionRule)
    audit_before = await _count(session, AuditLogEntry)

    with pytest.raises(ValidationFailed) as caught:
        await _set(
            container, "default", None, pct(1000), effective_from=utcnow() - timedelta(minutes=2)
        )

    assert caught.value.errors is not None
    assert [e.loc for e in caught.value.errors] == [["body", "effective_from"]]
    assert caught.value.errors[0].code == "effective_from_in_past"
    assert await _count(session, CommissionRule) == rules_before
    assert await _count(session, AuditLogEntry) == audit_before


async def test_a_few_seconds_of_clock_skew_are_tolerated(container: Container) -> None:
    start = utcnow() - timedelta(seconds=30)

    rule = await _set(container, "default", None, pct(1000), effective_from=start)

    assert rule.effective_from == start


async def test_a_vendor_override_needs_an_existing_vendor(
    container: Container, session: AsyncSession
) -> None:
    rules_before = await _count(session, CommissionRule)

    with pytest.raises(NotFound) as caught:
        await _set(container, "vendor", "ven_missing", pct(500))

    assert caught.value.instance_code == "vendor_not_found"
    assert await _count(session, CommissionRule) == rules_before


async def test_only_the_candidate_rows_are_loaded(container: Container) -> None:
    now = utcnow()
    vendor = await create_vendor(container)
    default = await _set(container, "default", None, pct(1000))
    leaf = await _set(container, "category", LEAF, pct(800))
    mine = await _set(container, "vendor", vendor.id, pct(500))
    await _set(container, "category", "cat_garden", pct(900))
    other_vendor = await create_vendor(container)
    await _set(container, "vendor", other_vendor.id, pct(700))
    await _set(container, "default", None, pct(1100), effective_from=now + timedelta(days=1))

    async with container.uow_factory() as uow:
        rows = await repo.candidate_rules(
            uow.session, vendor_id=vendor.id, category_ids=PATH, at=now + timedelta(hours=1)
        )
        loaded = sorted(r.id for r in rows)

    assert loaded == sorted([default.id, leaf.id, mine.id])


async def test_list_rules_newest_first_filtered_and_paged(container: Container) -> None:
    vendor = await create_vendor(container)
    now = utcnow()
    d1 = await _set(container, "default", None, pct(1000))
    c1 = await _set(container, "category", LEAF, pct(800))
    v1 = await _set(container, "vendor", vendor.id, pct(500))
    d2 = await _set(container, "default", None, pct(1100), effective_from=now + timedelta(days=2))
    v2 = await _set(
        container, "vendor", vendor.id, pct(600), effective_from=now + timedelta(days=1)
    )

    async with container.uow_factory() as uow:

        async def ids(**kwargs: Any) -> tuple[list[str], str | None]:
            rules, next_cursor = await list_rules(uow.session, **kwargs)
            return [r.id for r in rules], next_cursor

        first, cursor = await ids(page=PageParams(limit=3, cursor=None))
        rest, end = await ids(page=PageParams(limit=3, cursor=cursor))
        defaults, _ = await ids(scope="default")
        vendor_rules, _ = await ids(scope="vendor", scope_id=vendor.id)
        with pytest.raises(ValidationFailed) as caught:
            await list_rules(uow.session, scope_id=vendor.id)

    assert first == [d2.id, v2.id, v1.id]
    assert rest == [c1.id, d1.id]
    assert end is None
    assert defaults == [d2.id, d1.id]
    assert vendor_rules == [v2.id, v1.id]
    assert caught.value.errors is not None
    assert caught.value.errors[0].loc == ["query", "scope_id"]


async def test_resolving_a_whole_cart_at_once_gives_each_line_its_own_rule(
    container: Container,
) -> None:
    # Rules of every scope, for vendors and categories of different lines: one query's
    # candidates serve all lines, and no line may pick a rule meant for another.
    vendor, other = await create_vendor(container), await create_vendor(container)
    default = await _set(container, "default", None, pct(1000))
    socks = await _set(container, "category", LEAF, pct(800))
    fashion = await _set(container, "category", ROOT, pct(900))
    vip = await _set(container, "vendor", vendor.id, pct(500))
    sales: list[tuple[str, list[str]]] = [
        (vendor.id, PATH),  # the vendor's own rule beats its categories
        (other.id, PATH),  # the leaf category's
        (other.id, [PARENT, ROOT]),  # the root category's, not the leaf of another line
        (other.id, ["cat_garden"]),  # the default
        (vendor.id, ["cat_garden"]),  # the vendor's rule wherever it sells
    ]
    at = utcnow()

    async with container.uow_factory() as uow:
        together = await resolve_commissions(uow.session, sales=sales, at=at)
    one_by_one = [
        await _resolve(container, vendor_id=vendor, category_path=path, at=at)
        for vendor, path in sales
    ]

    assert together == one_by_one
    assert [a.rule_id if a else None for a in together] == [
        vip.id,
        socks.id,
        fashion.id,
        default.id,
        vip.id,
    ]


async def test_resolving_an_empty_cart_reads_nothing(container: Container) -> None:
    async with container.uow_factory() as uow:
        assert await resolve_commissions(uow.session, sales=[], at=utcnow()) == []
