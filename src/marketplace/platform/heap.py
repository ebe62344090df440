"""What a long-running process keeps out of the cyclic garbage collector: its start-up heap.

A serving process builds some 300,000 long-lived objects before its first request (the
application and its routes, SQLAlchemy's metadata, pydantic's validators). The collector's
full pass walks every one of them, about 100 ms on the 2-core reference box. Under load it
runs every few seconds: requests that live a few hundred milliseconds outlast the young
collections, so their garbage reaches the oldest generation and soon asks for a full pass.
Each pass stops the event loop, and every request in flight waits for it: in the checkout
benchmark the full passes (12 in 30 s, ~150 ms each) were what set p99.

Frozen objects are never walked again; what requests leave behind still is. A frozen object
that becomes garbage is never freed, which is why only what exists once start-up is over is
frozen, and only in processes that then serve (`serve`, `worker`), not in every application
a test builds.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect start-up's garbage, then move what survives out of the collector's reach."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.debug("start-up heap frozen", extra={"objects": frozen})
    return frozen
