"""A browse page built from plain rows with orjson is byte for byte the JSON of the documented
response model (`Page[ProductSummary]`), whatever the row holds: translations chosen by
Accept-Language, ratings, a missing vendor listing, images with and without alt text, dates
with and without microseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.catalog.api.bodies import page_body
from marketplace.catalog.domain.product import localize
from marketplace.catalog.schemas.product import ImageRead, ProductSummary, RatingRead, VendorRef
from marketplace.platform.money import MoneySchema
from marketplace.platform.pagination import Page

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
languages = st.sampled_from(["en", "de", "de-AT", "fr", "pt-BR"])
translation = st.fixed_dictionaries({}, optional={"title": text, "description": text})
image = st.none() | st.fixed_dictionaries(
    {
        "id": text,
        "url": text,
        "thumbnails": st.dictionaries(st.sampled_from(["200", "800"]), text),
        "alt_text": st.none() | text,
        "position": st.integers(0, 20),
    }
)
moment = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def rows(draw: st.DrawFn) -> SimpleNamespace:
    rated = draw(st.integers(0, 1000))
    return SimpleNamespace(
        id=draw(text),
        vendor_id=draw(text),
        category_id=draw(text),
        language=draw(languages),
        title=draw(text),
        translations=draw(st.dictionaries(languages, translation, max_size=3)),
        currency=draw(st.sampled_from(["EUR", "JPY", "USD"])),
        min_price_amount=draw(st.integers(0, 10**9)),
        max_price_amount=draw(st.integers(0, 10**9)),
        in_stock=draw(st.booleans()),
        rating_count=rated,
        rating_score=draw(st.integers(100, 500)) if rated else 0,
        created_at=draw(moment),
        vendor_name=draw(st.none() | text),
        vendor_slug=draw(st.none() | text),
        image=draw(image),
    )


def by_the_model(rows: list[Any], cursor: str | None, wanted: list[str]) -> bytes:
    """What the handler built before: a model per part, serialized by Pydantic."""
    summaries = []
    for row in rows:
        localized = localize(
            default_language=row.language,
            title=row.title,
            description="",
            translations=row.translations,
            wanted=wanted,
        )
        summaries.append(
            ProductSummary(
                id=row.id,
                title=localized.title,
                language=localized.language,
                vendor=VendorRef(
                    id=row.vendor_id, name=row.vendor_name or "", slug=row.vendor_slug or ""
                ),
                category_id=row.category_id,
                price=MoneySchema(amount=row.min_price_amount, currency=row.currency),
                price_max=MoneySchema(amount=row.max_price_amount, currency=row.currency),
                in_stock=row.in_stock,
                rating=RatingRead(
                    average=round(row.rating_score / 100, 2) if row.rating_count else None,
                    count=row.rating_count,
                ),
                image=None if row.image is None else ImageRead(**row.image),
                created_at=row.created_at,
            )
        )
    return Page(data=summaries, next_cursor=cursor).model_dump_json().encode()


@settings(max_examples=150)
@given(
    st.lists(rows(), max_size=4),
    st.none() | st.text(max_size=8),
    st.lists(languages, max_size=2),
)
def test_a_page_is_the_json_of_the_response_model(
    page: list[Any], cursor: str | None, wanted: list[str]
) -> None:
    assert page_body(page, cursor, wanted) == by_the_model(page, cursor, wanted)


def test_a_known_row_in_german() -> None:
    row = SimpleNamespace(
        id="prd_1",
        vendor_id="ven_1",
        category_id="cat_1",
        language="en",
        title="Wool hat",
        translations={"de": {"title": "Wollmütze"}},
        currency="EUR",
        min_price_amount=2500,
        max_price_amount=2900,
        in_stock=True,
        rating_count=3,
        rating_score=467,
        created_at=datetime(2026, 11, 25, 10, 0, 0, 120000, tzinfo=UTC),
        vendor_name="Wool & Co",
        vendor_slug="wool-co",
        image=None,
    )

    assert page_body([row], None, ["de-at", "en"]) == (
        b'{"data":[{"id":"prd_1","title":"Wollm\xc3\xbctze","language":"de",'
        b'"vendor":{"id":"ven_1","name":"Wool & Co","slug":"wool-co"},"category_id":"cat_1",'
        b'"price":{"amount":2500,"currency":"EUR"},"price_max":{"amount":2900,"currency":"EUR"},'
        b'"in_stock":true,"rating":{"average":4.67,"count":3},"image":null,'
        b'"created_at":"2026-11-25T10:00:00.120000Z"}],"next_cursor":null}'
    )
