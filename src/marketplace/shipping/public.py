"""The shipping facade other contexts may call.

`check_tracking_number` is what orders asks when a vendor records a shipment: the carrier
must be one we know and the number must have its format. Pure (no database, no carrier
call), and it imports nothing of orders, so orders' services can call it without a cycle.
"""

from __future__ import annotations

from marketplace.platform.errors import ValidationFailed
from marketplace.shipping.domain.numbers import (
    CARRIERS,
    BadTrackingNumber,
    UnknownCarrier,
    normalise,
)

__all__ = ["CARRIERS", "check_tracking_number"]


def check_tracking_number(carrier: str, tracking_number: str) -> tuple[str, str]:
    """(carrier code, tracking number) as shipping stores them; 422 naming `carrier` for a
    carrier we do not know, `tracking_number` for a number of the wrong shape."""
    try:
        return normalise(carrier, tracking_number)
    except UnknownCarrier as refused:
        raise ValidationFailed.on_field(
            ["body", "carrier"], str(refused), "unknown_carrier"
        ) from None
    except BadTrackingNumber as refused:
        raise ValidationFailed.on_field(
            ["body", "tracking_number"], str(refused), "invalid_tracking_number"
        ) from None
