"""Memory over disk: lookup order, promotion, partial keys, degraded disk."""

from __future__ import annotations

import errno
from pathlib import Path

from edge.clock import FakeClock
from edge.config import CacheConfig, DiskTierConfig, MemoryTierConfig
from edge.models import BytesBody, FileBody
from edge.store.base import SpooledBody
from edge.store.disk import DiskTier
from edge.store.memory import MemoryTier
from edge.store.tiered import TieredStore, build_store

from .helpers import make_entry, spool


def make_store(path: Path, mem_bytes: int = 100_000, max_object: int = 10_000) -> TieredStore:
    return TieredStore(
        MemoryTier(mem_bytes, max_object), DiskTier(str(path), 10 << 20, FakeClock())
    )


async def test_put_goes_to_both_tiers_and_memory_answers_first(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    entry = make_entry("k", body=b"hello")
    assert await store.put(entry, spool(store, b"hello"))
    found = store.lookup_sync("k")
    assert found == [entry] and found.tier == "memory"
    assert store.tier_of(entry) == "memory"
    assert await store.open_body(entry) == BytesBody(b"hello")
    assert store.disk is not None and await store.disk.variants("k") == [entry]


async def test_a_disk_hit_is_promoted_to_memory(tmp_path: Path) -> None:
    first = make_store(tmp_path)
    entry = make_entry("k", body=b"promote me")
    await first.put(entry, SpooledBody(10, data=b"promote me"))
    await first.close()
    store = make_store(tmp_path)  # a restart: empty memory, same disk
    assert store.lookup_sync("k") is None
    found = await store.variants("k")
    assert found == [entry] and found.tier == "disk"
    assert store.tier_of(entry) == "disk"
    assert await store.open_body(entry) == BytesBody(b"promote me")
    again = store.lookup_sync("k")
    assert again == [entry] and again.tier == "memory"


async def test_large_objects_stream_from_disk_and_skip_memory(tmp_path: Path) -> None:
    store = make_store(tmp_path, max_object=1000)
    data = b"L" * 5000
    entry = make_entry("big", body=data)
    assert await store.put(entry, spool(store, data))
    assert store.memory.object_count == 0
    body = await store.open_body(entry)
    assert isinstance(body, FileBody)
    with body.file as f:
        assert f.read() == data
    assert store.memory.object_count == 0


async def test_memory_evictions_lose_nothing_the_disk_holds(tmp_path: Path) -> None:
    store = make_store(tmp_path, mem_bytes=5000, max_object=2000)
    bodies = [bytes([i]) * 1500 for i in range(10)]
    entries = [make_entry(f"k{i}", body=body) for i, body in enumerate(bodies)]
    for entry, body in zip(entries, bodies, strict=True):
        await store.put(entry, SpooledBody(1500, data=body))
        assert store.memory.used_bytes <= 5000
    assert store.memory.object_count < len(entries)  # memory let some go: evicted or refused
    for entry, body in zip(entries, bodies, strict=True):
        assert await store.variants(entry.key) == [entry]
        assert await store.open_body(entry) == BytesBody(body)


async def test_a_partially_held_key_also_asks_the_disk(tmp_path: Path) -> None:
    store = make_store(tmp_path, mem_bytes=5000, max_object=2000)
    gz, br = make_entry("k", "gzip", b"g" * 1000), make_entry("k", "br", b"b" * 1000)
    await store.put(gz, SpooledBody(1000, data=b"g" * 1000))
    await store.put(br, SpooledBody(1000, data=b"b" * 1000))
    filler = make_entry("other", body=b"f" * 2000)
    await store.put(filler, SpooledBody(2000, data=b"f" * 2000))  # evicts one variant
    assert store.memory.object_count == 2
    assert store.lookup_sync("k") is None  # memory knows it may miss a variant
    found = await store.variants("k")
    assert {e.variant for e in found} == {"gzip", "br"}


async def test_a_promoted_variant_does_not_hide_its_siblings(tmp_path: Path) -> None:
    first = make_store(tmp_path)
    gz, br = make_entry("k", "gzip", b"g"), make_entry("k", "br", b"b")
    await first.put(gz, SpooledBody(1, data=b"g"))
    await first.put(br, SpooledBody(1, data=b"b"))
    store = make_store(tmp_path)
    await store.open_body(gz)  # promotes gzip alone
    assert {e.variant for e in await store.variants("k")} == {"gzip", "br"}


async def test_update_and_remove_apply_to_both_tiers(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    entry = make_entry("k", body=b"abc")
    await store.put(entry, SpooledBody(3, data=b"abc"))
    fresher = make_entry("k", body=b"abc", lifetime=999.0)
    await store.update(fresher)
    assert store.lookup_sync("k") == [fresher]
    assert store.disk is not None and await store.disk.variants("k") == [fresher]
    assert await store.remove("k") == 1
    assert await store.variants("k") == []
    assert store.memory.object_count == 0


async def test_remove_all_and_stats(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    for i in range(3):
        await store.put(make_entry(f"k{i}", body=b"x"), SpooledBody(1, data=b"x"))
    stats = store.stats()
    assert stats["memory_objects"] == 3 and stats["degraded"] is False
    assert int(stats["disk_bytes"]) > 0
    assert await store.remove_all() == 3
    assert store.stats()["memory_objects"] == 0
    assert await store.variants("k1") == []


class FullDisk(DiskTier):
    def _place_body(self, source: str, dest: str, link: bool) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_full_disk_degrades_to_memory_only(tmp_path: Path) -> None:
    store = TieredStore(MemoryTier(100_000, 10_000), FullDisk(str(tmp_path), 1 << 20, FakeClock()))
    entry = make_entry("k", body=b"kept in memory")
    assert await store.put(entry, spool(store, b"kept in memory"))
    assert store.stats()["degraded"] is True
    assert store.spool_dir is None
    found = await store.variants("k")
    assert found == [entry] and found.tier == "memory"
    assert await store.open_body(entry) == BytesBody(b"kept in memory")
    big = make_entry("big", body=b"x" * 20_000)
    assert not await store.put(big, SpooledBody(20_000, data=b"x" * 20_000))


async def test_build_store_follows_the_config(tmp_path: Path) -> None:
    cfg = CacheConfig(
        dir=str(tmp_path),
        memory=MemoryTierConfig(max_bytes=1 << 20, max_object_bytes=1 << 16, policy="lru"),
        disk=DiskTierConfig(enabled=True, max_bytes=1 << 24),
    )
    store = build_store(cfg, FakeClock())
    assert store.disk is not None and store.spool_dir == str(tmp_path / "tmp")
    assert store.memory.max_object_bytes == 1 << 16
    await store.close()
    memory_only = build_store(
        CacheConfig(dir=str(tmp_path), disk=DiskTierConfig(enabled=False)), FakeClock()
    )
    assert memory_only.disk is None and memory_only.spool_dir is None
    entry = make_entry("k", body=b"m")
    assert await memory_only.put(entry, SpooledBody(1, data=b"m"))
    assert (await memory_only.variants("k")).tier == "memory"
