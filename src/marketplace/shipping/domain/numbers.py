"""The carriers a vendor may ship with, and the shape of each one's tracking numbers.

Checked when the vendor records a shipment, so a typo is refused then (422) rather than
polled for weeks. The formats are the carriers' published ones; `other` is any carrier we
do not integrate: its shipments are tracked by hand (the vendor enters status updates).
"""

from __future__ import annotations

import re
from typing import Final

# UPU S10 (international postal items): two letters, 8 digits + check digit, country code.
_S10 = r"[A-Z]{2}\d{9}[A-Z]{2}"

FORMATS: Final[dict[str, re.Pattern[str]]] = {
    # Express waybills (10 digits), eCommerce (GM/LX/RX + digits), Parcel (JJD/JD + digits,
    # 12 or 20 digit Paket numbers), Parcel Benelux (3S + letters and digits), S10.
    "dhl": re.compile(
        rf"\d{{10,11}}|J?JD\d{{16,22}}|GM\d{{16,20}}|(?:LX|RX)\d{{9}}[A-Z]{{2}}"
        rf"|\d{{12}}|\d{{20}}|3S[A-Z0-9]{{8,14}}|{_S10}"
    ),
    # FedEx Express 12, Ground 15, SmartPost/Ground 20 or 22 digits, door tags DT + 12 digits.
    "fedex": re.compile(r"\d{12}|\d{15}|\d{20}|\d{22}|DT\d{12}"),
    # UPS: 1Z + 6 shipper characters + 2 service digits + 8 package digits.
    "ups": re.compile(r"1Z[0-9A-Z]{16}"),
    # USPS IMpb 20-22 digits (and 26/30/34 with routing), S10 ending in US.
    "usps": re.compile(r"\d{20,22}|\d{26}|\d{30}|\d{34}|[A-Z]{2}\d{9}US"),
    "other": re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}"),
}
CARRIERS: Final[tuple[str, ...]] = tuple(FORMATS)


class UnknownCarrier(ValueError):
    pass


class BadTrackingNumber(ValueError):
    pass


def normalise(carrier: str, tracking_number: str) -> tuple[str, str]:
    """(carrier code, tracking number) as stored: lower-case carrier; upper-case number
    without spaces for the carriers whose numbers have no spaces. Raises UnknownCarrier or
    BadTrackingNumber."""
    code = carrier.strip().lower()
    pattern = FORMATS.get(code)
    if pattern is None:
        raise UnknownCarrier(f"unknown carrier; one of: {', '.join(CARRIERS)}")
    number = tracking_number.strip()
    if code != "other":
        number = number.replace(" ", "").upper()
    if not pattern.fullmatch(number):
        raise BadTrackingNumber(f"not a {code} tracking number")
    return code, number
