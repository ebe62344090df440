"""The vendor order state machine refuses illegal moves; the order's status is derived from
its vendor orders and its money."""

from __future__ import annotations

import pytest

from marketplace.orders.domain.status import (
    TRANSITIONS,
    IllegalTransition,
    check_transition,
    order_status,
    sources_of,
)


def test_a_shipped_vendor_order_cannot_be_canceled_and_says_why() -> None:
    with pytest.raises(IllegalTransition) as refused:
        check_transition("shipped", "canceled")
    assert (refused.value.current, refused.value.target) == ("shipped", "canceled")
    check_transition("processing", "canceled")
    assert sources_of("canceled") == {"pending_payment", "processing"}
    assert sources_of("delivered") == {"shipped"}
    assert all(not TRANSITIONS[s] for s in ("canceled", "returned"))


@pytest.mark.parametrize(
    ("statuses", "paid", "refunded", "expected"),
    [
        (["pending_payment", "pending_payment"], False, 0, "pending_payment"),
        (["canceled", "canceled"], False, 0, "canceled"),
        (["canceled", "canceled"], True, 5000, "canceled"),
        (["processing", "processing"], True, 0, "paid"),
        (["shipped", "processing"], True, 0, "partially_shipped"),
        (["shipped", "canceled"], True, 2000, "shipped"),
        (["delivered", "shipped"], True, 0, "shipped"),
        (["delivered", "returned"], True, 0, "delivered"),
        (["delivered", "delivered"], True, 100, "partially_refunded"),
        (["delivered", "processing"], True, 5000, "refunded"),
    ],
)
def test_the_order_status_follows_its_vendor_orders(
    statuses: list[str], paid: bool, refunded: int, expected: str
) -> None:
    assert (
        order_status(statuses, paid=paid, refunded_amount=refunded, captured_amount=5000)
        == expected
    )
