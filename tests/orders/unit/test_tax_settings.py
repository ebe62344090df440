"""Tax rates come from settings by destination country; a mistyped rate refuses to start
rather than charge a whole country the wrong tax."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from marketplace.settings import Settings


def test_tax_rates_are_country_codes_and_basis_points() -> None:
    assert Settings(tax_rates={"DE": 1900, "US": 0}).tax_rates == {"DE": 1900, "US": 0}

    for bad, fragment in (
        ({"de": 1900}, "alpha-2"),
        ({"DEU": 1900}, "alpha-2"),
        ({"DE": 19000}, "between 0 and 10000"),
        ({"DE": -1}, "between 0 and 10000"),
    ):
        with pytest.raises(ValidationError, match=fragment):
            Settings(tax_rates=bad)
