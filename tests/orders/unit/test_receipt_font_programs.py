"""The documents' embedded fonts: built once per glyph set and reused, byte for byte what
fpdf2 alone embeds; glyph blocks (layout 2) shared by documents in the same scripts and
reading as layout 1 does. (Both layouts against fpdf2's own parsing and subsetting:
`test_receipt_documents`.)"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import fontTools.subset
import fpdf.output
import pytest
from fpdf import FPDF
from fpdf.fonts import TTFFont
from pypdf import PdfReader

from factories.documents import receipt_data, statement_data
from marketplace.orders.domain import receipt_font
from marketplace.orders.domain.receipt_font_program import Programs, Request, installed
from marketplace.orders.domain.receipt_pdf import (
    FONT,
    LAYOUT,
    Layout,
    font_paths,
    render_receipt,
    render_statement,
)

Render = Callable[[Layout], bytes]

DOCUMENTS: list[Render] = [
    lambda layout: render_receipt(
        receipt_data("Crème brûlée 中 Ελληνικά Чай", "de"), layout=layout
    ),
    lambda layout: render_receipt(receipt_data("Tee " * 40, currency="INR"), layout=layout),
    lambda layout: render_statement(statement_data("Ωmega Øre ŁÓDŹ"), layout=layout),
]


def _programs() -> tuple[Programs, Programs]:
    regular, bold = font_paths()
    found = receipt_font.programs_of(FONT, "", regular), receipt_font.programs_of(FONT, "B", bold)
    assert found[0] is not None
    assert found[1] is not None
    return found[0], found[1]


@pytest.fixture
def cold() -> Iterator[tuple[Programs, Programs]]:
    """The embedded fonts' caches, emptied before and after the test."""
    programs = _programs()
    for cache in programs:
        cache.clear()
    yield programs
    for cache in programs:
        cache.clear()


def _fpdf_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on fpdf2 parses and subsets every font itself, as without `receipt_font`."""
    monkeypatch.setattr(receipt_font, "copies_supported", lambda: False)
    monkeypatch.setattr(fpdf.output, "ftsubset", fontTools.subset)


def _embedded(body: bytes) -> dict[str, bytes]:
    """The font programs a PDF embeds, by font name."""
    fonts = PdfReader(io.BytesIO(body)).pages[0]["/Resources"]["/Font"]
    programs = {}
    for ref in fonts.values():
        font = ref.get_object()
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        programs[str(font["/BaseFont"])] = descriptor["/FontFile2"].get_data()
    return programs


def _text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def test_fpdf_subsets_through_the_cache_and_new_documents_embed_glyph_blocks() -> None:
    assert installed()
    assert LAYOUT is Layout.GLYPH_BLOCKS


def test_exact_glyphs_are_byte_for_byte_what_fpdf_alone_renders_cold_and_warm(
    cold: tuple[Programs, Programs], monkeypatch: pytest.MonkeyPatch
) -> None:
    regular, bold = cold
    first = [render(Layout.EXACT_GLYPHS) for render in DOCUMENTS]
    built = (regular.builds, bold.builds)
    again = [render(Layout.EXACT_GLYPHS) for render in DOCUMENTS]

    _fpdf_alone(monkeypatch)
    alone = [render(Layout.EXACT_GLYPHS) for render in DOCUMENTS]

    assert first == alone
    assert again == alone
    assert built == (3, 3)
    assert (regular.builds, regular.hits, bold.builds, bold.hits) == (3, 3, 3, 3)


def test_a_document_in_the_same_blocks_embeds_the_program_built_for_the_first(
    cold: tuple[Programs, Programs],
) -> None:
    regular, bold = cold

    mug = render_receipt(receipt_data("Vase Ö"), layout=Layout.GLYPH_BLOCKS)
    cup = render_receipt(receipt_data("Vase Ü"), layout=Layout.GLYPH_BLOCKS)

    assert mug != cup
    assert _embedded(mug) == _embedded(cup)
    assert (regular.builds, regular.hits, bold.builds, bold.hits) == (1, 1, 1, 1)
    assert (len(regular), len(bold)) == (1, 1)


def test_exact_glyphs_build_a_program_per_set_of_characters(
    cold: tuple[Programs, Programs],
) -> None:
    regular, bold = cold

    mug = render_receipt(receipt_data("Vase Ö"), layout=Layout.EXACT_GLYPHS)
    cup = render_receipt(receipt_data("Vase Ü"), layout=Layout.EXACT_GLYPHS)

    embedded_mug, embedded_cup = _embedded(mug), _embedded(cup)
    assert embedded_mug["/MPDFAA+OpenSans"] != embedded_cup["/MPDFAA+OpenSans"]
    assert embedded_mug["/MPDFAA+OpenSansBold"] == embedded_cup["/MPDFAA+OpenSansBold"]
    assert (regular.builds, regular.hits, bold.builds, bold.hits) == (2, 0, 1, 1)


def test_a_new_script_embeds_its_block_in_a_program_of_its_own(
    cold: tuple[Programs, Programs],
) -> None:
    regular, _ = cold

    render_receipt(receipt_data("Vase"), layout=Layout.GLYPH_BLOCKS)
    latin = regular.builds
    render_receipt(receipt_data("Βάζο"), layout=Layout.GLYPH_BLOCKS)
    render_receipt(receipt_data("Ваза"), layout=Layout.GLYPH_BLOCKS)
    render_receipt(receipt_data("Ваза Βάζο"), layout=Layout.GLYPH_BLOCKS)
    render_receipt(receipt_data("Βάζο Ваза"), layout=Layout.GLYPH_BLOCKS)

    assert (latin, regular.builds, regular.hits) == (1, 4, 1)


@pytest.mark.parametrize(
    "title",
    ["Crème brûlée Łódź Ærø Ñandú", "Ελληνικός καφές", "Чай Ґґ Її Жж Љ Ђ Щ"],
    ids=["latin", "greek", "cyrillic"],
)
def test_glyph_blocks_read_as_exact_glyphs_do(title: str) -> None:
    exact = render_receipt(receipt_data(title), layout=Layout.EXACT_GLYPHS)
    blocks = render_receipt(receipt_data(title), layout=Layout.GLYPH_BLOCKS)

    assert blocks != exact
    assert _text(blocks) == _text(exact)
    assert f"{title} MUG-1 2 €12.50 €25.00" in _text(blocks)


def test_documents_rendered_at_once_with_a_cold_cache_are_the_ones_rendered_alone(
    cold: tuple[Programs, Programs],
) -> None:
    titles = [f"{word} {n}" for n in range(3) for word in ("Mug Ö", "Βάζο", "Ваза", "Łódź")]
    alone = [render_receipt(receipt_data(title)) for title in titles]
    for cache in cold:
        cache.clear()

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda title: render_receipt(receipt_data(title)), titles))

    assert together == alone
    assert len(cold[0]) == 4


def test_the_least_recently_used_program_is_dropped_past_the_limit() -> None:
    regular, _ = font_paths()
    programs = Programs(regular.read_bytes(), size=2)
    options = fontTools.subset.Options()
    a, b, c = (Request(frozenset({name}), frozenset(), frozenset()) for name in "abc")

    first = programs.get(a, options)
    programs.get(b, options)
    assert programs.get(a, options) is first  # `a` is now the most recently used
    programs.get(c, options)  # drops `b`
    programs.get(a, options)
    programs.get(b, options)

    assert (programs.builds, programs.hits, len(programs)) == (4, 2, 2)


def test_a_documents_font_answers_as_its_font_file_then_as_its_subset() -> None:
    pdf = FPDF()
    regular, _ = font_paths()
    receipt_font.add_font(pdf, FONT, "", regular)
    font = pdf.fonts[FONT.lower()]
    assert isinstance(font, TTFFont)
    before = ("GPOS" in font.ttfont, font.ttfont["maxp"].numGlyphs)
    pdf.add_page()
    pdf.set_font(FONT, size=10)
    pdf.cell(text="Vase")

    pdf.output()

    assert before == (True, 938)
    assert ("GPOS" in font.ttfont, "glyf" in font.ttfont) == (False, True)
    # .notdef, .null, CR, space (recommended glyphs), V, a, s, e
    assert font.ttfont["maxp"].numGlyphs == 8
    assert font.ttfont.getGlyphID("V") == font.ttfont.getGlyphOrder().index("V")
