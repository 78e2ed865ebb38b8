"""Layers point one way: each package imports only from the layers below it (README,
"Architecture"). Read from the source with `ast`, so a stray import fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {
    "base", "bot", "complaints", "console", "demo", "hailong", "nlp", "reports", "storage",
    "survey",
}  # fmt: skip

# What each layer may not import (module prefixes). Pure modules take no I/O library either.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "base": tuple(PROJECT - {"base"}),
    "complaints": ("bot", "demo", "hailong", "reports", "storage", "sqlalchemy", "sqlmodel",
                   "httpx", "telegram", "fastapi"),
    "bot/engine": ("bot.channels", "bot.service", "bot.desk", "bot.staff", "bot.sender", "demo",
                   "hailong", "reports", "storage", "sqlalchemy", "sqlmodel", "httpx",
                   "telegram", "fastapi"),
    "nlp": ("bot", "complaints", "demo", "reports", "storage", "survey", "hailong.server",
            "hailong.app", "sqlalchemy", "sqlmodel"),
    "survey": ("bot", "complaints", "demo", "hailong", "reports", "storage"),
    "storage": ("bot", "console", "demo", "hailong", "reports"),
    "reports": ("bot", "console", "demo", "hailong"),
    "bot": ("console", "demo", "hailong", "reports"),
    # The console sits on top beside the channels: it may use bot, storage, reports.
    "console": ("demo", "hailong"),
}  # fmt: skip


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_from_above_it(layer: str) -> None:
    wrong = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for line, module in imports_of(path):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[layer]):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []
