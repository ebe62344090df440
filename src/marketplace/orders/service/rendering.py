"""Where receipts and statements are rendered: on this process's threads, or in processes
of their own.

Rendering a document is CPU work in Python (fpdf2's layout, its font maps), and a thread
still holds the interpreter's lock for it: after a flash sale a job worker issuing the
sale's documents was bound to one core, its event loop and the renderer taking turns, while
the other core sat idle (docs/benchmarks.md, tenth session). With `processes`, the documents
are rendered in that many processes of their own (started on first use, with the `spawn`
method: a forked copy of a process with an event loop and open connections is not safe),
and the worker's own core is left to its handlers. The documents' bytes do not depend on
where they are rendered.

A renderer process that dies breaks the pool: the render that saw it runs on a thread, and
the next one starts a new pool.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import TypeVar

from marketplace.orders.domain.receipt_pdf import Layout

logger = logging.getLogger(__name__)

_Data = TypeVar("_Data")


class Renderer:
    def __init__(self, processes: int = 0) -> None:
        self.processes = max(0, processes)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    async def render(self, render: Callable[..., bytes], data: _Data, *, layout: Layout) -> bytes:
        """`render(data, layout=layout)`, off the event loop."""
        call = partial(render, data, layout=layout)
        if self.processes == 0:
            return await asyncio.to_thread(call)
        pool = self._started()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call)
        except BrokenProcessPool:
            logger.warning("document renderer processes stopped; starting new ones")
            self._discard(pool)
            return await asyncio.to_thread(call)

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the renderer processes (a worker shutting down)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
