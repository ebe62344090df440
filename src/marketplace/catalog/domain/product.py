"""Product rules without I/O: statuses, translations by Accept-Language, search text and
search-query sanitising, price ranges."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

ProductStatus = Literal["draft", "active", "archived"]
STATUSES: Final = ("draft", "active", "archived")
Sort = Literal["relevance", "price_asc", "price_desc", "newest", "rating"]

LANGUAGE_PATTERN: Final = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def is_visible(status: str, deleted: bool, vendor_listable: bool) -> bool:
    return status == "active" and not deleted and vendor_listable


def accepted_languages(header: str | None) -> list[str]:
    """Languages from an Accept-Language header, best first (RFC 9110 q-values)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


@dataclass(frozen=True, slots=True)
class Localized:
    language: str
    title: str
    description: str


def localize(
    *,
    default_language: str,
    title: str,
    description: str,
    translations: Mapping[str, Mapping[str, str]],
    wanted: Sequence[str],
) -> Localized:
    """The best translation for `wanted` languages; "de-AT" falls back to "de"; otherwise
    the product's own language. A translation missing a field borrows the default's."""
    available = {lang.lower(): lang for lang in translations}
    for tag in wanted:
        for candidate in (tag, tag.split("-")[0]):
            if candidate == default_language.lower():
                return Localized(default_language, title, description)
            if candidate in available:
                chosen = translations[available[candidate]]
                return Localized(
                    available[candidate],
                    chosen.get("title") or title,
                    chosen.get("description") or description,
                )
    return Localized(default_language, title, description)


def search_document(
    title: str,
    description: str,
    translations: Mapping[str, Mapping[str, str]],
    extra: Iterable[str] = (),
) -> str:
    parts = [title, description]
    for translation in translations.values():
        parts.extend([translation.get("title", ""), translation.get("description", "")])
    parts.extend(extra)
    return "\n".join(p for p in parts if p)


_WORD = re.compile(r"\w+", re.UNICODE)


def search_terms(query: str, *, limit: int = 8) -> list[str]:
    """Words of a free-text query, safe to hand to a full-text engine (no operators)."""
    return [w.lower() for w in _WORD.findall(query)][:limit]


def fts5_query(terms: Sequence[str]) -> str:
    """All terms, each a quoted prefix match: `"wool"* "hat"*`."""
    return " ".join(f'"{t}"*' for t in terms)


def tsquery(terms: Sequence[str]) -> str:
    """PostgreSQL to_tsquery text: every term as a prefix, all required."""
    return " & ".join(f"{t}:*" for t in terms)


def price_range(prices: Iterable[int]) -> tuple[int, int]:
    values = list(prices)
    return min(values), max(values)
