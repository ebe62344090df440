"""Category tree rules: paths and depth limits."""

from __future__ import annotations

from typing import Final

MAX_DEPTH: Final = 6


def child_path(parent_path: str | None, category_id: str) -> str:
    return f"{parent_path or '/'}{category_id}/"


def ancestors_leaf_first(path: str) -> list[str]:
    """`/a/b/c/` -> [c, b, a]: the order commission resolution wants."""
    return [part for part in path.strip("/").split("/") if part][::-1]
