"""The disk tier: streaming bodies, crash safety, persistence, degraded mode."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from edge.clock import FakeClock
from edge.models import Entry, FileBody
from edge.store.base import SpooledBody
from edge.store.disk import DiskTier

from .helpers import make_entry, spool


async def read_all(tier: DiskTier, entry: Entry) -> bytes | None:
    body = await tier.open_body(entry)
    if body is None:
        return None
    assert isinstance(body, FileBody)
    with body.file as f:
        f.seek(body.offset)
        data = f.read(body.length)
    assert len(data) == body.length
    return data


def db_rows(tier: DiskTier) -> list[str]:
    with sqlite3.connect(os.path.join(tier.data_dir, "cache.db")) as con:
        return [key for (key,) in con.execute("SELECT key FROM Cache")]


@pytest.fixture
def tier(tmp_path: Path) -> DiskTier:
    return DiskTier(str(tmp_path / "cache"), 10 << 20, FakeClock())


async def test_put_and_read_back_bytes_and_variants(tier: DiskTier) -> None:
    gz, br = make_entry("k", "gzip", b"zipped"), make_entry("k", "br", b"brotli!")
    assert await tier.put(gz, SpooledBody(6, data=b"zipped"))
    assert await tier.put(br, spool(tier, b"brotli!"))
    found = {e.variant: e for e in await tier.variants("k")}
    assert found == {"gzip": gz, "br": br}
    assert await read_all(tier, found["gzip"]) == b"zipped"
    assert await read_all(tier, found["br"]) == b"brotli!"
    assert await tier.variants("other") == []


async def test_put_takes_the_spool_file_by_rename_not_copy(tier: DiskTier) -> None:
    body = spool(tier, b"a" * 100_000)
    path = body.path
    assert path is not None
    inode = os.stat(path).st_ino
    entry = make_entry("k", body=b"a" * 100_000)
    assert await tier.put(entry, body)
    opened = await tier.open_body(entry)
    assert isinstance(opened, FileBody)
    with opened.file as f:
        assert os.fstat(f.fileno()).st_ino == inode
    assert os.listdir(tier.spool_dir) == []


async def test_a_body_of_the_wrong_length_is_refused_and_its_spool_deleted(tier: DiskTier) -> None:
    body = spool(tier, b"short")
    assert not await tier.put(make_entry("k", body_size=10), body)
    assert os.listdir(tier.spool_dir) == []
    assert await tier.variants("k") == []


async def test_entries_survive_a_new_instance(tmp_path: Path) -> None:
    first = DiskTier(str(tmp_path), 10 << 20, FakeClock())
    entry = make_entry("k", body=b"persistent")
    await first.put(entry, SpooledBody(10, data=b"persistent"))
    await first.close()
    second = DiskTier(str(tmp_path), 10 << 20, FakeClock())
    assert await second.variants("k") == [entry]
    assert await read_all(second, entry) == b"persistent"


async def test_corrupt_metadata_is_a_miss_and_is_removed(tier: DiskTier) -> None:
    await tier.put(make_entry("k", "a", b"one"), SpooledBody(3, data=b"one"))
    good = make_entry("k", "b", b"two")
    await tier.put(good, SpooledBody(3, data=b"two"))
    with sqlite3.connect(os.path.join(tier.data_dir, "cache.db")) as con:
        con.execute("UPDATE Cache SET value = ? WHERE key = ?", (b"\xc1\xff", "v\0k\0a"))
    assert await tier.variants("k") == [good]
    assert "v\0k\0a" not in db_rows(tier)


async def test_corrupt_variant_index_is_dropped(tier: DiskTier) -> None:
    await tier.put(make_entry("k", body=b"x"), SpooledBody(1, data=b"x"))
    with sqlite3.connect(os.path.join(tier.data_dir, "cache.db")) as con:
        con.execute("UPDATE Cache SET value = ? WHERE key = ?", (b"\xc1", "i\0k"))
    assert await tier.variants("k") == []
    assert "i\0k" not in db_rows(tier)


@pytest.mark.parametrize("damage", ["missing", "short"])
async def test_a_missing_or_short_body_file_is_a_miss(tier: DiskTier, damage: str) -> None:
    entry = make_entry("k", body=b"0123456789")
    await tier.put(entry, SpooledBody(10, data=b"0123456789"))
    body = await tier.open_body(entry)
    assert isinstance(body, FileBody)
    path = f"/proc/self/fd/{body.file.fileno()}"
    real = os.readlink(path)
    body.file.close()
    if damage == "missing":
        os.unlink(real)
    else:
        os.truncate(real, 4)
    assert await tier.open_body(entry) is None
    assert await tier.variants("k") == []
    assert db_rows(tier) == []


async def test_update_replaces_metadata_and_keeps_the_body(tier: DiskTier) -> None:
    entry = make_entry("k", body=b"body")
    await tier.put(entry, SpooledBody(4, data=b"body"))
    fresher = make_entry("k", body=b"body", lifetime=900.0)
    await tier.update(fresher)
    assert await tier.variants("k") == [fresher]
    assert await read_all(tier, fresher) == b"body"


async def test_remove_one_variant_all_and_everything(tier: DiskTier) -> None:
    for variant in ("a", "b", "c"):
        await tier.put(make_entry("k", variant, b"v"), SpooledBody(1, data=b"v"))
    await tier.put(make_entry("j", body=b"j"), SpooledBody(1, data=b"j"))
    assert await tier.remove("k", "a") == 1
    assert {e.variant for e in await tier.variants("k")} == {"b", "c"}
    assert await tier.remove("k") == 2
    assert await tier.variants("k") == []
    assert await tier.remove_all() == 1
    assert await tier.variants("j") == []


async def test_disk_stays_within_its_byte_budget(tmp_path: Path) -> None:
    tier = DiskTier(str(tmp_path), 1 << 20, FakeClock())
    body = b"b" * 50_000
    for i in range(60):
        assert await tier.put(make_entry(f"k{i}", body=body), SpooledBody(len(body), data=body))
        assert int(tier.stats()["disk_bytes"]) <= 1 << 20
    assert await tier.variants("k59") != []
    assert await tier.variants("k0") == []
    files = [f for _, _, names in os.walk(tier.data_dir) for f in names if f.endswith(".val")]
    assert len(files) * 50_000 <= 1 << 20


async def test_file_body_stays_readable_after_eviction(tier: DiskTier) -> None:
    entry = make_entry("k", body=b"still here")
    await tier.put(entry, SpooledBody(10, data=b"still here"))
    body = await tier.open_body(entry)
    assert isinstance(body, FileBody)
    await tier.remove("k")
    await tier.put(make_entry("k", body=b"other body"), SpooledBody(10, data=b"other body"))
    with body.file as f:
        assert f.read() == b"still here"


async def test_concurrent_readers_see_a_whole_old_or_whole_new_body(tier: DiskTier) -> None:
    sizes = {b"a": 300_000, b"b": 200_000}
    stop = asyncio.Event()
    seen: set[bytes] = set()

    async def writer() -> None:
        for i in range(30):
            fill = b"ab"[i % 2 : i % 2 + 1]
            data = fill * sizes[fill]
            await tier.put(
                make_entry("k", body=data, stored_at=float(i)), spool(tier, data, f"s{i}")
            )
        stop.set()

    async def reader() -> None:
        while not stop.is_set():
            for entry in await tier.variants("k"):
                body = await tier.open_body(entry)
                if body is None:
                    continue  # replaced between lookup and open: a miss, never a mix
                assert isinstance(body, FileBody)
                data = await asyncio.to_thread(_read, body)
                assert len(data) == entry.body_size
                assert data == data[:1] * len(data)
                assert sizes[data[:1]] == entry.body_size
                seen.add(data[:1])

    await asyncio.gather(writer(), *(reader() for _ in range(4)))
    assert seen  # the readers did read something


def _read(body: FileBody) -> bytes:
    with body.file as f:
        return f.read()


async def test_a_cache_dir_that_is_a_file_degrades(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.ERROR, logger="edge.store"):
        tier = DiskTier(str(blocker), 1 << 20, FakeClock())
    assert tier.degraded and not tier.usable
    assert "degraded" in caplog.text
    assert not await tier.put(make_entry("k", body=b"x"), SpooledBody(1, data=b"x"))
    assert await tier.variants("k") == []
    stats = tier.stats()
    assert stats["disk_degraded"] is True and "cannot open" in str(stats["disk_degraded_reason"])


class FullDisk(DiskTier):
    def _place_body(self, source: str, dest: str, link: bool) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


async def test_enospc_on_write_degrades_and_reads_become_misses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tier = FullDisk(str(tmp_path), 1 << 20, FakeClock())
    body = spool(tier, b"data")
    with caplog.at_level(logging.ERROR, logger="edge.store"):
        assert not await tier.put(make_entry("k", body=b"data"), body)
    assert tier.degraded and "No space left" in tier.degraded_reason
    assert "degraded" in caplog.text
    assert os.listdir(tier.spool_dir) == []  # the spool is deleted, not leaked
    assert await tier.variants("k") == []
    assert not await tier.put(make_entry("k", body=b"x"), SpooledBody(1, data=b"x"))


async def test_old_spool_leftovers_are_swept_at_start(tmp_path: Path) -> None:
    clock = FakeClock()
    first = DiskTier(str(tmp_path), 1 << 20, clock)
    old, fresh = Path(first.spool_dir) / "old", Path(first.spool_dir) / "fresh"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (clock.now() - 7200, clock.now() - 7200))
    os.utime(fresh, (clock.now(), clock.now()))
    DiskTier(str(tmp_path), 1 << 20, clock)
    assert not old.exists() and fresh.exists()


async def test_a_degraded_tier_recovers_when_its_directory_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cache dir replaced by a file while serving, then restored: memory-only, then back."""
    clock = FakeClock()
    where = tmp_path / "cache"
    tier = DiskTier(str(where), 1 << 20, clock)
    assert await tier.put(make_entry("a", body=b"a"), spool(tier, b"a"))
    moved = tmp_path / "moved"
    where.rename(moved)
    where.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="edge.store"):
        assert not await tier.put(make_entry("b", body=b"b"), SpooledBody(1, data=b"b"))
        assert tier.degraded and "degraded" in caplog.text
        clock.advance(60)  # a probe while the file is still there: still degraded
        assert await tier.variants("a") == []
        assert tier.degraded and tier.stats()["disk_recoveries"] == 0
        where.unlink()
        moved.rename(where)  # the disk returns
        clock.advance(60)
        assert [e.key for e in await tier.variants("a")] == ["a"]  # the probe reopened it
        assert not tier.degraded and tier.stats()["disk_recoveries"] == 1
        assert "recovered" in caplog.text
    assert await tier.put(make_entry("c", body=b"c"), spool(tier, b"c"))
    assert tier.stats()["disk_degraded"] is False
    await tier.close()


async def test_a_degraded_tier_probes_at_most_every_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    blocker = tmp_path / "cache"
    blocker.write_text("x")
    tier = DiskTier(str(blocker), 1 << 20, clock)
    assert tier.degraded
    blocker.unlink()
    assert await tier.variants("k") == [] and tier.degraded  # not due yet: no probe
    clock.advance(5)
    assert await tier.variants("k") == [] and not tier.degraded
    await tier.close()
