"""What a customer receipt and a vendor statement say, in which language, and how they
format money: pure data and rules, no I/O (the PDF layout is `receipt_pdf.py`).

* Language: the reader's locale when its language has a label catalogue (en, de, fr, es),
  else English. Numbers and amounts follow the full locale (``de_AT`` puts the euro sign
  first, ``de`` after), labels follow its language.
* Amounts are integer minor units of the order's currency, formatted by
  `platform.money.Money.format` (ISO decimals, the locale's pattern). When the document's
  font has no glyph for the currency symbol (Open Sans has no ₹, ₽, ₺...), the ISO code is
  printed instead (`INR 1,234.56`), never a blank box.
* Numbers: a receipt is ``R-<order ulid>``, a statement ``S-<vendor order ulid>``: unique,
  stable, and printed on the document so support can find it from a customer's copy.
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_percent, get_currency_symbol

from marketplace.orders.domain.receipt_labels import CATALOGUE
from marketplace.platform.money import Money

DocumentKind = Literal["receipt", "vendor_statement"]
LANGUAGES: Final = tuple(CATALOGUE)
FALLBACK_LOCALE: Final = "en"


def choose_locale(*candidates: str | None) -> str:
    """The first candidate Babel knows whose language has labels (``de-AT`` → ``de_AT``),
    else ``en``. Candidates are tried in order: the reader's own locale first."""
    for candidate in candidates:
        if not candidate:
            continue
        tag = candidate.split(",")[0].split(";")[0].strip().replace("-", "_")
        try:
            parsed = Locale.parse(tag)
        except (ValueError, UnknownLocaleError, TypeError):
            continue
        if parsed.language in CATALOGUE:
            return str(parsed)
    return FALLBACK_LOCALE


def language_of(locale: str) -> str:
    language = Locale.parse(locale).language
    return language if language in CATALOGUE else FALLBACK_LOCALE


def labels(locale: str) -> Mapping[str, str]:
    return CATALOGUE[language_of(locale)]


def format_money(amount: int, currency: str, locale: str, covered: Collection[int] = ()) -> str:
    """`amount` minor units of `currency` as the locale writes it; with the ISO code in place
    of a symbol the font cannot draw (when `covered`, the font's code points, is given)."""
    money = Money(amount, currency)
    text = money.format(locale)
    # Where the locale has no symbol, CLDR prints the code against the digits ("BHD1.234").
    symbol_is_code = get_currency_symbol(currency, locale=locale) == currency
    drawable = not covered or all(ord(ch) in covered or ch.isspace() for ch in text)
    if drawable and not symbol_is_code:
        return text
    # The locale's own pattern with "¤¤" (the ISO code) for "¤" (the symbol): INR 1,234.56.
    parsed = Locale.parse(locale)
    pattern = copy.copy(parsed.currency_formats["standard"])
    pattern.frac_prec = (money.exponent, money.exponent)
    pattern.prefix = tuple(_iso(part, before=True) for part in pattern.prefix)
    pattern.suffix = tuple(_iso(part, before=False) for part in pattern.suffix)
    return str(
        format_currency(
            money.to_decimal(), currency, format=pattern, locale=parsed, currency_digits=False
        )
    )


def _iso(affix: str, *, before: bool) -> str:
    if "¤" not in affix:
        return affix
    affix = affix.replace("¤", "¤¤")
    # A symbol may touch the number ("$1.00"); a code needs a space ("USD 1.00").
    if before and not affix.endswith(("\u00a0", " ")):
        return affix + "\u00a0"
    if not before and not affix.startswith(("\u00a0", " ")):
        return "\u00a0" + affix
    return affix


def format_rate(bps: int | None, locale: str) -> str:
    """A basis-point rate as a percentage (``1250`` → ``12.5%``, ``12,5 %`` in German)."""
    if bps is None:
        return "-"
    return str(format_percent(bps / 10_000, format="#,##0.##%", locale=locale))


def format_day(moment: datetime, locale: str) -> str:
    return str(format_date(moment.date(), format="long", locale=locale))


# Spaces the typesetter's font may lack, and what reads the same.
_SAFE: Final = {"\u202f": "\u00a0", "\u2009": " ", "\u2007": " ", "\u2212": "-", "\u2011": "-"}


def safe_text(text: str, covered: Collection[int]) -> str:
    """`text` with every character the font cannot draw replaced: narrow spaces by
    no-break spaces, then by its compatibility decomposition without accents (``ő`` → ``o``),
    then by ``?``. Nothing is silently dropped: a title in a script the font lacks shows
    question marks, the SKU and amounts beside it stay exact."""
    if all(ord(ch) in covered for ch in text):
        return text
    out: list[str] = []
    for ch in text:
        if ord(ch) in covered:
            out.append(ch)
            continue
        replacement = _SAFE.get(ch)
        if replacement is not None and all(ord(r) in covered for r in replacement):
            out.append(replacement)
            continue
        decomposed = "".join(
            c
            for c in unicodedata.normalize("NFKD", ch)
            if not unicodedata.combining(c) and ord(c) in covered
        )
        out.append(decomposed or "?")
    return "".join(out)


# --- what the documents say --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentLine:
    title: str
    sku: str
    quantity: int
    unit_price: int
    amount: int  # quantity x unit price
    commission: int = 0
    commission_rate_bps: int | None = None


@dataclass(frozen=True, slots=True)
class VendorSection:
    """One vendor's part of a checkout, as the customer's receipt shows it."""

    vendor_name: str
    vendor_order_id: str
    lines: Sequence[DocumentLine]
    subtotal: int
    discount: int
    shipping: int
    shipping_method: str
    tax: int
    total: int


@dataclass(frozen=True, slots=True)
class ReceiptData:
    marketplace_name: str
    number: str
    order_id: str
    issued_at: datetime
    locale: str
    currency: str
    address: Sequence[str]
    vendors: Sequence[VendorSection]
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    payment_provider: str
    payment_status: str  # paid | partially_refunded | refunded
    paid_at: datetime
    amount_paid: int


@dataclass(frozen=True, slots=True)
class StatementData:
    marketplace_name: str
    number: str
    order_id: str
    vendor_order_id: str
    vendor_name: str
    issued_at: datetime
    locale: str
    currency: str
    lines: Sequence[DocumentLine]
    subtotal: int
    discount: int  # the vendor's own discounts
    shipping: int
    tax: int
    gross: int  # what the customer paid for this vendor order
    commission: int
    commission_tax: int
    platform_discount: int
    earnings: int


# How providers are named to people; the sandbox is never mistaken for a real payment.
PROVIDER_NAMES: Final[Mapping[str, str]] = {
    "sandbox": "Sandbox (test)",
    "stripe": "Stripe",
    "paypal": "PayPal",
    "razorpay": "Razorpay",
}


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def receipt_number(order_id: str) -> str:
    return "R-" + order_id.split("_", 1)[-1].upper()


def statement_number(vendor_order_id: str) -> str:
    return "S-" + vendor_order_id.split("_", 1)[-1].upper()


def payment_status(*, captured: int, refunded: int) -> str:
    if refunded <= 0:
        return "paid"
    return "refunded" if refunded >= captured else "partially_refunded"


def earnings(
    *, gross: int, tax: int, commission: int, commission_tax: int, platform_discount: int
) -> int:
    """What the vendor is owed for a vendor order (the ledger's split, docs/ledger.md)."""
    return gross - tax - commission - commission_tax + platform_discount


def address_lines(address: Mapping[str, object]) -> list[str]:
    """A postal address as printed lines: name, street lines, postal code and city, region,
    country; blank parts left out."""
    get: Callable[[str], str] = lambda k: str(address.get(k) or "").strip()  # noqa: E731
    city = " ".join(p for p in (get("postal_code"), get("city")) if p)
    parts = [get("name"), get("company"), get("line1"), get("line2"), city, get("state")]
    parts.append(get("region") if not get("state") else "")
    parts.append(get("country"))
    return [p for p in parts if p]
