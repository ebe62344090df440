"""Typed factories for vendors: an applied (and by default approved) store with its owner."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from factories.identity import create_user
from marketplace.bootstrap import Container
from marketplace.identity.models import User
from marketplace.vendors.schemas.store import VendorApply
from marketplace.vendors.service import store

_counter = itertools.count(1)


@dataclass(frozen=True)
class MadeVendor:
    id: str
    slug: str
    owner: User


def application(**overrides: object) -> dict[str, object]:
    n = next(_counter)
    body: dict[str, object] = {
        "name": f"Store {n}",
        "slug": f"store-{n}",
        "business": {
            "legal_name": f"Store {n} GmbH",
            "country": "DE",
            "tax_id": "DE123456789",
            "address": {"line1": "Torstraße 1", "city": "Berlin", "country": "DE"},
        },
        "contact_email": f"store{n}@example.com",
        "currency": "EUR",
    }
    body.update(overrides)
    return body


async def create_vendor(
    container: Container,
    *,
    owner: User | None = None,
    status: str = "approved",
    currency: str = "EUR",
) -> MadeVendor:
    owner = owner or await create_user(container)
    body = VendorApply.model_validate(application(currency=currency))
    async with container.uow_factory() as uow:
        vendor = await store.apply(uow, container.cipher, user_id=owner.id, body=body)
        if status in {"approved", "suspended"}:
            await store.review(
                uow,
                vendor_id=vendor.id,
                action="approve",
                reason=None,
                actor_id="t",
                actor_role="test",
            )
        if status == "suspended":
            await store.review(
                uow,
                vendor_id=vendor.id,
                action="suspend",
                reason="test",
                actor_id="t",
                actor_role="test",
            )
        if status == "rejected":
            await store.review(
                uow,
                vendor_id=vendor.id,
                action="reject",
                reason="test",
                actor_id="t",
                actor_role="test",
            )
        await uow.commit()
    return MadeVendor(vendor.id, vendor.slug, owner)
