"""The documents' TTF fonts, parsed once per process and handed to each PDF as a fresh copy.

fpdf2's `FPDF.add_font` parses the whole file with fontTools for every document: about half
of a receipt's CPU. What it derives (the cmap, the glyph widths and ids, the names and
metrics) depends on the file alone, so each file is parsed once per process into a template
and every document gets a copy of the template in which only the state a document changes is
its own:

- `subset` (the glyphs the document used), `missing_glyphs`, `biggest_size_pt`, `i` (the
  font's number in that PDF);
- `cw`, a defaultdict that grows when a width is looked up for a character the font lacks;
- `desc`, the font descriptor, which `output()` names and numbers as one of the document's
  PDF objects;
- `ttfont`, the font program `output()` subsets and embeds: a `FontProgram`, whose subsets
  are built once per process and glyph set (`receipt_font_program`), or, where that cannot
  be used, a fontTools font read from the file's bytes kept in memory.

The template itself is never written after it is built (under a lock), so documents may be
rendered in several threads at once. Everything else (`cmap`, `glyph_ids`, names, metrics)
is read-only and shared.

The copy relies on fpdf2's `TTFFont` attributes as of 2.8: if an upgrade changes them, or a
font needs state this copy does not know (colour glyphs, compressed files, a `.notdef`
fpdf2 draws itself), `add_font` falls back to fpdf2's own parsing, slower but correct.

Glyph blocks: a subset built once is reused only by a document asking for the same glyphs,
which documents using exactly the same characters rarely do. With `glyph_blocks`, a
document's font embeds every glyph of each Unicode block it uses a character of
(`BLOCKS`), so that documents in the same scripts embed the same subset. The text and the
content stream are the same (fpdf2 numbers glyphs in the order of use and maps them to the
subset's glyph ids); the embedded program, and so the bytes, differ: which of the two a
document was rendered with is recorded with it (`receipt_pdf.Layout`). Both paths, the copy
and fpdf2's own parsing, embed the same blocks.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Final

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

from marketplace.orders.domain.receipt_font_program import FontProgram, Programs, installed

# `TTFFont.__slots__` split by who may write them once the font is built.
_PER_DOCUMENT: Final = frozenset(
    {"i", "subset", "missing_glyphs", "biggest_size_pt", "cw", "desc", "ttfont", "_hbfont"}
)
_SHARED: Final = frozenset(
    {
        "type",
        "name",
        "glyph_ids",
        "sp",
        "ss",
        "up",
        "ut",
        "ttffile",
        "fontkey",
        "emphasis",
        "scale",
        "cmap",
        "color_font",
        "unicode_range",
        "palette_index",
        "is_compressed",
        "is_cff",
        "is_cid_keyed",
        "is_symbol",
        "cff_ros",
        "collection_font_number",
    }
)

# The Unicode blocks a document embeds whole (code point ranges, inclusive). A character in
# none of them embeds its own glyph only.
BLOCKS: Final[Mapping[str, tuple[tuple[int, int], ...]]] = {
    "basic": ((0x0000, 0x00FF), (0x2000, 0x20CF)),  # Latin-1, punctuation, currency signs
    "latin-extended": ((0x0100, 0x024F), (0x1E00, 0x1EFF)),
    "greek": ((0x0370, 0x03FF),),
    "cyrillic": ((0x0400, 0x052F),),
}


@dataclass(frozen=True, slots=True)
class _GlyphBlocks:
    """A font's glyphs in each of `BLOCKS`, and the block of each code point it draws."""

    glyphs: tuple[tuple[str, ...], ...]
    block_of: Mapping[int, int]  # code point -> index in `glyphs`

    @classmethod
    def of(cls, cmap: Mapping[int, str]) -> _GlyphBlocks:
        glyphs: list[tuple[str, ...]] = []
        block_of: dict[int, int] = {}
        for index, ranges in enumerate(BLOCKS.values()):
            codes = sorted(c for c in cmap if any(low <= c <= high for low, high in ranges))
            glyphs.append(tuple(dict.fromkeys(cmap[c] for c in codes)))
            block_of.update(dict.fromkeys(codes, index))
        return cls(tuple(glyphs), block_of)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One font file: its bytes, the font fpdf2 built from them (never rendered with), its
    tables' tags, the subsets embedded so far and the glyphs of each of its blocks."""

    data: bytes
    template: TTFFont
    tags: frozenset[str]
    programs: Programs
    blocks: _GlyphBlocks


_lock = threading.Lock()
# None: a font the copy does not support, added the slow way.
_parsed: dict[tuple[str, str, str], _Parsed | None] = {}


def copies_supported() -> bool:
    """Whether this fpdf2's font object has exactly the attributes the copy knows."""
    return frozenset(TTFFont.__slots__) == _PER_DOCUMENT | _SHARED


def add_font(pdf: FPDF, family: str, style: str, path: Path, *, glyph_blocks: bool = False) -> None:
    """`pdf.add_font(family, style, path)`, without parsing the file again in this process;
    with `glyph_blocks`, the font embeds the whole blocks of the characters it draws."""
    parsed = _parse(family, style, path) if copies_supported() else None
    if parsed is None:
        before = set(pdf.fonts)
        pdf.add_font(family, style, str(path))
        if glyph_blocks:
            for key in pdf.fonts.keys() - before:
                added = pdf.fonts[key]
                if isinstance(added, TTFFont):
                    added.subset = _BlockSubset(added, _GlyphBlocks.of(added.cmap))
        return
    template = parsed.template
    font = TTFFont.__new__(TTFFont)
    for name in _SHARED:
        if hasattr(template, name):  # fpdf2 declares `unicode_range` but never sets it
            setattr(font, name, getattr(template, name))
    font.i = len(pdf.fonts) + 1
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.cw = template.cw.copy()  # a defaultdict: the copy keeps the default width
    font.desc = copy.copy(template.desc)
    # `output()` compiles a CFF font's table from the subset font itself: those get one.
    if installed() and not template.is_cff:
        font.ttfont = FontProgram(parsed.programs, parsed.tags)
    else:
        font.ttfont = TTFont(BytesIO(parsed.data), recalcTimestamp=False, lazy=True)
    font._hbfont = None
    font.subset = _BlockSubset(font, parsed.blocks) if glyph_blocks else SubsetMap(font)
    pdf.fonts[font.fontkey] = font


def programs_of(family: str, style: str, path: Path) -> Programs | None:
    """The subsets of this font built in this process; None if documents do not share
    them (the font or this fpdf2 is not one the copy supports)."""
    parsed = _parse(family, style, path) if copies_supported() else None
    return None if parsed is None else parsed.programs


class _BlockSubset(SubsetMap):
    """The glyphs a document uses (fpdf2's `SubsetMap`), embedding the whole blocks of the
    characters it draws."""

    def __init__(self, font: TTFFont, blocks: _GlyphBlocks) -> None:
        super().__init__(font)
        self._blocks = blocks

    def get_all_glyph_names(self) -> Sequence[str]:
        block_of = self._blocks.block_of
        touched = {
            block_of[code]
            for glyph, _ in self.items()
            if glyph is not None and isinstance(glyph.unicode, tuple)
            for code in glyph.unicode
            if code in block_of
        }
        names = list(super().get_all_glyph_names())
        for index in sorted(touched):
            names.extend(self._blocks.glyphs[index])
        # Each once, in a stable order (fontTools reads them as a set: the subset is the same).
        return list(dict.fromkeys(names))


def _parse(family: str, style: str, path: Path) -> _Parsed | None:
    key = (family, style, str(path))
    with _lock:
        if key not in _parsed:
            _parsed[key] = _build(family, style, path)
        return _parsed[key]


def _build(family: str, style: str, path: Path) -> _Parsed | None:
    probe = FPDF()
    probe.add_font(family, style, str(path))
    (template,) = probe.fonts.values()
    assert isinstance(template, TTFFont)
    # fpdf2 reads the TTFont lazily from the file: everything the template keeps is derived
    # by now, and each document reads its own TTFont from `data`.
    template.close()
    if template.color_font is not None or template.is_compressed:
        return None
    data = path.read_bytes()
    font = TTFont(BytesIO(data), lazy=True)
    tags = frozenset(font.keys())
    glyph_order = font.getGlyphOrder()
    font.close()
    # fpdf2 draws a `.notdef` into its own font if the file has none: not into a copy's.
    if "glyf" in tags and ".notdef" not in glyph_order:
        return None
    return _Parsed(data, template, tags, Programs(data), _GlyphBlocks.of(template.cmap))
