"""The PDF layout of receipts and vendor statements: `ReceiptData` / `StatementData` in,
bytes out (fpdf2), nothing else.

The font is Open Sans (Apache 2.0), shipped by the `ttf-opensans` package and embedded as a
subset: Latin (with every accent en/de/fr/es need), Greek and Cyrillic, the euro and pound
signs. Characters it lacks are transliterated by `receipt.safe_text` and amounts whose
currency symbol it lacks are printed with the ISO code (`receipt.format_money`).

Rendering is deterministic: the PDF's creation date is the document's issue date, so the
same data in the same `Layout` gives the same bytes (and the same SHA-256).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from enum import IntEnum
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from marketplace.orders.domain.receipt import (
    DocumentLine,
    ReceiptData,
    StatementData,
    format_day,
    format_money,
    format_rate,
    labels,
    language_of,
    provider_name,
    safe_text,
)
from marketplace.orders.domain.receipt_font import add_font

FONT: Final = "OpenSans"
_LINE_H: Final = 6.0
_PAGE_W: Final = 180.0  # A4 (210 mm) less 15 mm margins


class Layout(IntEnum):
    """How a document was rendered, recorded with it so that it can be rendered again to the
    same bytes. Documents issued with a layout must keep rendering the same: a change to
    their bytes is a new layout."""

    EXACT_GLYPHS = 1  # the font subset to the glyphs the document draws
    GLYPH_BLOCKS = 2  # the font subset to the Unicode blocks it draws (`receipt_font`)


# New documents: subsets shared by documents in the same scripts, built once per process.
LAYOUT: Final = Layout.GLYPH_BLOCKS


@cache
def font_paths() -> tuple[Path, Path]:
    """The regular and bold TTF files inside the installed `ttf_opensans` package."""
    folder = files("ttf_opensans").joinpath("ttf")
    with as_file(folder.joinpath("OpenSans-Regular.ttf")) as regular:
        regular_path = Path(regular)
    with as_file(folder.joinpath("OpenSans-Bold.ttf")) as bold:
        bold_path = Path(bold)
    return regular_path, bold_path


class _Doc:
    """An A4 page writer that formats every string for the font it embeds."""

    def __init__(
        self, *, title: str, author: str, locale: str, issued_at: datetime, layout: Layout
    ) -> None:
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        regular, bold = font_paths()
        blocks = layout is Layout.GLYPH_BLOCKS
        add_font(pdf, FONT, "", regular, glyph_blocks=blocks)
        add_font(pdf, FONT, "B", bold, glyph_blocks=blocks)
        pdf.set_margins(15, 15, 15)
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_title(title)
        pdf.set_author(author)
        pdf.set_lang(language_of(locale))
        pdf.set_creation_date(issued_at)
        pdf.add_page()
        self.pdf = pdf
        self.locale = locale
        font = pdf.fonts[FONT.lower()]
        assert isinstance(font, TTFFont)
        self.covered: Collection[int] = frozenset(font.cmap)

    def text(self, value: str) -> str:
        return safe_text(value, self.covered)

    def money(self, amount: int, currency: str) -> str:
        return self.text(format_money(amount, currency, self.locale, self.covered))

    def font(self, size: float, *, bold: bool = False) -> None:
        self.pdf.set_font(FONT, "B" if bold else "", size)

    def line(self, value: str, *, size: float = 10, bold: bool = False) -> None:
        self.font(size, bold=bold)
        self.pdf.cell(
            _PAGE_W, _LINE_H, self.fit(value, _PAGE_W), new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    def fit(self, value: str, width: float) -> str:
        """`value` cut with an ellipsis to fit `width` in the current font."""
        text = self.text(value)
        if self.pdf.get_string_width(text) <= width - 2:
            return text
        while text and self.pdf.get_string_width(text + "...") > width - 2:
            text = text[:-1]
        return text + "..."

    def row(
        self,
        cells: Sequence[str],
        widths: Sequence[float],
        *,
        bold: bool = False,
        aligns: Sequence[str] | None = None,
    ) -> None:
        self.font(9, bold=bold)
        for index, (value, width) in enumerate(zip(cells, widths, strict=True)):
            align = aligns[index] if aligns else ("L" if index == 0 else "R")
            self.pdf.cell(width, _LINE_H, self.fit(value, width), align=align)
        self.pdf.ln(_LINE_H)

    def field(self, label: str, value: str) -> None:
        self.row([label, value], [60, _PAGE_W - 60], aligns=["L", "L"])

    def total(self, label: str, value: str, *, bold: bool = False) -> None:
        self.row([label, value], [_PAGE_W - 45, 45], bold=bold)

    def gap(self, height: float = 3) -> None:
        self.pdf.ln(height)

    def rule(self) -> None:
        y = self.pdf.get_y()
        self.pdf.line(15, y, 15 + _PAGE_W, y)
        self.gap(1)

    def note(self, value: str) -> None:
        self.font(8)
        self.pdf.multi_cell(_PAGE_W, 4.5, self.text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


_RECEIPT_COLUMNS: Final = (78.0, 30.0, 14.0, 29.0, 29.0)
_STATEMENT_COLUMNS: Final = (52.0, 24.0, 10.0, 24.0, 24.0, 18.0, 28.0)


def render_receipt(data: ReceiptData, *, layout: Layout = LAYOUT) -> bytes:
    """The customer's receipt: every vendor's lines, shipping, discount, tax, the total and
    how it was paid."""
    t = labels(data.locale)
    doc = _Doc(
        title=f"{t['receipt']} {data.number}",
        author=data.marketplace_name,
        locale=data.locale,
        issued_at=data.issued_at,
        layout=layout,
    )
    c = data.currency
    doc.line(data.marketplace_name, size=16, bold=True)
    doc.line(t["receipt"], size=13, bold=True)
    doc.gap()
    doc.field(t["receipt_number"], data.number)
    doc.field(t["order"], data.order_id)
    doc.field(t["date"], format_day(data.issued_at, data.locale))
    doc.gap()
    doc.line(t["address"], size=9, bold=True)
    for part in data.address:
        doc.line(part, size=9)
    for section in data.vendors:
        doc.gap(4)
        doc.line(f"{t['sold_by']}: {section.vendor_name}", size=11, bold=True)
        doc.row(
            [t["item"], t["sku"], t["qty"], t["unit_price"], t["amount"]],
            _RECEIPT_COLUMNS,
            bold=True,
        )
        doc.rule()
        for line in section.lines:
            doc.row(_receipt_line(doc, line, c), _RECEIPT_COLUMNS)
        doc.rule()
        doc.total(t["subtotal"], doc.money(section.subtotal, c))
        if section.discount:
            doc.total(t["discount"], doc.money(-section.discount, c))
        doc.total(f"{t['shipping']} ({section.shipping_method})", doc.money(section.shipping, c))
        doc.total(t["tax"], doc.money(section.tax, c))
        doc.total(t["total"], doc.money(section.total, c), bold=True)
    doc.gap(4)
    doc.rule()
    doc.total(t["subtotal"], doc.money(data.subtotal, c))
    doc.total(t["discount"], doc.money(-data.discount if data.discount else 0, c))
    doc.total(t["shipping"], doc.money(data.shipping, c))
    doc.total(t["tax"], doc.money(data.tax, c))
    doc.total(t["order_total"], doc.money(data.total, c), bold=True)
    doc.gap(4)
    doc.line(t["payment"], size=11, bold=True)
    doc.field(t["provider"], provider_name(data.payment_provider))
    doc.field(t["status"], t[f"status_{data.payment_status}"])
    doc.field(t["paid_at"], format_day(data.paid_at, data.locale))
    doc.field(t["amount_paid"], doc.money(data.amount_paid, c))
    doc.gap(6)
    doc.note(t["receipt_note"])
    return doc.output()


def _receipt_line(doc: _Doc, line: DocumentLine, currency: str) -> list[str]:
    return [
        line.title,
        line.sku,
        str(line.quantity),
        doc.money(line.unit_price, currency),
        doc.money(line.amount, currency),
    ]


def render_statement(data: StatementData, *, layout: Layout = LAYOUT) -> bytes:
    """A vendor's statement for one vendor order: its lines only, the commission per line
    with its rate, tax on commission, and the earnings."""
    t = labels(data.locale)
    doc = _Doc(
        title=f"{t['statement']} {data.number}",
        author=data.marketplace_name,
        locale=data.locale,
        issued_at=data.issued_at,
        layout=layout,
    )
    c = data.currency
    doc.line(data.marketplace_name, size=16, bold=True)
    doc.line(t["statement"], size=13, bold=True)
    doc.gap()
    doc.field(t["statement_number"], data.number)
    doc.field(t["vendor"], data.vendor_name)
    doc.field(t["vendor_order"], data.vendor_order_id)
    doc.field(t["order"], data.order_id)
    doc.field(t["date"], format_day(data.issued_at, data.locale))
    doc.gap(4)
    doc.row(
        [t["item"], t["sku"], t["qty"], t["unit_price"], t["amount"], t["rate"], t["commission"]],
        _STATEMENT_COLUMNS,
        bold=True,
    )
    doc.rule()
    for line in data.lines:
        doc.row(
            [
                line.title,
                line.sku,
                str(line.quantity),
                doc.money(line.unit_price, c),
                doc.money(line.amount, c),
                format_rate(line.commission_rate_bps, data.locale),
                doc.money(line.commission, c),
            ],
            _STATEMENT_COLUMNS,
        )
    doc.rule()
    doc.total(t["subtotal"], doc.money(data.subtotal, c))
    if data.discount:
        doc.total(t["discount"], doc.money(-data.discount, c))
    doc.total(t["shipping"], doc.money(data.shipping, c))
    doc.total(t["tax"], doc.money(data.tax, c))
    doc.total(t["gross"], doc.money(data.gross, c), bold=True)
    doc.gap(2)
    doc.total(t["tax"], doc.money(-data.tax, c))
    doc.total(t["commission"], doc.money(-data.commission, c))
    if data.commission_tax:
        doc.total(t["commission_tax"], doc.money(-data.commission_tax, c))
    if data.platform_discount:
        doc.total(t["platform_discount"], doc.money(data.platform_discount, c))
    doc.total(t["earnings"], doc.money(data.earnings, c), bold=True)
    doc.gap(6)
    doc.note(t["statement_note"])
    return doc.output()
