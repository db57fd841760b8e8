"""CacheIndex, IndexedStore (over a memory-only and a memory-and-disk store) and tombstones."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import diskcache
import msgspec
import pytest

from edge.clock import FakeClock
from edge.config import CacheConfig
from edge.errors import StoreBusy
from edge.invalidation.purge import MARK_BATCH, Invalidator
from edge.invalidation.tombstones import Tombstones
from edge.models import Entry
from edge.policy.keys import primary_key
from edge.store.base import SpooledBody
from edge.store.index import CacheIndex, IndexedStore
from edge.store.memory import MemoryTier
from edge.store.tiered import TieredStore, build_store

NOW = 1_769_817_600.0


def entry(path: str, *, variant: str = "", tags: tuple[str, ...] = (), version: int = 0) -> Entry:
    return Entry(
        key=primary_key("http", "Example.COM:80", path, version),
        variant=variant,
        url=f"http://Example.COM:80{path}",
        method="GET",
        status=200,
        reason="OK",
        headers=(("Content-Length", "4"),),
        vary=("accept-language",) if variant else (),
        request_time=NOW,
        response_time=NOW,
        initial_age=0.0,
        lifetime=100.0,
        body_size=4,
        tags=tags,
    )


def test_index_prefix_tag_and_discard() -> None:
    index = CacheIndex()
    for e in (
        entry("/a/1", tags=("t",)),
        entry("/a/1", variant="fr", tags=("t", "tt")),
        entry("/a/2"),
        entry("/ab"),
        entry("/a/1", version=1),
    ):
        index.add(e)
    assert len(index) == 5
    assert sorted(index.keys_with_prefix("http://example.com/a/")) == sorted(
        {entry("/a/1").key, entry("/a/1", version=1).key, entry("/a/2").key}
    )
    assert index.keys_for_url("http://example.com/a/1") == {
        entry("/a/1").key,
        entry("/a/1", version=1).key,
    }
    assert len(index.keys_with_tag("t")) == 2
    assert index.keys_with_tag("tt") == [(entry("/a/1").key, "fr")]
    index.add(entry("/a/1", variant="fr"))  # re-stored without tags
    assert index.keys_with_tag("tt") == []
    index.discard(entry("/a/1").key)
    assert index.keys_with_tag("t") == []
    assert index.origins() == ["http://example.com"]
    for key in index.all_keys():
        index.discard(key)
    assert len(index) == 0 and index.origins() == []


async def test_indexed_store_and_tombstones() -> None:
    index = CacheIndex()
    store = IndexedStore(TieredStore(MemoryTier(1 << 20, 1 << 16), None), index)
    clock = FakeClock(NOW + 10)
    inv = Invalidator(store, index, lambda s, h, t: primary_key(s, h, t), clock=clock)
    assert await store.put(entry("/a/1"), SpooledBody(4, data=b"abcd"))
    assert await inv.purge(prefixes=["http://example.com/a/"]) == 1
    # a fill that began before that purge does not bring the entry back
    assert not await store.put(entry("/a/2"), SpooledBody(4, data=b"abcd"))
    late = msgspec.structs.replace(entry("/a/2"), request_time=NOW + 10)
    assert await store.put(late, SpooledBody(4, data=b"abcd"))
    assert len(index) == 1


def test_tombstones_forget_old_purges() -> None:
    stones = Tombstones(keep=60.0, max_prefixes=2)
    stones.purged(NOW + 1, tags=["x"], prefixes=["http://example.com/a/", "p2", "p3"])
    e = entry("/a/1", tags=("x",))
    assert stones.refuses(e)
    assert stones.refuses(msgspec.structs.replace(e, tags=())) is False  # prefix dropped (max 2)
    stones.purged(NOW + 100)  # prunes what is older than 60 s
    assert not stones.refuses(e)


async def test_purge_reaches_every_tier(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    tiered = build_store(CacheConfig(dir=str(tmp_path)), clock)
    index = CacheIndex()
    store = IndexedStore(tiered, index)
    inv = Invalidator(store, index, lambda s, h, t: primary_key(s, h, t), clock=clock)
    try:
        for path in ("/a/1", "/a/2", "/b/1"):
            assert await store.put(entry(path, tags=("t",)), SpooledBody(4, data=b"abcd"))
        assert tiered.memory.clear() == 3  # now only the disk tier holds them
        assert await inv.purge(prefixes=["/a/"]) == 2
        assert await store.variants(entry("/a/1").key) == []
        assert len(await store.variants(entry("/b/1").key)) == 1
        assert await inv.purge(tags=["t"], soft=True) == 1
        (soft,) = await store.variants(entry("/b/1").key)
        assert soft.invalidated
        assert await inv.purge(all=True) >= 1
        assert await store.variants(entry("/b/1").key) == []
    finally:
        await tiered.close()


async def test_a_soft_prefix_purge_marks_disk_entries_in_a_few_transactions(
    tmp_path: Path,
) -> None:
    """Thousands of entries used to be two thread hops and a transaction each: minutes
    under load. Now MARK_BATCH of them share one read and one transaction, and every one is
    marked, on disk too."""
    clock = FakeClock(NOW)
    tiered = build_store(CacheConfig(dir=str(tmp_path)), clock)
    index = CacheIndex()
    store = IndexedStore(tiered, index)
    inv = Invalidator(store, index, lambda s, h, t: primary_key(s, h, t), clock=clock)
    disk = tiered.disk
    assert disk is not None
    calls: list[int] = []
    many = disk._update_many_sync

    def counting(entries: Sequence[Entry], done: list[bool]) -> None:
        calls.append(len(entries))
        many(entries, done)

    disk._update_many_sync = counting  # type: ignore[method-assign]
    reads: list[int] = []
    read_many = disk._variants_many_sync

    def counting_reads(keys: Sequence[str]) -> list[list[tuple[Entry, str]]]:
        reads.append(len(keys))
        return read_many(keys)

    disk._variants_many_sync = counting_reads  # type: ignore[method-assign]
    paths = [f"/p/{i}" for i in range(MARK_BATCH + 44)] + ["/q/1"]
    try:
        for path in paths:
            assert await store.put(entry(path), SpooledBody(4, data=b"abcd"))
        tiered.memory.clear()  # only the disk tier holds them; ten are read back first
        for path in paths[:10]:
            await store.variants(entry(path).key)
        reads.clear()
        assert await inv.purge(prefixes=["/p/"], soft=True) == MARK_BATCH + 44
        assert calls == [MARK_BATCH, 44]
        assert len(reads) == 2 and sum(reads) == MARK_BATCH + 34  # the held ten: no read
        assert await inv.purge(prefixes=["/p/"], soft=True) == MARK_BATCH + 44  # no rewrite
        assert calls == [MARK_BATCH, 44]
    finally:
        await tiered.close()
    reopened = build_store(CacheConfig(dir=str(tmp_path)), clock)  # what the disk holds
    try:
        for path in paths:
            (stored,) = await reopened.variants(entry(path).key)
            assert stored.invalidated is path.startswith("/p/")
    finally:
        await reopened.close()


async def test_a_purge_the_disk_tier_could_not_finish_is_not_reported_done(
    tmp_path: Path,
) -> None:
    clock = FakeClock(NOW)
    tiered = build_store(CacheConfig(dir=str(tmp_path)), clock)
    index = CacheIndex()
    store = IndexedStore(tiered, index)
    inv = Invalidator(store, index, lambda s, h, t: primary_key(s, h, t), clock=clock)
    disk = tiered.disk
    assert disk is not None
    removing = disk._remove_many_sync

    def busy(jobs: Sequence[tuple[str, str | None]], done: list[set[str]]) -> None:
        raise diskcache.Timeout

    try:
        for path in ("/a/1", "/a/2"):
            assert await store.put(entry(path), SpooledBody(4, data=b"abcd"))
        tiered.memory.clear()
        disk._remove_many_sync = busy  # type: ignore[method-assign]
        with pytest.raises(StoreBusy):
            await inv.purge(prefixes=["/a/"])
        assert len(await store.variants(entry("/a/1").key)) == 1  # still there, and indexed
        disk._remove_many_sync = removing  # type: ignore[method-assign]
        assert await inv.purge(prefixes=["/a/"]) == 2  # the retry finds and removes both
        assert await store.variants(entry("/a/1").key) == []
    finally:
        await tiered.close()
