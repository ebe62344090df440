"""Commission rules: what the platform charges on an order line, and which rule applies.

A rule has terms (a percentage in basis points, a flat fee, or both) and a scope: the
platform `default`, a `category`, or one `vendor`. Rules are never edited: a change is a new
rule with a later `effective_from`, so an order placed in the past keeps resolving to the
rule that was in force when it was placed.

Resolution (`choose`): the most specific scope with a rule in force wins (vendor beats
category beats default); among categories, the deepest one on the product's category path;
within one scope, the rule with the latest `effective_from` not after the instant asked about.

Pure: no I/O, no framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

from marketplace.platform.money import CurrencyMismatch, Money, percent_of

__all__ = [
    "MAX_PERCENT_BPS",
    "SCOPES",
    "TYPES",
    "Candidate",
    "CommissionCurrencyMismatch",
    "CommissionType",
    "InvalidRuleTerms",
    "RuleTerms",
    "Scope",
    "choose",
    "commission_on",
]

CommissionType = Literal["percent", "flat", "percent_plus_flat"]
Scope = Literal["vendor", "category", "default"]
TYPES: Final[tuple[str, ...]] = get_args(CommissionType)
SCOPES: Final[tuple[str, ...]] = get_args(Scope)
MAX_PERCENT_BPS: Final = 10_000  # 100 %

_NEEDS_PERCENT: Final = frozenset({"percent", "percent_plus_flat"})
_NEEDS_FLAT: Final = frozenset({"flat", "percent_plus_flat"})


class InvalidRuleTerms(ValueError):
    """Terms that do not describe a commission; `loc` names the offending input field."""

    def __init__(self, message: str, *, loc: tuple[str, ...], code: str = "invalid") -> None:
        super().__init__(message)
        self.loc = loc
        self.code = code


class CommissionCurrencyMismatch(CurrencyMismatch):
    """A flat fee in one currency was applied to a line priced in another.

    Commission does not convert: turning a EUR fee into USD needs an exchange rate and a
    rounding decision, which belong to pricing. The caller converts, or the rule is set in
    the currency the vendor sells in.
    """


@dataclass(frozen=True, slots=True)
class RuleTerms:
    """What a rule charges. The type decides which parts are present, and only those:

    * `percent`: `percent_bps` (0..10000), no flat fee;
    * `flat`: a non-negative `flat` fee, no percentage;
    * `percent_plus_flat`: both.

    A part the type does not use must be absent (None), so a rule can never carry a number
    that silently does nothing. A 0 % rule is allowed: it is how a vendor is exempted.
    """

    type: CommissionType
    percent_bps: int | None = None
    flat: Money | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise InvalidRuleTerms(
                f"type must be one of {', '.join(TYPES)}", loc=("type",), code="invalid_type"
            )
        bps = self.percent_bps
        if self.type in _NEEDS_PERCENT:
            if bps is None:
                raise InvalidRuleTerms(
                    f"percent_bps is required for a {self.type} rule",
                    loc=("percent_bps",),
                    code="missing",
                )
            if isinstance(bps, bool) or not isinstance(bps, int):
                raise InvalidRuleTerms("percent_bps must be an integer", loc=("percent_bps",))
            if not 0 <= bps <= MAX_PERCENT_BPS:
                raise InvalidRuleTerms(
                    f"percent_bps must be between 0 and {MAX_PERCENT_BPS} (100 %)",
                    loc=("percent_bps",),
                    code="out_of_range",
                )
        elif bps is not None:
            raise InvalidRuleTerms(
                f"percent_bps is not used by a {self.type} rule: leave it out",
                loc=("percent_bps",),
                code="not_allowed",
            )
        if self.type in _NEEDS_FLAT:
            if self.flat is None:
                raise InvalidRuleTerms(
                    f"flat is required for a {self.type} rule", loc=("flat",), code="missing"
                )
            if self.flat.amount < 0:
                raise InvalidRuleTerms(
                    "the flat fee must not be negative",
                    loc=("flat", "amount"),
                    code="out_of_range",
                )
        elif self.flat is not None:
            raise InvalidRuleTerms(
                f"flat is not used by a {self.type} rule: leave it out",
                loc=("flat",),
                code="not_allowed",
            )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored rule as resolution sees it."""

    rule_id: str
    scope: Scope
    scope_id: str | None
    terms: RuleTerms
    effective_from: datetime

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if (self.scope == "default") != (self.scope_id is None):
            raise ValueError("a default rule has no scope_id; vendor and category rules do")
        _require_aware(self.effective_from, "effective_from")


def _require_aware(value: datetime, name: str) -> None:
    # Naive and aware datetimes cannot be compared; failing here names the culprit instead of
    # a TypeError deep inside max().
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _latest(candidates: Iterable[Candidate]) -> Candidate | None:
    # Ties on effective_from go to the larger id: ids are time-ordered, so the rule created
    # last wins, and the answer never depends on the order rows came back in.
    return max(candidates, key=lambda c: (c.effective_from, c.rule_id), default=None)


def choose(
    candidates: Iterable[Candidate],
    *,
    vendor_id: str,
    category_path: Sequence[str],
    at: datetime,
) -> Candidate | None:
    """The rule that applies to a line of `vendor_id` in the category `category_path[0]`
    (its ancestors follow, leaf first) at the instant `at`, or None if no rule is in force.

    Candidates of other vendors or categories are ignored, so a caller may pass more than
    it needs.
    """
    _require_aware(at, "at")
    in_force = [c for c in candidates if c.effective_from <= at]
    vendor_rule = _latest(c for c in in_force if c.scope == "vendor" and c.scope_id == vendor_id)
    if vendor_rule is not None:
        return vendor_rule
    for category_id in category_path:
        category_rule = _latest(
            c for c in in_force if c.scope == "category" and c.scope_id == category_id
        )
        if category_rule is not None:
            return category_rule
    return _latest(c for c in in_force if c.scope == "default")


def commission_on(terms: RuleTerms, line_total: Money) -> Money:
    """The commission on one order line whose total (unit price times quantity) is `line_total`.

    The percentage is taken of the line total with banker's rounding (`percent_of`, the one
    place money rounds). The flat fee is charged once per order line, whatever the quantity:
    it prices handling the line, not each unit. The commission never exceeds the line total,
    so a vendor is never charged more than the line earned.

    Refunds do not come through here: they reverse the commission recorded at sale time.
    """
    if line_total.amount < 0:
        raise ValueError("line total must not be negative")
    commission = Money.zero(line_total.currency)
    if terms.percent_bps is not None:
        commission = percent_of(line_total, terms.percent_bps)
    if terms.flat is not None:
        if terms.flat.currency != line_total.currency:
            raise CommissionCurrencyMismatch(
                f"the flat fee is in {terms.flat.currency} but the line is in "
                f"{line_total.currency}; commission does not convert currencies (pricing does)"
            )
        commission += terms.flat
    return min(commission, line_total)
