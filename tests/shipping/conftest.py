"""Shipping test fixtures."""

from __future__ import annotations

import pytest

from factories.shipping import enable_carriers
from marketplace.bootstrap import Container
from marketplace.shipping.carriers import Carriers


@pytest.fixture
def carriers(container: Container) -> Carriers:
    return enable_carriers(container)
