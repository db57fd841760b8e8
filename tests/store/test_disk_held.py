"""The disk tier's held rows: disk hits from the loop, never a body under other headers."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from edge.clock import FakeClock
from edge.models import FileBody
from edge.store.disk import DiskTier
from edge.store.disk_held import MAX_FDS, REREAD_AFTER, HeldRows
from edge.store.memory import MemoryTier
from edge.store.tiered import TieredStore

from .helpers import make_entry, spool


def _store(path: Path, clock: FakeClock) -> TieredStore:
    # memory holds nothing over 100 bytes: the bodies below are the disk tier's alone
    return TieredStore(MemoryTier(100_000, 100), DiskTier(str(path), 10 << 20, clock))


def _read(body: FileBody | None) -> bytes:
    assert isinstance(body, FileBody)
    with body.file as f:
        f.seek(body.offset)
        return f.read(body.length)


def _no_sqlite(*args: object) -> None:
    raise AssertionError("read SQLite")


async def test_a_key_read_once_is_answered_from_the_loop(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _store(tmp_path, clock)
    entry = make_entry("k", body=b"D" * 500)
    assert await store.put(entry, spool(store, b"D" * 500))
    assert store.lookup_sync("k") is None  # a put drops what was held: read SQLite once
    assert await store.variants("k") == [entry]
    disk = store.disk
    assert disk is not None
    disk._variants_sync = _no_sqlite  # type: ignore[method-assign]
    disk._open_sync = _no_sqlite  # type: ignore[method-assign]
    found = store.lookup_sync("k")
    assert found == [entry] and found.tier == "disk"
    assert _read(store.file_sync(entry)) == b"D" * 500
    assert _read(await store.open_body(entry)) == b"D" * 500


async def test_a_row_replaced_by_another_worker_is_never_served_under_the_old_headers(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    store, other = _store(tmp_path, clock), _store(tmp_path, clock)  # two workers, one dir
    old = make_entry("k", body=b"old" * 100, stored_at=1.0, etag='"1"')
    await store.put(old, spool(store, b"old" * 100))
    await store.variants("k")
    new = make_entry("k", body=b"NEW" * 100, stored_at=2.0, etag='"2"')
    await other.put(new, spool(other, b"NEW" * 100, name="other"))
    assert store.lookup_sync("k") == [old]  # still held here ...
    assert store.file_sync(old) is None  # ... but its file is gone: not answered from it
    assert await store.open_body(old) is None  # and SQLite has another body: a miss
    assert store.lookup_sync("k") is None
    assert await store.variants("k") == [new]
    assert _read(store.file_sync(new)) == b"NEW" * 100


async def test_this_process_removing_or_clearing_drops_what_is_held(tmp_path: Path) -> None:
    store = _store(tmp_path, FakeClock())
    for key in ("a", "b"):
        entry = make_entry(key, body=b"x" * 200)
        await store.put(entry, spool(store, b"x" * 200, name=key))
        await store.variants(key)
        assert store.lookup_sync(key) is not None
    await store.remove("a")
    assert store.lookup_sync("a") is None
    await store.remove_all()
    assert store.lookup_sync("b") is None


async def test_a_key_held_too_long_is_reread_in_the_background(tmp_path: Path) -> None:
    clock = FakeClock()
    store, other = _store(tmp_path, clock), _store(tmp_path, clock)
    entry = make_entry("k", body=b"r" * 300)
    await store.put(entry, spool(store, b"r" * 300))
    await store.variants("k")
    await other.remove("k")  # another worker: this one does not hear of it
    clock.advance(REREAD_AFTER - 1)
    assert store.lookup_sync("k") == [entry]  # within the interval: held, no reread
    disk = store.disk
    assert disk is not None and not disk.held._tasks
    clock.advance(2)
    assert store.lookup_sync("k") == [entry]  # answered as held, and read again behind it
    await asyncio.gather(*disk.held._tasks)
    assert store.lookup_sync("k") is None


def test_held_rows_are_bounded_least_recently_used_first() -> None:
    async def reread(key: str) -> None:
        return None

    held = HeldRows(FakeClock(), "/nonexistent", reread, max_keys=2)
    for key in ("a", "b"):
        held.keep(key, [(make_entry(key), f"{key}.val")])
    assert held.get("a") is not None  # "a" used last: "b" goes first
    held.keep("c", [(make_entry("c"), "c.val")])
    assert len(held) == 2 and held.get("b") is None and held.get("a") is not None


def _fds(under: Path) -> int:
    """Descriptors of this process open on body files under ``under``."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        n += target.startswith(str(under)) and not target.endswith((".db", "-wal", "-shm"))
    return n


async def test_a_small_body_opened_once_is_answered_from_its_held_descriptor(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    store, other = _store(tmp_path, clock), _store(tmp_path, clock)
    disk = store.disk
    assert disk is not None
    old = make_entry("k", body=b"old" * 100, etag='"1"')
    await store.put(old, spool(store, b"old" * 100))
    await store.variants("k")
    before = _fds(tmp_path)
    assert _read(store.file_sync(old)) == b"old" * 100  # opened: its descriptor is kept
    assert disk.held.open_files == 1 and _fds(tmp_path) == before + 1
    held_dir = disk.held._data_dir
    disk.held._data_dir = "/nonexistent"  # no path is opened again: a dup of the held one
    first, second = store.file_sync(old), store.file_sync(old)
    assert _read(first) == b"old" * 100 and _read(second) == b"old" * 100  # each its own
    disk.held._data_dir = held_dir
    # another worker replaces the row: the held descriptor still reads the old body, and
    # only ever under the old row's headers; once the key is read again, the new one
    new = make_entry("k", body=b"NEW" * 100, stored_at=2.0, etag='"2"')
    await other.put(new, spool(other, b"NEW" * 100, name="other"))
    assert store.lookup_sync("k") == [old]
    assert _read(store.file_sync(old)) == b"old" * 100
    clock.advance(REREAD_AFTER + 1)
    store.lookup_sync("k")
    await asyncio.gather(*disk.held._tasks)
    assert store.lookup_sync("k") == [new] and disk.held.open_files == 0
    assert _read(store.file_sync(new)) == b"NEW" * 100
    await store.remove("k")  # this process removing it closes what it held
    assert disk.held.open_files == 0 and _fds(tmp_path) == before
    await store.close()
    await other.close()


async def test_held_descriptors_are_bounded_and_closed_with_the_tier(tmp_path: Path) -> None:
    store = _store(tmp_path, FakeClock())
    disk = store.disk
    assert disk is not None
    before = _fds(tmp_path)
    for i in range(MAX_FDS + 5):
        entry = make_entry(f"k{i}", body=b"z" * 200)
        await store.put(entry, spool(store, b"z" * 200, name=f"k{i}"))
        await store.variants(f"k{i}")
        assert _read(store.file_sync(entry)) == b"z" * 200
    assert disk.held.open_files == MAX_FDS
    await store.close()
    assert disk.held.open_files == 0 and _fds(tmp_path) == before


async def test_the_flow_gets_a_file_position_of_its_own(tmp_path: Path) -> None:
    """Dups of the held descriptor share one file position: only the hot path, which reads
    by offset, gets them. A sequential reader (loop.sendfile's fallback) gets its own."""
    store = _store(tmp_path, FakeClock())
    body = bytes(range(250)) * 2
    entry = make_entry("k", body=body)
    await store.put(entry, spool(store, body))
    await store.variants("k")
    hot = store.file_sync(entry)  # holds the descriptor from now on
    assert isinstance(hot, FileBody)
    hot.file.read(100)  # moves the position of every dup of the held descriptor
    flow = await store.open_body(entry)
    assert isinstance(flow, FileBody)
    with flow.file as f:
        assert f.read() == body  # from its own start, not from byte 100
    hot.file.close()
    await store.close()
