"""Purge and version-bump costs: ``python -m bench.purge_bench``.

* index 200,000 entries through ``IndexedStore`` over a memory-only ``TieredStore``,
  then purge the 10,000 under one prefix (the prefix is a range query on
  the sorted URLs, not a scan);
* bump a prefix's version over 1,000,000 indexed URLs and over 10: the bump
  touches only the version table, so both take the same time.
"""

from __future__ import annotations

import asyncio
import tempfile
import time

from edge.clock import FakeClock
from edge.invalidation.purge import Invalidator
from edge.invalidation.versions import VersionTable
from edge.models import Entry
from edge.policy.keys import primary_key
from edge.store.base import SpooledBody
from edge.store.index import CacheIndex, IndexedStore
from edge.store.memory import MemoryTier
from edge.store.tiered import TieredStore

NOW = 1_769_817_600.0
BODY = b"x" * 16


def make_entry(path: str) -> Entry:
    return Entry(
        key=primary_key("http", "bench.example", path),
        variant="",
        url=f"http://bench.example{path}",
        method="GET",
        status=200,
        reason="OK",
        headers=(),
        vary=(),
        request_time=NOW,
        response_time=NOW,
        initial_age=0.0,
        lifetime=3600.0,
        body_size=len(BODY),
        tags=(f"t{hash(path) % 1000}",),
    )


def path_of(i: int) -> str:
    # 20 sections of 10,000: /s07/... holds exactly 10,000 entries
    return f"/s{i % 20:02d}/item/{i}.html"


async def purge_bench(total: int = 200_000) -> None:
    index = CacheIndex()
    memory = MemoryTier(max_bytes=1 << 31, max_object_bytes=1 << 20)  # holds all of them
    store = IndexedStore(TieredStore(memory, None), index)
    inv = Invalidator(store, index, lambda s, h, t: primary_key(s, h, t), clock=FakeClock(NOW + 1))
    t0 = time.perf_counter()
    for i in range(total):
        await store.put(make_entry(path_of(i)), SpooledBody(len(BODY), data=BODY))
    t1 = time.perf_counter()
    indexed = len(index)
    t1 = time.perf_counter()
    purged = await inv.purge(prefixes=["/s07/"])
    t2 = time.perf_counter()
    print(f"indexed {total:,} entries in {t1 - t0:.2f} s ({indexed:,} in the index)")
    print(f"prefix purge: {purged:,} entries under /s07/ removed in {(t2 - t1) * 1000:.1f} ms")
    tag_t0 = time.perf_counter()
    tagged = await inv.purge(tags=["t1"])
    print(f"tag purge: {tagged:,} entries in {(time.perf_counter() - tag_t0) * 1000:.1f} ms")


def bump_bench(n_urls: int, repeats: int = 1000) -> None:
    """Time per bump with ``n_urls`` indexed under the prefix, and the hot-path lookup."""
    index = CacheIndex()
    for i in range(n_urls):
        index.add(make_entry(f"/static/{i}.js"))
    table = VersionTable(None)  # in memory: the bump itself
    per_bump = asyncio.run(_bumps(table, repeats)) / repeats
    with tempfile.TemporaryDirectory() as tmp:
        persisted = VersionTable(f"{tmp}/versions.json")
        persist = asyncio.run(_bumps(persisted, 1))
    lookups = 200_000
    t0 = time.perf_counter()
    for _ in range(lookups):
        table.version_for("/static/app/main.js")
    per_lookup = (time.perf_counter() - t0) / lookups
    print(
        f"version bump with {n_urls:>9,} URLs under the prefix: {per_bump * 1e6:5.2f} µs "
        f"(+{persist * 1000:.2f} ms for the fsync'd file); version_for {per_lookup * 1e9:.0f} ns"
    )


async def _bumps(table: VersionTable, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await table.bump("/static/")
    return time.perf_counter() - t0


def main() -> None:
    asyncio.run(purge_bench())
    bump_bench(10)
    bump_bench(1_000_000)


if __name__ == "__main__":
    main()
