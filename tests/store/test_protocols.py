"""The stores honour the storage Protocols of ``edge.store.base``, and nothing probes a store.

:func:`_conformance` is never called: it is there for mypy, which the first test runs
on this file. A store that drifted from a Protocol is a type error, so every capability
is called directly instead of being looked up with ``getattr``.
"""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api as mypy_api

from edge.store.base import CacheStore, HitShortcut, Maintenance, Store
from edge.store.disk import DiskTier
from edge.store.index import CacheIndex, IndexedStore
from edge.store.memory import MemoryTier
from edge.store.tiered import TieredStore

ROOT = Path(__file__).resolve().parents[2]


def _conformance(memory: MemoryTier, disk: DiskTier, tiered: TieredStore) -> None:
    memory_tier: Store = memory
    disk_tier: Store = disk
    disk_upkeep: Maintenance = disk
    flow: Store = tiered
    hit_path: HitShortcut = tiered
    upkeep: Maintenance = tiered
    whole: CacheStore = tiered
    indexed: CacheStore = IndexedStore(tiered, CacheIndex())
    del memory_tier, disk_tier, disk_upkeep, flow, hit_path, upkeep, whole, indexed


def _mypy(*args: str) -> tuple[str, int]:
    out, err, status = mypy_api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            *args,
        ]
    )
    return out + err, status


def test_the_stores_satisfy_the_protocols() -> None:
    report, status = _mypy(__file__)
    assert status == 0, report


def test_the_check_would_catch_a_missing_capability() -> None:
    # the memory tier alone has no lookup_sync, tier_of or maintenance side
    report, status = _mypy(
        "-c",
        "from edge.store.base import CacheStore\n"
        "from edge.store.memory import MemoryTier\n"
        "whole: CacheStore = MemoryTier(1, 1)\n",
    )
    assert status == 1 and 'variable has type "CacheStore"' in report, report


_PROBE = re.compile(r"\b(?:getattr|hasattr)\(\s*([\w.]+)")
_STORE_NAME = re.compile(r"(?:^|[._])(?:store|inner|tier|tiered|indexed|memory|disk)$")


def test_nothing_in_edge_probes_a_store_with_getattr() -> None:
    probes = []
    for path in sorted((ROOT / "edge").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in _PROBE.finditer(text):
            if _STORE_NAME.search(match.group(1)):
                line = text.count("\n", 0, match.start()) + 1
                probes.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)}")
    assert probes == []
