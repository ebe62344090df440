"""Documents rendered in processes of their own are the documents rendered on a thread; a
renderer process that dies costs one render on a thread, and the next starts a new one."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from factories.documents import receipt_data, statement_data
from marketplace.orders.domain.receipt_pdf import LAYOUT, render_receipt, render_statement
from marketplace.orders.service.rendering import Renderer


@pytest.fixture
def in_processes() -> Iterator[Renderer]:
    renderer = Renderer(1)
    yield renderer
    renderer.close()


async def test_a_document_rendered_in_a_process_is_the_one_rendered_on_a_thread(
    in_processes: Renderer,
) -> None:
    on_thread = Renderer(0)
    receipt = receipt_data(title="Crème brûlée Чай")
    statement = statement_data(title="Ωmega")

    assert await in_processes.render(render_receipt, receipt, layout=LAYOUT) == (
        await on_thread.render(render_receipt, receipt, layout=LAYOUT)
    )
    assert await in_processes.render(render_statement, statement, layout=LAYOUT) == (
        render_statement(statement, layout=LAYOUT)
    )
    assert in_processes._pool is not None  # it did use a process


async def test_a_renderer_process_that_died_costs_one_render_on_a_thread(
    in_processes: Renderer,
) -> None:
    receipt = receipt_data()
    expected = render_receipt(receipt, layout=LAYOUT)
    assert await in_processes.render(render_receipt, receipt, layout=LAYOUT) == expected
    first = in_processes._pool
    assert first is not None
    for pid in list(first._processes):  # the pool's own record of its processes
        os.kill(pid, signal.SIGKILL)

    assert await in_processes.render(render_receipt, receipt, layout=LAYOUT) == expected
    assert await in_processes.render(render_receipt, receipt, layout=LAYOUT) == expected
    assert in_processes._pool is not None
    assert in_processes._pool is not first
