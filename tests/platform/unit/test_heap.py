"""Freezing the start-up heap: what exists then is out of the collector's walks after."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from marketplace.platform.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process goes on building applications: give them back
    gc.enable()


def walked(obj: object) -> bool:
    return any(candidate is obj for candidate in gc.get_objects())


@pytest.mark.usefixtures("unfrozen")
def test_what_exists_at_the_end_of_start_up_is_never_walked_again() -> None:
    routes: list[dict[str, object]] = [{"path": "/v1/orders"}]
    assert walked(routes)
    before = gc.get_freeze_count()

    frozen = freeze_startup_heap()

    assert frozen > before
    assert not walked(routes)
    served: list[dict[str, object]] = [{"request": 1}]  # made after: walked as usual
    assert walked(served)


@pytest.mark.usefixtures("unfrozen")
def test_start_up_garbage_is_collected_not_frozen_for_ever() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.disable()  # no automatic pass may find it first
    cycle = Node()
    gone = weakref.ref(cycle)
    del cycle  # garbage only a full pass finds
    assert gone() is not None

    freeze_startup_heap()

    assert gone() is None
