"""edge/policy is pure: no event loop, no I/O, no clock (so it stays table-testable)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

POLICY = Path(__file__).resolve().parents[2] / "edge" / "policy"
FORBIDDEN = {"asyncio", "aiohttp", "diskcache", "time", "socket", "uvloop", "os", "threading"}
FORBIDDEN_NAMES = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today")}


def _modules() -> list[Path]:
    return sorted(POLICY.glob("*.py"))


def test_policy_package_has_modules() -> None:
    assert len(_modules()) > 5


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_policy_imports_are_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]}
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in FORBIDDEN_NAMES, f"{path.name}: clock read"
            continue
        else:
            continue
        bad = roots & FORBIDDEN
        assert not bad, f"{path.name} imports {bad}: edge/policy must stay pure"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_policy_modules_stay_short(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 400
