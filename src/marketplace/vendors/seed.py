"""Demo vendors for `marketplace seed-demo`: three approved, KYC-verified stores in three
currencies, with shipping options, policies and payout accounts. Owners come from identity's
demo accounts."""

from __future__ import annotations

from marketplace.identity.public import PERMISSIONS, Principal, VendorAccess, user_id_by_email
from marketplace.platform.crypto import FieldCipher
from marketplace.platform.money import MoneySchema
from marketplace.platform.uow import UnitOfWorkFactory
from marketplace.vendors.repository import store as repo
from marketplace.vendors.schemas.store import (
    Address,
    Business,
    PayoutAccountIn,
    Policies,
    ShippingOptionIn,
    VendorApply,
    VendorSettings,
)
from marketplace.vendors.service import store as service

DEMO_VENDORS = (
    {
        "owner": "owner1@demo.example.com",
        "apply": VendorApply(
            name="Nordic Knits",
            slug="nordic-knits",
            business=Business(
                legal_name="Nordic Knits GmbH",
                country="DE",
                tax_id="DE123456789",
                address=Address(
                    line1="Torstraße 1", city="Berlin", postal_code="10119", country="DE"
                ),
            ),
            contact_email="hello@nordic-knits.example.com",
            currency="EUR",
            description="Hand-knitted wool from Berlin.",
        ),
        "shipping": [("DHL Paket", 490, 2, 4, ["DE", "AT"]), ("International", 1490, 5, 12, [])],
        "payout": {"type": "bank", "iban": "DE89370400440532013000"},
    },
    {
        "owner": "owner2@demo.example.com",
        "apply": VendorApply(
            name="Kyoto Ceramics",
            slug="kyoto-ceramics",
            business=Business(
                legal_name="Kyoto Ceramics KK",
                country="JP",
                address=Address(line1="1 Gojo-zaka", city="Kyoto", country="JP"),
            ),
            contact_email="shop@kyoto-ceramics.example.com",
            currency="JPY",
            description="Kiyomizu-yaki tableware.",
        ),
        "shipping": [("Japan Post EMS", 2500, 4, 10, [])],
        "payout": {"type": "wallet", "wallet_provider": "paypal", "wallet_id": "kenji@example.com"},
    },
    {
        "owner": "owner3@demo.example.com",
        "apply": VendorApply(
            name="Brooklyn Roasters",
            slug="brooklyn-roasters",
            business=Business(
                legal_name="Brooklyn Roasters LLC",
                country="US",
                tax_id="12-3456789",
                address=Address(
                    line1="100 Wythe Ave",
                    city="Brooklyn",
                    region="NY",
                    postal_code="11249",
                    country="US",
                ),
            ),
            contact_email="beans@brooklyn-roasters.example.com",
            currency="USD",
            description="Small-batch coffee, roasted weekly.",
        ),
        "shipping": [("USPS Ground", 599, 3, 6, ["US"]), ("Express", 1999, 1, 2, ["US"])],
        "payout": {"type": "bank", "account_number": "000123456789", "routing_number": "011000015"},
    },
)


async def seed_demo(uow_factory: UnitOfWorkFactory, cipher: FieldCipher) -> list[str]:
    created = []
    for spec in DEMO_VENDORS:
        application = spec["apply"]
        assert isinstance(application, VendorApply)
        async with uow_factory() as uow:
            if await repo.slug_taken(uow.session, application.slug):
                continue
            owner_id = await user_id_by_email(uow, str(spec["owner"]))
            if owner_id is None:
                continue
            vendor = await service.apply(uow, cipher, user_id=owner_id, body=application)
            await service.review(
                uow,
                vendor_id=vendor.id,
                action="approve",
                reason=None,
                actor_id="seed",
                actor_role="operator",
            )
            await service.set_kyc(
                uow, vendor_id=vendor.id, status="verified", actor_id="seed", actor_role="operator"
            )
            access = VendorAccess(
                Principal(kind="user", id=owner_id), vendor.id, "owner", frozenset(PERMISSIONS)
            )
            shipping = spec["shipping"]
            assert isinstance(shipping, list)
            await service.put_settings(
                uow,
                access=access,
                body=VendorSettings(
                    policies=Policies(
                        returns="Returns accepted within 30 days in original condition.",
                        shipping="Ships within 2 business days.",
                        terms="Prices include VAT where applicable.",
                    ),
                    shipping_options=[
                        ShippingOptionIn(
                            name=name,
                            price=MoneySchema(amount=price, currency=application.currency),
                            delivery_days_min=low,
                            delivery_days_max=high,
                            countries=countries,
                        )
                        for name, price, low, high, countries in shipping
                    ],
                ),
            )
            payout = spec["payout"]
            assert isinstance(payout, dict)
            await service.set_payout_account(
                uow,
                cipher,
                access=access,
                body=PayoutAccountIn(
                    holder_name=application.business.legal_name,
                    country=application.business.country,
                    current_password="seeded",
                    **payout,
                ),
            )
            await uow.commit()
            created.append(application.slug)
    return created
