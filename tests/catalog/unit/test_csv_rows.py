"""The product CSV format: header rules, one row's exact errors by column, prices in major
units, and formula-injection escaping on export that import undoes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.catalog.domain.csv_rows import (
    COLUMNS,
    FORMULA_PREFIXES,
    Header,
    HeaderInvalid,
    RowContext,
    RowError,
    RowSpec,
    escape_cell,
    export_header,
    export_row,
    format_price,
    is_blank,
    parse_header,
    parse_price,
    parse_row,
    unescape_cell,
)

EUR = RowContext(currency="EUR", exponent=2)
JPY = RowContext(currency="JPY", exponent=0)
HEADER = parse_header([*COLUMNS, "title:de", "description:de"])


def cells(**values: str) -> list[str]:
    """A full row in HEADER's order: a valid product unless overridden."""
    row = {
        "sku": "HAT-RED",
        "title": "Wool hat",
        "description": "Warm.",
        "category": "knitwear",
        "price": "25.00",
        "currency": "EUR",
        "quantity": "5",
        "low_stock_threshold": "1",
        "status": "active",
        "image_urls": "",
        "title:de": "",
        "description:de": "",
    }
    row.update({k.replace("__", ":"): v for k, v in values.items()})
    return list(row.values())


# --- header -------------------------------------------------------------------------------


def test_header_positions_and_languages() -> None:
    header = parse_header(
        ["\ufeffSKU", " Title ", "category", "price", "currency", "quantity", "title:pt-BR"]
    )

    assert header == Header(
        positions={
            "sku": 0,
            "title": 1,
            "category": 2,
            "price": 3,
            "currency": 4,
            "quantity": 5,
        },
        translations={("title", "pt-BR"): 6},
        width=7,
    )
    assert header.languages == ("pt-BR",)


def test_header_lists_every_problem_by_column() -> None:
    with pytest.raises(HeaderInvalid) as invalid:
        parse_header(
            ["sku", "titel", "sku", "price", "", "quantity", "title:xx_1", "colour:de", "currency"]
        )

    assert invalid.value.errors == [
        RowError(1, "titel", "unknown column"),
        RowError(1, "sku", "column appears twice"),
        RowError(1, "#5", "empty column name"),
        RowError(1, "title:xx_1", "not a language tag such as de or pt-BR"),
        RowError(1, "colour:de", "only title and description have translations"),
        RowError(1, "title", "required column is missing"),
        RowError(1, "category", "required column is missing"),
    ]


# --- rows ---------------------------------------------------------------------------------


def test_a_valid_row() -> None:
    spec = parse_row(
        2,
        cells(title__de="Wollmütze", image_urls="https://cdn.example.com/a.jpg | http://x.org/b"),
        HEADER,
        EUR,
    )

    assert spec == RowSpec(
        row=2,
        sku="HAT-RED",
        title="Wool hat",
        category="knitwear",
        price_amount=2500,
        currency="EUR",
        quantity=5,
        description="Warm.",
        low_stock_threshold=1,
        status="active",
        image_urls=("https://cdn.example.com/a.jpg", "http://x.org/b"),
        translations={"de": {"title": "Wollmütze"}},
    )


def test_empty_optional_cells_mean_keep_or_default() -> None:
    spec = parse_row(
        7, cells(description="", low_stock_threshold="", status="", currency="eur"), HEADER, EUR
    )

    assert isinstance(spec, RowSpec)
    assert (spec.description, spec.low_stock_threshold, spec.status, spec.currency) == (
        None,
        None,
        None,
        "EUR",
    )


def test_every_bad_cell_is_reported_with_its_column() -> None:
    errors = parse_row(
        5,
        cells(
            sku="HAT RED",
            title="",
            category=" ",
            price="19.999",
            currency="USD",
            quantity="-1",
            low_stock_threshold="2000000",
            status="live",
            image_urls="ftp://files.example.com/a.jpg",
            title__de="x" * 201,
        ),
        HEADER,
        EUR,
    )

    assert errors == [
        RowError(5, "sku", "may contain only letters, digits and . _ / -"),
        RowError(5, "title", "required"),
        RowError(5, "category", "required"),
        RowError(5, "currency", "prices are in the store's currency, EUR"),
        RowError(5, "price", "at most 2 decimal places"),
        RowError(5, "quantity", "not a whole number"),
        RowError(5, "low_stock_threshold", "must be at most 1000000"),
        RowError(5, "status", "must be draft, active or archived"),
        RowError(5, "image_urls", "only http and https URLs: ftp://files.example.com/a.jpg"),
        RowError(5, "title:de", "longer than 200 characters"),
    ]


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("", "required"),
        ("0", "must be positive"),
        ("0.00", "must be positive"),
        ("19,99", "not a price such as 19.99"),
        ("1e3", "not a price such as 19.99"),
        ("€5", "not a price such as 19.99"),
        ("10000000.01", "too large"),
    ],
)
def test_price_errors(price: str, message: str) -> None:
    assert parse_row(3, cells(price=price), HEADER, EUR) == [RowError(3, "price", message)]


def test_prices_follow_the_currency_exponent() -> None:
    assert parse_price("19.99", 2) == 1999
    assert parse_price("19.9", 2) == 1990
    assert parse_price("19", 2) == 1900
    assert parse_price("1999", 0) == 1999
    assert parse_price("1.234", 3) == 1234
    with pytest.raises(ValueError, match=r"^no decimal places$"):
        parse_price("19.5", 0)
    assert [format_price(a, e) for a, e in [(1999, 2), (5, 2), (1999, 0), (1234, 3)]] == [
        "19.99",
        "0.05",
        "1999",
        "1.234",
    ]
    spec = parse_row(2, cells(price="1999", currency="JPY"), HEADER, JPY)
    assert isinstance(spec, RowSpec)
    assert spec.price_amount == 1999


def test_row_shape_errors() -> None:
    assert parse_row(4, [*cells(), "surplus"], HEADER, EUR) == [
        RowError(4, None, "has 13 cells, the header has 12")
    ]
    # Trailing empty cells (spreadsheets pad rows) are not a problem; missing ones are empty.
    assert isinstance(parse_row(4, [*cells(), "", " "], HEADER, EUR), RowSpec)
    short = parse_row(4, cells()[:6], HEADER, EUR)
    assert short == [RowError(4, "quantity", "required")]


def test_image_url_rules() -> None:
    too_many = " ".join(f"https://cdn.example.com/{n}.jpg" for n in range(11))
    assert parse_row(2, cells(image_urls=too_many), HEADER, EUR) == [
        RowError(2, "image_urls", "at most 10 images")
    ]
    assert parse_row(2, cells(image_urls="https:///nohost.jpg"), HEADER, EUR) == [
        RowError(2, "image_urls", "URL without a host: https:///nohost.jpg")
    ]
    same = parse_row(2, cells(image_urls="http://a.org/1.jpg\nhttp://a.org/1.jpg"), HEADER, EUR)
    assert isinstance(same, RowSpec)
    assert same.image_urls == ("http://a.org/1.jpg",)


def test_blank_rows() -> None:
    assert is_blank([])
    assert is_blank(["", " ", ""])
    assert not is_blank(["", "x"])


# --- formula injection --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Wool hat", "Wool hat"),
        ("19.99", "19.99"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_formula_cells_are_escaped(value: str, escaped: str) -> None:
    assert escape_cell(value) == escaped
    assert unescape_cell(escaped) == value


def test_export_rows_escape_every_cell_and_import_undoes_it() -> None:
    row = export_row(["-SKU.1", "=cmd|' /C calc'!A0", "desc", "knitwear", "19.99"])
    assert row == ["'-SKU.1", "'=cmd|' /C calc'!A0", "desc", "knitwear", "19.99"]
    assert export_header(["de"]) == [*COLUMNS, "title:de", "description:de"]

    spec = parse_row(2, cells(sku="'-SKU.1", title="'=cmd"), HEADER, EUR)
    assert isinstance(spec, RowSpec)
    assert (spec.sku, spec.title) == ("-SKU.1", "=cmd")


# Plain text, and text built to start with apostrophes and a formula character.
cell_values = st.one_of(
    st.text(),
    st.builds(
        lambda quotes, prefix, rest: quotes + prefix + rest,
        st.text(alphabet="'", max_size=3),
        st.sampled_from(FORMULA_PREFIXES),
        st.text(),
    ),
)


@given(cell_values)
def test_escaped_cells_never_start_with_a_formula_character(value: str) -> None:
    escaped = escape_cell(value)
    assert not escaped.startswith(FORMULA_PREFIXES)
    assert unescape_cell(escaped) == value


def test_apostrophes_before_a_formula_character_survive_the_round_trip() -> None:
    assert escape_cell("'=x") == "''=x"
    assert unescape_cell("''=x") == "'=x"
    assert escape_cell("'90s jacket") == "'90s jacket"
    assert unescape_cell("'90s jacket") == "'90s jacket"
