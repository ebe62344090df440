"""Receipt rules without I/O: language choice, money in the document's locale (with the ISO
code when the font lacks the symbol), transliteration, and deterministic PDFs."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import fontTools.subset
import fpdf.output
import pytest
from babel.numbers import parse_decimal
from fpdf import FPDF
from fpdf.fonts import TTFFont
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from factories.documents import PAID, receipt_data, statement_data
from marketplace.orders.domain import receipt_font, receipt_font_program
from marketplace.orders.domain.receipt import (
    DocumentLine,
    StatementData,
    address_lines,
    choose_locale,
    earnings,
    format_money,
    format_rate,
    payment_status,
    receipt_number,
    safe_text,
)
from marketplace.orders.domain.receipt_pdf import (
    Layout,
    font_paths,
    render_receipt,
    render_statement,
)
from marketplace.platform.money import Money

# What the embedded font (Open Sans) draws, for the rules that depend on it.
LATIN = frozenset(range(0x20, 0x250)) | {0x20AC, 0xA0}


def text_of(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def test_the_reader_locale_wins_when_it_has_labels_else_the_next_else_english() -> None:
    assert choose_locale("de", "fr") == "de"
    assert choose_locale("de-AT") == "de_AT"
    assert choose_locale("pt_BR", "es-ES,es;q=0.9") == "es_ES"
    assert choose_locale(None, "", "not a locale", "ja") == "en"


def test_amounts_follow_the_locale_and_the_currency_exponent() -> None:
    assert format_money(123456, "EUR", "de") == "1.234,56\xa0€"
    assert format_money(123456, "EUR", "en") == "€1,234.56"
    assert format_money(123456, "EUR", "de_AT") == "€\xa01.234,56"
    assert format_money(1234, "JPY", "en") == "¥1,234"
    assert format_money(1234, "BHD", "en") == "BHD\xa01.234"
    assert format_money(-500, "USD", "en") == "-$5.00"


def test_a_symbol_the_font_lacks_is_printed_as_the_iso_code() -> None:
    assert format_money(123456, "INR", "en") == "₹1,234.56"
    assert format_money(123456, "INR", "en", LATIN) == "INR\xa01,234.56"
    assert format_money(123456, "INR", "de", LATIN) == "1.234,56\xa0INR"
    assert format_money(123456, "EUR", "de", LATIN) == "1.234,56\xa0€"


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    currency=st.sampled_from(["EUR", "USD", "INR", "JPY", "BHD", "TRY"]),
    locale=st.sampled_from(["en", "de", "fr", "es", "de_AT", "en_IN"]),
)
def test_a_formatted_amount_reads_back_as_exactly_the_amount(
    amount: int, currency: str, locale: str
) -> None:
    text = safe_text(format_money(amount, currency, locale, LATIN), LATIN)
    digits = "".join(ch for ch in text if ch.isdigit() or ch in ".,-\xa0 ").strip("\xa0 ")
    parsed = parse_decimal(digits.replace("\xa0", ""), locale=locale, strict=False)
    assert parsed == Money(amount, currency).to_decimal()
    assert currency in text or any(ch in text for ch in "€$¥")


def test_characters_the_font_lacks_are_replaced_never_dropped() -> None:
    assert safe_text("1\u202f234,56\xa0€", LATIN) == "1\xa0234,56\xa0€"
    assert safe_text("Crème brûlée", LATIN) == "Crème brûlée"
    assert safe_text("Tee 中文", LATIN) == "Tee ??"
    assert safe_text("\u2212 5", LATIN) == "- 5"


def test_rates_numbers_statuses_and_addresses() -> None:
    assert format_rate(1250, "en") == "12.5%"
    assert format_rate(1250, "de") == "12,5%"
    assert format_rate(None, "en") == "-"
    assert receipt_number("ord_01ABC") == "R-01ABC"
    assert payment_status(captured=1000, refunded=0) == "paid"
    assert payment_status(captured=1000, refunded=1) == "partially_refunded"
    assert payment_status(captured=1000, refunded=1000) == "refunded"
    assert (
        earnings(gross=10000, tax=800, commission=800, commission_tax=160, platform_discount=1000)
        == 9240
    )
    assert address_lines(
        {
            "name": "Ada",
            "line1": "Hauptstraße 5",
            "postal_code": "10115",
            "city": "Berlin",
            "country": "DE",
            "line2": "",
        }
    ) == ["Ada", "Hauptstraße 5", "10115 Berlin", "DE"]


def test_the_same_data_renders_the_same_bytes() -> None:
    assert render_receipt(receipt_data()) == render_receipt(receipt_data())
    assert render_receipt(receipt_data()) != render_receipt(receipt_data(title="Cup"))


def test_a_receipt_in_rupees_prints_the_code_the_font_can_draw() -> None:
    text = text_of(render_receipt(receipt_data(currency="INR", title="Tee 中")))

    assert "Bazaar" in text
    assert "Tee ? MUG-1 2 INR\xa012.50 INR\xa025.00" in text
    assert "Order total INR\xa029.90" in text
    assert "₹" not in text


def test_a_french_statement_shows_commission_rate_and_earnings() -> None:
    data = StatementData(
        marketplace_name="Bazaar", number="S-1", order_id="ord_1", vendor_order_id="vor_1",
        vendor_name="Acme", issued_at=PAID, locale="fr", currency="EUR",
        lines=[DocumentLine("Bol", "B-1", 1, 10000, 10000, 1000, 1000)],
        subtotal=10000, discount=1000, shipping=0, tax=800, gross=9800, commission=1000,
        commission_tax=200, platform_discount=1000,
        earnings=earnings(gross=9800, tax=800, commission=1000, commission_tax=200,
                          platform_discount=1000),
    )  # fmt: skip

    text = text_of(render_statement(data))

    assert "Relevé vendeur" in text
    assert "Bol B-1 1 100,00\xa0€ 100,00\xa0€ 10% 10,00\xa0€" in text
    assert "Remise -10,00\xa0€" in text
    assert "Taxe sur la commission -2,00\xa0€" in text
    assert "Remise financée par la place de marché 10,00\xa0€" in text
    assert "Vos gains 88,00\xa0€" in text


def test_every_language_labels_everything_english_does() -> None:
    from marketplace.orders.domain.receipt_labels import CATALOGUE

    assert {lang: sorted(labels) for lang, labels in CATALOGUE.items()} == dict.fromkeys(
        ("en", "de", "fr", "es"), sorted(CATALOGUE["en"])
    )


@pytest.mark.parametrize("layout", list(Layout))
def test_documents_share_the_parsed_font_and_render_what_fpdf_alone_renders(
    monkeypatch: pytest.MonkeyPatch, layout: Layout
) -> None:
    """The font parsed once per process and its subsets built once give the bytes fpdf2's
    own `add_font` and subsetting give, including the glyphs the font lacks; only the parse
    and the subsets are shared, not a document's state."""
    first, second = FPDF(), FPDF()
    regular, _ = font_paths()
    receipt_font.add_font(first, "OpenSans", "", regular)
    receipt_font.add_font(second, "OpenSans", "", regular)
    font_a, font_b = first.fonts["opensans"], second.fonts["opensans"]
    assert isinstance(font_a, TTFFont)
    assert isinstance(font_b, TTFFont)
    assert font_a.cmap is font_b.cmap
    assert font_a.ttfont is not font_b.ttfont
    assert font_a.subset is not font_b.subset
    assert font_a.desc is not font_b.desc
    documents = [
        (render_receipt, receipt_data(locale="de", title="Crème brûlée 中 Ελληνικά Чай")),
        (render_receipt, receipt_data(currency="INR", title="Tee " * 40)),
        (render_statement, statement_data(title="Ωmega Øre ŁÓDŹ")),
    ]
    shared = [render(data, layout=layout) for render, data in documents]

    monkeypatch.setattr(receipt_font, "copies_supported", lambda: False)
    monkeypatch.setattr(fpdf.output, "ftsubset", fontTools.subset)
    assert [render(data, layout=layout) for render, data in documents] == shared


@pytest.mark.parametrize("layout", list(Layout))
def test_a_font_stream_compressed_once_gives_the_bytes_fpdf_alone_gives(
    monkeypatch: pytest.MonkeyPatch, layout: Layout
) -> None:
    assert fpdf.output.PDFFontStream is receipt_font_program.SharedFontStream
    documents = [
        (render_receipt, receipt_data(title="Mug")),
        (render_receipt, receipt_data(title="Kanne")),  # the same scripts: the same programs
        (render_statement, statement_data(title="Ωmega Чай")),
    ]
    receipt_font_program.clear_streams()
    first = [render(data, layout=layout) for render, data in documents]  # compressed here
    again = [render(data, layout=layout) for render, data in documents]  # and reused

    monkeypatch.setattr(fpdf.output, "PDFFontStream", receipt_font_program._original_font_stream)
    alone = [render(data, layout=layout) for render, data in documents]

    assert first == again == alone


def test_documents_in_the_same_scripts_share_their_compressed_font_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receipt_font_program.clear_streams()
    for title in ("Mug", "Kanne", "Tasse", "Teller"):
        render_receipt(receipt_data(title=title), layout=Layout.GLYPH_BLOCKS)
    # Latin text in two weights: two programs, whatever the document says.
    assert receipt_font_program.streams_kept() == 2

    monkeypatch.setattr(receipt_font_program, "STREAMS_KEPT", 3)
    for title in ("Mug", "Kanne 中", "Ελληνικά", "Чай"):  # each its own set of blocks
        render_receipt(receipt_data(title=title), layout=Layout.GLYPH_BLOCKS)
    assert receipt_font_program.streams_kept() == 3


def test_documents_rendered_at_once_in_threads_are_the_ones_rendered_alone() -> None:
    titles = [f"Mug {n} {'ÄÖÜ' * n}" for n in range(8)]
    alone = [render_receipt(receipt_data(title=title)) for title in titles]

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda title: render_receipt(receipt_data(title=title)), titles))

    assert together == alone
