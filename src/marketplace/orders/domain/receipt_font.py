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
- `ttfont`, the fontTools font, which `output()` subsets in place and closes: each document
  reads its own from the file's bytes kept in memory (lazily: only the tables subsetting
  needs are decoded).

The template itself is never written after it is built (under a lock), so documents may be
rendered in several threads at once. Everything else (`cmap`, `glyph_ids`, names, metrics)
is read-only and shared.

The copy relies on fpdf2's `TTFFont` attributes as of 2.8: if an upgrade changes them, or a
font needs state this copy does not know (colour glyphs, compressed files), `add_font`
falls back to fpdf2's own parsing, slower but correct.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Final

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

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


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One font file: its bytes and the font fpdf2 built from them, never rendered with."""

    data: bytes
    template: TTFFont


_lock = threading.Lock()
# None: a font the copy does not support, added the slow way.
_parsed: dict[tuple[str, str, str], _Parsed | None] = {}


def copies_supported() -> bool:
    """Whether this fpdf2's font object has exactly the attributes the copy knows."""
    return frozenset(TTFFont.__slots__) == _PER_DOCUMENT | _SHARED


def add_font(pdf: FPDF, family: str, style: str, path: Path) -> None:
    """`pdf.add_font(family, style, path)`, without parsing the file again in this process."""
    parsed = _parse(family, style, path) if copies_supported() else None
    if parsed is None:
        pdf.add_font(family, style, str(path))
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
    font.ttfont = TTFont(BytesIO(parsed.data), recalcTimestamp=False, lazy=True)
    font._hbfont = None
    font.subset = SubsetMap(font)
    pdf.fonts[font.fontkey] = font


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
    return _Parsed(path.read_bytes(), template)
