"""Cart rules without a database: quantity limits, merging, line problems, totals, tokens."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from marketplace.orders.domain.cart import (
    MAX_LINES,
    MAX_QUANTITY,
    Line,
    added_quantity,
    hash_token,
    line_problems,
    merge_lines,
    new_guest_token,
    token_matches,
    totals_by_currency,
)


def test_adding_units_stays_within_one_to_ninety_nine() -> None:
    assert added_quantity(1, 1) == 2
    assert added_quantity(90, 9) == 99
    assert added_quantity(90, 10) is None
    assert added_quantity(5, 0) is None
    assert added_quantity(0, 100) is None


def test_merge_sums_shared_variants_caps_them_and_appends_the_rest_in_order() -> None:
    merged = merge_lines(
        [Line("var_a", 2), Line("var_b", 60)],
        [Line("var_b", 50), Line("var_c", 1), Line("var_a", 3)],
    )

    assert merged == [Line("var_a", 5), Line("var_b", 99), Line("var_c", 1)]


def test_merge_drops_new_lines_beyond_the_line_limit_but_still_sums_shared_ones() -> None:
    full = [Line(f"var_{n:03d}", 1) for n in range(MAX_LINES)]

    merged = merge_lines(full, [Line("var_new", 4), Line("var_000", 2)])

    assert len(merged) == MAX_LINES
    assert "var_new" not in {line.variant_id for line in merged}
    assert merged[0] == Line("var_000", 3)


lines_strategy = st.lists(
    st.builds(Line, st.sampled_from([f"var_{n}" for n in range(8)]), st.integers(1, MAX_QUANTITY)),
    max_size=8,
    unique_by=lambda line: line.variant_id,
)


@given(into=lines_strategy, source=lines_strategy)
def test_merging_any_two_carts_keeps_every_variant_once_with_summed_capped_quantities(
    into: list[Line], source: list[Line]
) -> None:
    merged = merge_lines(into, source)

    variants = [line.variant_id for line in merged]
    assert len(variants) == len(set(variants))
    assert set(variants) == {line.variant_id for line in into + source}
    mine = {line.variant_id: line.quantity for line in into}
    theirs = {line.variant_id: line.quantity for line in source}
    for line in merged:
        expected = min(mine.get(line.variant_id, 0) + theirs.get(line.variant_id, 0), MAX_QUANTITY)
        assert line.quantity == expected
    # The customer's own lines keep their order, ahead of the guest's new ones.
    assert variants[: len(into)] == [line.variant_id for line in into]


def test_line_problems_from_live_catalog_and_stock_facts() -> None:
    def problems(**facts: object) -> list[str]:
        base: dict[str, object] = {
            "quantity": 3,
            "known": True,
            "purchasable": True,
            "available": 10,
        }
        return list(line_problems(**{**base, **facts}))  # type: ignore[arg-type]

    assert problems() == []
    assert problems(available=3) == []
    assert problems(available=2) == ["insufficient_stock"]
    assert problems(available=0) == ["out_of_stock"]
    assert problems(available=None) == ["out_of_stock"]
    assert problems(purchasable=False) == ["not_purchasable"]
    assert problems(known=False, available=None) == ["not_purchasable", "out_of_stock"]


def test_totals_are_kept_per_currency_in_currency_order() -> None:
    assert totals_by_currency([("USD", 100), ("EUR", 250), ("USD", 5)]) == {"EUR": 250, "USD": 105}
    assert totals_by_currency([]) == {}


def test_guest_tokens_are_random_and_checked_against_their_hash_only() -> None:
    token = new_guest_token()
    stored = hash_token(token)

    assert token != new_guest_token()
    assert len(stored) == 64
    assert token not in stored
    assert token_matches(token, stored)
    assert not token_matches(token + "x", stored)
    assert not token_matches(None, stored)
    assert not token_matches("", stored)
    assert not token_matches(token, None)
