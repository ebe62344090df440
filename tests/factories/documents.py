"""Receipt and statement data for rendering tests: one paid order of one vendor."""

from __future__ import annotations

from datetime import UTC, datetime

from marketplace.orders.domain.receipt import (
    DocumentLine,
    ReceiptData,
    StatementData,
    VendorSection,
    earnings,
)

PAID = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)


def receipt_data(title: str = "Mug", locale: str = "en", currency: str = "EUR") -> ReceiptData:
    line = DocumentLine(title, "MUG-1", 2, 1250, 2500, 250, 1000)
    section = VendorSection("Acme", "vor_1", [line], 2500, 0, 490, "Standard", 0, 2990)
    return ReceiptData(
        marketplace_name="Bazaar", number="R-1", order_id="ord_1", issued_at=PAID,
        locale=locale, currency=currency, address=["Ada", "Berlin"], vendors=[section],
        subtotal=2500, discount=0, shipping=490, tax=0, total=2990,
        payment_provider="sandbox", payment_status="paid", paid_at=PAID, amount_paid=2990,
    )  # fmt: skip


def statement_data(title: str = "Bol") -> StatementData:
    return StatementData(
        marketplace_name="Bazaar", number="S-1", order_id="ord_1", vendor_order_id="vor_1",
        vendor_name="Acme", issued_at=PAID, locale="de", currency="EUR",
        lines=[DocumentLine(title, "B-1", 1, 10000, 10000, 1000, 1000)],
        subtotal=10000, discount=0, shipping=0, tax=800, gross=10000, commission=1000,
        commission_tax=0, platform_discount=0,
        earnings=earnings(gross=10000, tax=800, commission=1000, commission_tax=0,
                          platform_discount=0),
    )  # fmt: skip
