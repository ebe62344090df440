"""The product CSV format, without I/O: the header, one row parsed and validated into a typed
`RowSpec` (or the exact `RowError`s with row and column), and the cells of an export row,
escaped against formula injection.

Rows are numbered as a spreadsheet shows them: the header is row 1, so the first product is
row 2; blank rows keep their number but are skipped. One row is one SKU. Columns:

    sku,title,description,category,price,currency,quantity,low_stock_threshold,status,
    image_urls

plus any number of `title:<lang>` / `description:<lang>` translation columns. Column order is
free and names are case-insensitive; unknown or repeated columns are refused, so a typo never
silently drops data. `sku, title, category, price, currency, quantity` are required; an empty
optional cell keeps the current value on update and takes the default on create (description
"", threshold 0, status draft). `price` is in major units ("19.99"), at most as many decimals
as the currency has. `image_urls` holds http(s) URLs separated by spaces or `|`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Final, cast
from urllib.parse import urlsplit

from marketplace.catalog.domain.product import LANGUAGE_PATTERN, STATUSES, ProductStatus

COLUMNS: Final = (
    "sku",
    "title",
    "description",
    "category",
    "price",
    "currency",
    "quantity",
    "low_stock_threshold",
    "status",
    "image_urls",
)
REQUIRED_COLUMNS: Final = ("sku", "title", "category", "price", "currency", "quantity")
TRANSLATED_COLUMNS: Final = ("title", "description")
HEADER_ROW: Final = 1

SKU_PATTERN: Final = re.compile(r"^[A-Za-z0-9._/-]+$")
SKU_MAX: Final = 64
TITLE_MAX: Final = 200
DESCRIPTION_MAX: Final = 20_000
CATEGORY_MAX: Final = 80
QUANTITY_MAX: Final = 10_000_000
THRESHOLD_MAX: Final = 1_000_000
PRICE_MAX_MINOR: Final = 1_000_000_000
IMAGE_URLS_MAX: Final = 10
IMAGE_URL_MAX: Final = 2000
TRANSLATIONS_MAX: Final = 50

# Spreadsheet programs run a cell starting with one of these as a formula (OWASP CSV
# injection); a leading apostrophe makes them show it as text.
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_ESCAPE: Final = re.compile("^'*[" + re.escape("".join(FORMULA_PREFIXES)) + "]")
_IMAGE_SEPARATORS: Final = re.compile(r"[\s|]+")
_INTEGER: Final = re.compile(r"^[0-9]+$")
_DECIMAL: Final = re.compile(r"^[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str | None  # None when the problem is the row itself (too many cells)
    message: str


class HeaderInvalid(ValueError):
    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("; ".join(f"{e.column}: {e.message}" for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class Header:
    """Where each known column is: base columns by name, translations by (column, language)."""

    positions: Mapping[str, int]
    translations: Mapping[tuple[str, str], int]
    width: int

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(lang for _, lang in self.translations))


@dataclass(frozen=True, slots=True)
class RowContext:
    """What a row is checked against: the store's currency and its number of decimals."""

    currency: str
    exponent: int


@dataclass(frozen=True, slots=True)
class RowSpec:
    """A valid row. None means "cell empty or column absent": keep on update, default on
    create."""

    row: int
    sku: str
    title: str
    category: str
    price_amount: int
    currency: str
    quantity: int
    description: str | None = None
    low_stock_threshold: int | None = None
    status: ProductStatus | None = None
    image_urls: tuple[str, ...] = ()
    # language -> {"title": ..., "description": ...}, only the cells that were filled in
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def parse_header(cells: Sequence[str]) -> Header:
    """The header's layout, or HeaderInvalid listing every problem (row 1, by column)."""
    errors: list[RowError] = []
    positions: dict[str, int] = {}
    translations: dict[tuple[str, str], int] = {}
    seen: set[str] = set()
    for index, raw in enumerate(cells):
        name = raw.strip()
        if index == 0:
            name = name.lstrip("\ufeff")
        if not name:
            errors.append(RowError(HEADER_ROW, f"#{index + 1}", "empty column name"))
            continue
        base, colon, language = name.partition(":")
        base = base.strip().lower()
        language = language.strip()
        key = f"{base}:{language}" if colon else base
        if key.lower() in seen:
            errors.append(RowError(HEADER_ROW, name, "column appears twice"))
            continue
        seen.add(key.lower())
        if not colon:
            if base not in COLUMNS:
                errors.append(RowError(HEADER_ROW, name, "unknown column"))
            else:
                positions[base] = index
            continue
        if base not in TRANSLATED_COLUMNS:
            errors.append(
                RowError(HEADER_ROW, name, "only title and description have translations")
            )
        elif not LANGUAGE_PATTERN.match(language):
            errors.append(RowError(HEADER_ROW, name, "not a language tag such as de or pt-BR"))
        else:
            translations[(base, language)] = index
    for required in REQUIRED_COLUMNS:
        if required not in positions:
            errors.append(RowError(HEADER_ROW, required, "required column is missing"))
    if len({lang for _, lang in translations}) > TRANSLATIONS_MAX:
        errors.append(
            RowError(HEADER_ROW, None, f"at most {TRANSLATIONS_MAX} translation languages")
        )
    if errors:
        raise HeaderInvalid(errors)
    return Header(positions=positions, translations=translations, width=len(cells))


def is_blank(cells: Sequence[str]) -> bool:
    """An empty line, or a row of empty cells (what spreadsheets write for a blank row)."""
    return all(not cell.strip() for cell in cells)


def escape_cell(value: str) -> str:
    """The cell as a spreadsheet will show it as text, never run it as a formula.

    Values that already start with apostrophes before a formula character get one more, so
    `unescape_cell` can tell them apart: the two are exact inverses.
    """
    return "'" + value if _NEEDS_ESCAPE.match(value) else value


def unescape_cell(value: str) -> str:
    """Undo `escape_cell`, so an exported file imports back to the same values."""
    if value.startswith("'") and _NEEDS_ESCAPE.match(value[1:]):
        return value[1:]
    return value


def format_price(amount: int, exponent: int) -> str:
    """Minor units as the decimal string the price column holds: 1999, 2 -> "19.99"."""
    if exponent == 0:
        return str(amount)
    whole, fraction = divmod(amount, 10**exponent)
    return f"{whole}.{fraction:0{exponent}d}"


def parse_price(text: str, exponent: int) -> int:
    """ "19.99" with 2 decimals -> 1999; ValueError with a message fit for the vendor."""
    if not _DECIMAL.match(text):
        raise ValueError("not a price such as 19.99")
    fraction = text.partition(".")[2]
    if len(fraction) > exponent:
        raise ValueError(f"at most {exponent} decimal places" if exponent else "no decimal places")
    try:
        amount = int(Decimal(text).scaleb(exponent))
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise ValueError("not a price such as 19.99") from None
    if amount <= 0:
        raise ValueError("must be positive")
    if amount > PRICE_MAX_MINOR:
        raise ValueError("too large")
    return amount


def _integer(text: str, maximum: int) -> int:
    if not _INTEGER.match(text):
        raise ValueError("not a whole number")
    value = int(text)
    if value > maximum:
        raise ValueError(f"must be at most {maximum}")
    return value


def parse_image_urls(text: str) -> tuple[str, ...]:
    """The distinct URLs of an image_urls cell, checked for form only (http/https, a host)."""
    urls = tuple(dict.fromkeys(u for u in _IMAGE_SEPARATORS.split(text) if u))
    if len(urls) > IMAGE_URLS_MAX:
        raise ValueError(f"at most {IMAGE_URLS_MAX} images")
    for url in urls:
        if len(url) > IMAGE_URL_MAX:
            raise ValueError(f"URL longer than {IMAGE_URL_MAX} characters")
        try:
            parts = urlsplit(url)
        except ValueError:
            raise ValueError(f"not a URL: {url}") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError(f"only http and https URLs: {url}")
        if not parts.hostname:
            raise ValueError(f"URL without a host: {url}")
    return urls


class _Row:
    """One row's cells by column name, collecting errors as fields are read."""

    def __init__(self, number: int, cells: Sequence[str], header: Header) -> None:
        self.number = number
        self.cells = cells
        self.header = header
        self.errors: list[RowError] = []

    def cell(self, column: str) -> str | None:
        index = self.header.positions.get(column)
        if index is None or index >= len(self.cells):
            return None
        return unescape_cell(self.cells[index])

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.number, column, message))

    def text(self, column: str, maximum: int, *, required: bool, strip: bool = True) -> str | None:
        value = self.cell(column)
        if value is not None and strip:
            value = value.strip()
        if not value or (not strip and not value.strip()):
            if required:
                self.error(column, "required")
            return None
        if len(value) > maximum:
            self.error(column, f"longer than {maximum} characters")
            return None
        return value


def parse_row(
    number: int, cells: Sequence[str], header: Header, context: RowContext
) -> RowSpec | list[RowError]:
    """The row as a RowSpec, or every problem found in it (each with its column)."""
    row = _Row(number, cells, header)
    if len(cells) > header.width and not is_blank(cells[header.width :]):
        row.error(None, f"has {len(cells)} cells, the header has {header.width}")
        return row.errors

    sku = row.text("sku", SKU_MAX, required=True)
    if sku is not None and not SKU_PATTERN.match(sku):
        row.error("sku", "may contain only letters, digits and . _ / -")
        sku = None
    title = row.text("title", TITLE_MAX, required=True)
    description = row.text("description", DESCRIPTION_MAX, required=False, strip=False)
    category = row.text("category", CATEGORY_MAX, required=True)

    currency = row.text("currency", 3, required=True)
    if currency is not None:
        currency = currency.upper()
        if currency != context.currency:
            row.error("currency", f"prices are in the store's currency, {context.currency}")
            currency = None

    price: int | None = None
    price_text = row.text("price", 32, required=True)
    if price_text is not None:
        try:
            price = parse_price(price_text, context.exponent)
        except ValueError as error:
            row.error("price", str(error))

    quantity: int | None = None
    quantity_text = row.text("quantity", 16, required=True)
    if quantity_text is not None:
        try:
            quantity = _integer(quantity_text, QUANTITY_MAX)
        except ValueError as error:
            row.error("quantity", str(error))

    threshold: int | None = None
    threshold_text = row.text("low_stock_threshold", 16, required=False)
    if threshold_text is not None:
        try:
            threshold = _integer(threshold_text, THRESHOLD_MAX)
        except ValueError as error:
            row.error("low_stock_threshold", str(error))

    status: ProductStatus | None = None
    status_text = row.text("status", 16, required=False)
    if status_text is not None:
        if status_text.lower() in STATUSES:
            status = cast(ProductStatus, status_text.lower())
        else:
            row.error("status", "must be draft, active or archived")

    image_urls: tuple[str, ...] = ()
    images_text = row.text("image_urls", IMAGE_URLS_MAX * (IMAGE_URL_MAX + 1), required=False)
    if images_text is not None:
        try:
            image_urls = parse_image_urls(images_text)
        except ValueError as error:
            row.error("image_urls", str(error))

    translations: dict[str, dict[str, str]] = {}
    for (column, language), index in header.translations.items():
        name = f"{column}:{language}"
        raw = unescape_cell(cells[index]) if index < len(cells) else ""
        value = raw.strip() if column == "title" else raw
        if not value.strip():
            continue
        limit = TITLE_MAX if column == "title" else DESCRIPTION_MAX
        if len(value) > limit:
            row.error(name, f"longer than {limit} characters")
            continue
        translations.setdefault(language, {})[column] = value

    if (
        row.errors
        or sku is None
        or title is None
        or category is None
        or currency is None
        or price is None
        or quantity is None
    ):
        return row.errors
    return RowSpec(
        row=number,
        sku=sku,
        title=title,
        category=category,
        price_amount=price,
        currency=currency,
        quantity=quantity,
        description=description,
        low_stock_threshold=threshold,
        status=status,
        image_urls=image_urls,
        translations=translations,
    )


def export_header(languages: Sequence[str]) -> list[str]:
    columns = list(COLUMNS)
    for language in languages:
        columns.extend([f"title:{language}", f"description:{language}"])
    return columns


def export_row(cells: Sequence[str]) -> list[str]:
    """An export row with every cell made safe to open in a spreadsheet."""
    return [escape_cell(cell) for cell in cells]
