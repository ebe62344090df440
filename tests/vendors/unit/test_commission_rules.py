"""Commission rules: valid terms, the amount charged on a line, and which rule applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.platform.money import CurrencyMismatch, Money
from marketplace.vendors.domain.commission import (
    Candidate,
    CommissionCurrencyMismatch,
    InvalidRuleTerms,
    RuleTerms,
    choose,
    commission_on,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VENDOR = "ven_1"
LEAF, PARENT, ROOT = "cat_socks", "cat_clothing", "cat_fashion"
PATH = [LEAF, PARENT, ROOT]

TEN_PERCENT = RuleTerms("percent", percent_bps=1000)


def usd(amount: int) -> Money:
    return Money(amount, "USD")


def rule(
    rule_id: str,
    scope: str,
    scope_id: str | None,
    *,
    days: int = 0,
    terms: RuleTerms = TEN_PERCENT,
) -> Candidate:
    return Candidate(rule_id, scope, scope_id, terms, T0 + timedelta(days=days))  # type: ignore[arg-type]


# --- terms ------------------------------------------------------------------------------


def test_valid_terms_of_each_type() -> None:
    assert RuleTerms("percent", percent_bps=0).percent_bps == 0
    assert RuleTerms("percent", percent_bps=10_000).percent_bps == 10_000
    assert RuleTerms("flat", flat=usd(0)).flat == usd(0)
    both = RuleTerms("percent_plus_flat", percent_bps=800, flat=usd(30))
    assert (both.percent_bps, both.flat) == (800, usd(30))


@pytest.mark.parametrize(
    ("kwargs", "loc", "code", "message"),
    [
        (
            {"type": "percent"},
            ("percent_bps",),
            "missing",
            "percent_bps is required for a percent rule",
        ),
        (
            {"type": "percent_plus_flat", "flat": usd(30)},
            ("percent_bps",),
            "missing",
            "percent_bps is required for a percent_plus_flat rule",
        ),
        (
            {"type": "percent", "percent_bps": 10_001},
            ("percent_bps",),
            "out_of_range",
            "percent_bps must be between 0 and 10000 (100 %)",
        ),
        (
            {"type": "percent", "percent_bps": -1},
            ("percent_bps",),
            "out_of_range",
            "percent_bps must be between 0 and 10000 (100 %)",
        ),
        (
            {"type": "percent", "percent_bps": True},
            ("percent_bps",),
            "invalid",
            "percent_bps must be an integer",
        ),
        (
            {"type": "percent", "percent_bps": 1000, "flat": usd(30)},
            ("flat",),
            "not_allowed",
            "flat is not used by a percent rule: leave it out",
        ),
        ({"type": "flat"}, ("flat",), "missing", "flat is required for a flat rule"),
        (
            {"type": "percent_plus_flat", "percent_bps": 800},
            ("flat",),
            "missing",
            "flat is required for a percent_plus_flat rule",
        ),
        (
            {"type": "flat", "flat": usd(-1)},
            ("flat", "amount"),
            "out_of_range",
            "the flat fee must not be negative",
        ),
        (
            {"type": "flat", "flat": usd(30), "percent_bps": 0},
            ("percent_bps",),
            "not_allowed",
            "percent_bps is not used by a flat rule: leave it out",
        ),
        (
            {"type": "tiered", "percent_bps": 100},
            ("type",),
            "invalid_type",
            "type must be one of percent, flat, percent_plus_flat",
        ),
    ],
)
def test_invalid_terms_name_their_field(
    kwargs: dict[str, object], loc: tuple[str, ...], code: str, message: str
) -> None:
    with pytest.raises(InvalidRuleTerms) as caught:
        RuleTerms(**kwargs)  # type: ignore[arg-type]

    assert str(caught.value) == message
    assert caught.value.loc == loc
    assert caught.value.code == code


# --- the amount -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "line", "expected"),
    [
        (RuleTerms("percent", percent_bps=1000), usd(10_000), usd(1_000)),
        (RuleTerms("percent", percent_bps=1250), usd(1_999), usd(250)),  # 249.875 -> 250
        # Banker's rounding: exact halves go to the even cent.
        (RuleTerms("percent", percent_bps=5000), usd(1), usd(0)),  # 0.5 -> 0
        (RuleTerms("percent", percent_bps=5000), usd(3), usd(2)),  # 1.5 -> 2
        (RuleTerms("percent", percent_bps=250), usd(100), usd(2)),  # 2.5 -> 2
        (RuleTerms("percent", percent_bps=350), usd(100), usd(4)),  # 3.5 -> 4
        (RuleTerms("percent", percent_bps=0), usd(10_000), usd(0)),
        (RuleTerms("percent", percent_bps=10_000), usd(10_000), usd(10_000)),
        (RuleTerms("flat", flat=usd(30)), usd(10_000), usd(30)),
        (RuleTerms("percent_plus_flat", percent_bps=800, flat=usd(30)), usd(2_500), usd(230)),
        # Never more than the line: a 0.50 fee on a 0.20 line takes the 0.20.
        (RuleTerms("flat", flat=usd(50)), usd(20), usd(20)),
        (RuleTerms("percent_plus_flat", percent_bps=9000, flat=usd(500)), usd(1000), usd(1000)),
        (RuleTerms("flat", flat=usd(30)), usd(0), usd(0)),
        (RuleTerms("percent", percent_bps=1000), Money(1_000, "JPY"), Money(100, "JPY")),
        (RuleTerms("percent", percent_bps=1000), Money(1_005, "BHD"), Money(100, "BHD")),
    ],
)
def test_commission_on_a_line(terms: RuleTerms, line: Money, expected: Money) -> None:
    assert commission_on(terms, line) == expected


def test_the_flat_fee_is_charged_once_per_line_whatever_the_quantity() -> None:
    terms = RuleTerms("percent_plus_flat", percent_bps=1000, flat=usd(30))
    one_unit, five_units = usd(2_000), usd(2_000) * 5

    assert commission_on(terms, one_unit) == usd(230)
    assert commission_on(terms, five_units) == usd(1_030)


def test_a_flat_fee_in_another_currency_is_refused() -> None:
    terms = RuleTerms("percent_plus_flat", percent_bps=1000, flat=Money(30, "EUR"))

    with pytest.raises(CommissionCurrencyMismatch) as caught:
        commission_on(terms, usd(2_000))

    assert str(caught.value) == (
        "the flat fee is in EUR but the line is in USD; "
        "commission does not convert currencies (pricing does)"
    )
    assert isinstance(caught.value, CurrencyMismatch)


def test_a_negative_line_is_refused() -> None:
    with pytest.raises(ValueError, match="line total must not be negative"):
        commission_on(TEN_PERCENT, usd(-100))


currencies = st.sampled_from(["USD", "EUR", "JPY", "BHD"])


@st.composite
def terms_and_line(draw: st.DrawFn) -> tuple[RuleTerms, Money]:
    currency = draw(currencies)
    kind = draw(st.sampled_from(["percent", "flat", "percent_plus_flat"]))
    bps = draw(st.integers(0, 10_000)) if kind != "flat" else None
    flat = Money(draw(st.integers(0, 10**9)), currency) if kind != "percent" else None
    line = Money(draw(st.integers(0, 10**12)), currency)
    return RuleTerms(kind, percent_bps=bps, flat=flat), line  # type: ignore[arg-type]


@given(terms_and_line())
def test_commission_is_never_negative_nor_more_than_the_line(
    case: tuple[RuleTerms, Money],
) -> None:
    terms, line = case

    commission = commission_on(terms, line)

    assert commission.currency == line.currency
    assert 0 <= commission.amount <= line.amount


@given(terms_and_line())
def test_commission_never_falls_when_the_line_grows(case: tuple[RuleTerms, Money]) -> None:
    terms, line = case

    assert commission_on(terms, line + Money(1, line.currency)) >= commission_on(terms, line)


# --- which rule applies -----------------------------------------------------------------


def test_no_rule_means_no_commission_rule() -> None:
    assert choose([], vendor_id=VENDOR, category_path=PATH, at=T0) is None


def test_the_default_applies_when_nothing_more_specific_exists() -> None:
    default = rule("r_default", "default", None)

    assert choose([default], vendor_id=VENDOR, category_path=PATH, at=T0) == default


def test_a_category_rule_beats_the_default() -> None:
    default = rule("r_default", "default", None, days=5)
    category = rule("r_cat", "category", ROOT)

    assert (
        choose([default, category], vendor_id=VENDOR, category_path=PATH, at=T0 + timedelta(days=5))
        == category
    )


def test_the_deepest_category_with_a_rule_wins() -> None:
    root = rule("r_root", "category", ROOT, days=3)
    parent = rule("r_parent", "category", PARENT)
    leaf = rule("r_leaf", "category", LEAF, days=1)
    at = T0 + timedelta(days=3)

    assert choose([root, parent, leaf], vendor_id=VENDOR, category_path=PATH, at=at) == leaf
    assert choose([root, parent], vendor_id=VENDOR, category_path=PATH, at=at) == parent
    assert choose([root], vendor_id=VENDOR, category_path=PATH, at=at) == root
    # Before the leaf's rule starts, the parent's applies.
    assert choose([root, parent, leaf], vendor_id=VENDOR, category_path=PATH, at=T0) == parent


def test_a_vendor_rule_beats_every_category_and_the_default() -> None:
    vendor = rule("r_vendor", "vendor", VENDOR)
    others = [rule("r_default", "default", None, days=1), rule("r_leaf", "category", LEAF, days=1)]

    chosen = choose(
        [*others, vendor], vendor_id=VENDOR, category_path=PATH, at=T0 + timedelta(days=2)
    )

    assert chosen == vendor


def test_rules_of_other_vendors_and_categories_are_ignored() -> None:
    default = rule("r_default", "default", None)
    candidates = [
        rule("r_other_vendor", "vendor", "ven_2"),
        rule("r_other_cat", "category", "cat_x"),
        default,
    ]

    assert choose(candidates, vendor_id=VENDOR, category_path=PATH, at=T0) == default


def test_the_latest_rule_in_force_wins_and_the_past_keeps_its_rule() -> None:
    old = rule("r_1", "default", None)
    new = rule("r_2", "default", None, days=10)
    scheduled = rule("r_3", "default", None, days=20)
    candidates = [scheduled, old, new]

    def at(days: float) -> Candidate | None:
        return choose(
            candidates, vendor_id=VENDOR, category_path=PATH, at=T0 + timedelta(days=days)
        )

    assert at(-1) is None
    assert at(0) == old  # effective_from is inclusive
    assert at(9.99) == old
    assert at(10) == new
    assert at(19) == new
    assert at(20) == scheduled


def test_a_vendor_rule_not_yet_in_force_does_not_apply() -> None:
    default = rule("r_default", "default", None)
    vendor = rule("r_vendor", "vendor", VENDOR, days=7)

    assert (
        choose([default, vendor], vendor_id=VENDOR, category_path=PATH, at=T0 + timedelta(days=6))
        == default
    )


def test_same_instant_rules_resolve_to_the_later_created_id() -> None:
    first = rule("cmr_01A", "default", None)
    second = rule("cmr_01B", "default", None)

    assert choose([second, first], vendor_id=VENDOR, category_path=PATH, at=T0) == second
    assert choose([first, second], vendor_id=VENDOR, category_path=PATH, at=T0) == second


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        choose([], vendor_id=VENDOR, category_path=PATH, at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="effective_from must be timezone-aware"):
        Candidate("r", "default", None, TEN_PERCENT, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("scope", "scope_id"), [("default", "x"), ("vendor", None), ("category", None)]
)
def test_a_candidate_scope_id_matches_its_scope(scope: str, scope_id: str | None) -> None:
    with pytest.raises(ValueError, match="a default rule has no scope_id"):
        Candidate("r", scope, scope_id, TEN_PERCENT, T0)  # type: ignore[arg-type]


scope_ids = {"vendor": ["ven_1", "ven_2"], "category": [LEAF, PARENT, ROOT, "cat_x"]}


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(0, 12))
    result = []
    for n in range(count):
        scope = draw(st.sampled_from(["vendor", "category", "default"]))
        scope_id = None if scope == "default" else draw(st.sampled_from(scope_ids[scope]))
        result.append(rule(f"r_{n:02d}", scope, scope_id, days=draw(st.integers(-30, 30))))
    return result


instants = st.integers(-40, 40).map(lambda d: T0 + timedelta(days=d))


@given(candidates(), instants, st.randoms(use_true_random=False))
def test_choice_does_not_depend_on_candidate_order(
    found: list[Candidate], at: datetime, random: Random
) -> None:
    shuffled = list(found)
    random.shuffle(shuffled)

    assert choose(shuffled, vendor_id=VENDOR, category_path=PATH, at=at) == choose(
        found, vendor_id=VENDOR, category_path=PATH, at=at
    )


@given(candidates(), instants)
def test_a_vendor_rule_in_force_always_wins(found: list[Candidate], at: datetime) -> None:
    vendor_rules = [
        c for c in found if c.scope == "vendor" and c.scope_id == VENDOR and c.effective_from <= at
    ]

    chosen = choose(found, vendor_id=VENDOR, category_path=PATH, at=at)

    if vendor_rules:
        assert chosen is not None
        assert chosen.scope == "vendor"
        assert chosen.scope_id == VENDOR
        assert chosen.effective_from == max(c.effective_from for c in vendor_rules)


@given(candidates(), instants)
def test_the_chosen_rule_is_in_force_and_applies_to_this_line(
    found: list[Candidate], at: datetime
) -> None:
    chosen = choose(found, vendor_id=VENDOR, category_path=PATH, at=at)

    in_force = [c for c in found if c.effective_from <= at]
    applicable = [
        c
        for c in in_force
        if c.scope == "default"
        or (c.scope == "vendor" and c.scope_id == VENDOR)
        or (c.scope == "category" and c.scope_id in PATH)
    ]
    if not applicable:
        assert chosen is None
        return
    assert chosen in applicable
    # Nothing applicable is more specific than the choice.
    rank = {"vendor": 0, "category": 1, "default": 2}

    def specificity(c: Candidate) -> tuple[int, int]:
        return rank[c.scope], PATH.index(c.scope_id) if c.scope == "category" else 0  # type: ignore[arg-type]

    assert specificity(chosen) == min(specificity(c) for c in applicable)
