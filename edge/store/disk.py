"""The disk tier: one typed adapter over ``diskcache`` (only it and its row format import it).

Layout under ``directory``::

    objects/   the diskcache Cache: SQLite rows plus one file per body
    tmp/       spool files (same filesystem, so ``put`` can rename them in)

The rows and the ``diskcache.Disk`` subclass that writes them are in
:mod:`edge.store.disk_format`.

Crash safety: the body file is complete (renamed) before the row that names
it commits, and index and row change in one SQLite transaction. A row whose
file is missing or has the wrong size, or whose metadata does not decode, is
a miss and is removed. A kill between rename and commit leaves an unnamed
file that is never served (``diskcache.Cache.check(fix=True)`` reclaims it).

Degrade, not fail: a directory that cannot be opened or a write failing with ENOSPC,
EIO, EROFS, ENOTDIR or a permission error logs an ERROR, reports ``degraded`` in
:meth:`DiskTier.stats`, refuses puts and answers misses; at most every
``RECOVERY_INTERVAL`` seconds (node clock) a call probes the directory
(:mod:`edge.store.disk_recovery`) and the tier serves again when it works.
Disk hits are answered from the rows last read (:mod:`edge.store.disk_held`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import diskcache

from edge.clock import Clock
from edge.errors import StoreBusy
from edge.models import Entry, FileBody
from edge.store.base import SpooledBody, StatValue
from edge.store.disk_files import (
    FATAL_ERRNOS,
    spool_bytes,
    sweep_spool,
    unlink_quietly,
)
from edge.store.disk_format import EdgeDisk, Record, RowCodec, variant_key
from edge.store.disk_held import HeldRows
from edge.store.disk_recovery import Recovery
from edge.store.memory import same_body

log = logging.getLogger("edge.store")

T = TypeVar("T")


class DiskTier(Recovery):
    def __init__(
        self, directory: str, max_bytes: int, clock: Clock, max_variants: int = 32
    ) -> None:
        self.directory = directory
        self.spool_dir = os.path.join(directory, "tmp")
        self.data_dir = os.path.join(directory, "objects")
        self.max_bytes = max_bytes
        self.max_variants = max_variants
        self.degraded = False
        self.degraded_reason = ""
        self.recoveries = 0
        self._next_probe = 0.0
        self._probing = False
        self.evictions = 0
        self.admissions = 0  # entries stored (a replaced version counts again)
        self._clock = clock
        self._rows = 0
        self._volume = 0
        self._rows_codec = RowCodec(self.data_dir)
        self._encode = self._rows_codec.encode
        self._cache: Any = None
        # the rows last read, by key: disk hits without SQLite or a thread
        self.held = HeldRows(clock, self.data_dir, self._reread)
        # Start-up only: opening SQLite blocks briefly, before serving begins.
        try:
            self._open_cache_sync()
        except (OSError, sqlite3.Error) as exc:
            self._degrade(f"cannot open cache directory {directory!r}", exc)

    def _open_cache_sync(self) -> None:
        os.makedirs(self.spool_dir, exist_ok=True)
        sweep_spool(self.spool_dir, self._clock.now())
        self._cache = diskcache.Cache(
            self.data_dir,
            disk=EdgeDisk,
            size_limit=self.max_bytes,
            cull_limit=10,
            eviction_policy="least-recently-used",
            disk_min_file_size=1 << 20,  # index rows stay inside SQLite
            statistics=0,
            tag_index=0,
        )
        self._cache.disk.place = self._place_body
        self._refresh()

    @property
    def usable(self) -> bool:
        return self._cache is not None and not self.degraded

    # -- Store protocol -------------------------------------------------

    async def variants(self, key: str) -> Sequence[Entry]:
        return (await self.variants_many((key,)))[0]

    async def variants_many(self, keys: Sequence[str]) -> list[list[Entry]]:
        """:meth:`variants` of each key, in one thread call (a purge of thousands)."""
        none: list[list[tuple[Entry, str]]] = [[] for _ in keys]
        found = await self._run(self._variants_many_sync, none, keys)
        for key, rows in zip(keys, found, strict=True):
            self.held.keep(key, rows)
        return [[entry for entry, _ in rows] for rows in found]

    async def open_body(self, entry: Entry) -> FileBody | None:
        body = await self._run(self._open_sync, None, entry)
        if body is None:
            self.held.drop(entry.key)
        return body

    # -- disk hits from the loop (edge.store.disk_held) ------------------

    def held_variants(self, key: str) -> Sequence[Entry] | None:
        """The entries last read for ``key`` (a hit needs no SQLite), or None: ask
        :meth:`variants`."""
        return self.held.entries(key) if self.usable else None

    def open_held(self, entry: Entry, *, shared: bool = False) -> FileBody | None:
        """``entry``'s body file opened from the loop, or None (then :meth:`open_body`);
        ``shared``: see :meth:`HeldRows.open`."""
        return self.held.open(entry, shared=shared) if self.usable else None

    async def _reread(self, key: str) -> list[tuple[Entry, str]] | None:
        return await self._run(self._variants_sync, None, key)

    async def read_body(self, entry: Entry) -> bytes | None:
        """The whole body in memory (for promotion), or None when gone."""
        return await self._run(self._read_sync, None, entry)

    async def put(self, entry: Entry, body: SpooledBody) -> bool:
        try:
            if self.degraded:
                await self._recover_if_due()
            if not self.usable or entry.body_size > self.max_bytes:
                return False
            self.held.drop(entry.key)
            stored = await self._run(self._put_sync, False, entry, body)
            self.admissions += int(stored)
            return stored
        finally:
            self.held.drop(entry.key)
            body.discard()  # a no-op once the spool was renamed in

    async def update(self, entry: Entry) -> None:
        await self.update_many((entry,))  # not strict: a failed freshening is a stale entry

    async def remove_many_names(
        self, jobs: Sequence[tuple[str, str | None]], *, strict: bool = False
    ) -> list[set[str]]:
        """:meth:`remove_names` for each ``(key, variant)``, in one thread call (a
        transaction each). ``strict`` (a purge): StoreBusy when the tier, still serving,
        did not get through all of them (SQLite busy, an I/O error), so none is taken
        for purged."""
        for key, _ in jobs:
            self.held.drop(key)
        done: list[set[str]] = []
        await self._run(self._remove_many_sync, None, jobs, done)
        for key, _ in jobs:
            self.held.drop(key)
        self._check_done(strict, len(done), len(jobs), "removed")
        return done + [set() for _ in jobs[len(done) :]]

    async def update_many(self, entries: Sequence[Entry], *, strict: bool = False) -> None:
        """:meth:`update` for each of ``entries`` in one thread call; ``strict`` as for
        :meth:`remove_many_names`."""
        for entry in entries:
            self.held.drop(entry.key)
        done: list[bool] = []
        await self._run(self._update_many_sync, None, entries, done)
        for entry in entries:
            self.held.drop(entry.key)
        self._check_done(strict, len(done), len(entries), "marked")

    def _check_done(self, strict: bool, done: int, asked: int, what: str) -> None:
        if strict and done < asked and self.usable:
            raise StoreBusy(
                f"the disk tier {what} {done} of {asked} entries (busy, or an I/O error "
                "in the log): retry"
            )

    async def remove(self, key: str, variant: str | None = None) -> int:
        return len(await self.remove_names(key, variant))

    async def remove_many(self, jobs: Sequence[tuple[str, str | None]]) -> int:
        return sum(len(names) for names in await self.remove_many_names(jobs, strict=True))

    async def remove_names(self, key: str, variant: str | None = None) -> set[str]:
        """Like :meth:`remove`, returning the variant names removed."""
        return (await self.remove_many_names(((key, variant),)))[0]

    async def iter_entries(self) -> AsyncIterator[Entry]:
        """Every stored entry's metadata (start-up re-indexing); bodies are not checked.

        Reads the rows directly so that the scan does not touch their access
        times (a ``get`` would, and would scramble the LRU order).
        """
        empty: list[Entry] = []
        for entry in await self._run(self._rows_codec.every_entry, empty, self._cache):
            yield entry

    async def remove_all(self) -> int:
        self.held.clear()
        count = await self._run(self._clear_sync, 0)
        self.held.clear()
        return count

    def stats(self) -> dict[str, StatValue]:
        return {
            "disk_objects": self._rows,  # every stored entry (memory holds copies of some)
            "disk_rows": self._rows,
            "disk_bytes": self._volume,
            "disk_max_bytes": self.max_bytes,
            "disk_evictions": self.evictions,
            "disk_admissions": self.admissions,
            "disk_degraded": self.degraded,
            "disk_degraded_reason": self.degraded_reason,
            "disk_recoveries": self.recoveries,
        }

    async def close(self) -> None:
        self.held.clear()  # the body descriptors it holds
        cache, self._cache = self._cache, None
        if cache is not None:
            await asyncio.to_thread(cache.close)

    # -- hooks ----------------------------------------------------------

    def _place_body(self, source: str, dest: str, link: bool) -> int:
        """Move (or hard-link) a complete body file into place; returns its size.

        Never copies. Tests override this to inject write failures.
        """
        if link:
            os.link(source, dest)
        else:
            os.rename(source, dest)
        return os.stat(dest).st_size

    # -- blocking work, always in a thread ------------------------------

    async def _run(self, fn: Callable[..., T], default: T, *args: Any) -> T:
        if self.degraded:
            await self._recover_if_due()
        if not self.usable:
            return default
        try:
            return await asyncio.to_thread(fn, *args)
        except diskcache.Timeout:
            log.warning("disk cache busy: %s gave up waiting for the SQLite lock", fn.__name__)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                log.warning("disk cache busy: %s: %s", fn.__name__, exc)
            else:
                self._degrade("SQLite error", exc)
        except sqlite3.DatabaseError as exc:
            self._degrade("SQLite database error", exc)
        except OSError as exc:
            if exc.errno in FATAL_ERRNOS:
                self._degrade("write failed", exc)
            else:
                log.warning("disk cache I/O error in %s: %s", fn.__name__, exc)
        return default

    def _variants_many_sync(self, keys: Sequence[str]) -> list[list[tuple[Entry, str]]]:
        return [self._variants_sync(key) for key in keys]

    def _variants_sync(self, key: str) -> list[tuple[Entry, str]]:
        """The variants stored for ``key`` with their body file names."""
        names = self._rows_codec.read_index(self._cache, key)
        rows: list[tuple[Entry, str]] = []
        gone: list[str] = []
        for name in names:
            row = self._cache.get(variant_key(key, name))
            entry = self._rows_codec.checked(row)
            if entry is None:
                gone.append(name)
            else:
                rows.append((entry, row.filename))
        if gone:
            self._rows_codec.prune(self._cache, key, gone)
        return rows

    def _open_sync(self, entry: Entry) -> FileBody | None:
        row = self._cache.get(variant_key(entry.key, entry.variant))
        stored = self._rows_codec.decode(row)
        if stored is None or not same_body(stored, entry):
            return None
        try:
            f = open(os.path.join(self.data_dir, row.filename), "rb")
        except FileNotFoundError:
            self._rows_codec.prune(self._cache, entry.key, [entry.variant])
            return None
        if os.fstat(f.fileno()).st_size != entry.body_size:
            f.close()
            self._rows_codec.prune(self._cache, entry.key, [entry.variant])
            return None
        return FileBody(f, 0, entry.body_size)

    def _read_sync(self, entry: Entry) -> bytes | None:
        body = self._open_sync(entry)
        if body is None:
            return None
        with body.file as f:
            data = f.read()
        return data if len(data) == entry.body_size else None

    def _put_sync(self, entry: Entry, body: SpooledBody) -> bool:
        source = body.path
        if source is None:
            source = spool_bytes(self.spool_dir, body.data or b"")
            body.path = source  # so a failure below still deletes it
        if os.stat(source).st_size != entry.body_size:
            log.warning("refusing %s: body is not %d bytes", entry.url, entry.body_size)
            return False
        record = Record(self._encode(entry), source)
        key, variant = entry.key, entry.variant
        cache = self._cache
        try:
            with cache.transact():
                names = self._rows_codec.read_index(cache, key)
                if variant not in names:
                    while len(names) >= self.max_variants:
                        cache.delete(variant_key(key, names.pop(0)))
                    names.append(variant)
                    self._rows_codec.write_index(cache, key, names)
                cache.set(variant_key(key, variant), record, tag="v")
        except BaseException:
            if record.filename is not None:  # placed, but its row never committed
                unlink_quietly(os.path.join(self.data_dir, record.filename))
            raise
        body.path = None  # renamed into place: no longer ours to delete
        if cache.volume() > self.max_bytes:
            self.evictions += cache.cull()
        self._refresh()
        return True

    def _update_sync(self, entry: Entry) -> bool:
        vkey = variant_key(entry.key, entry.variant)
        cache = self._cache
        with cache.transact():
            row = cache.get(vkey)
            stored = self._rows_codec.decode(row)
            if stored is None or stored.body_size != entry.body_size:
                return False
            # diskcache deletes the old file of a replaced row; a hard link
            # keeps the body (same inode) under the new row's file name.
            record = Record(self._encode(entry), os.path.join(self.data_dir, row.filename), True)
            try:
                cache.set(vkey, record, tag="v")
            except FileNotFoundError:
                return False
        return True

    # One transaction per entry, not one around the batch: diskcache unlinks a nested
    # transaction's files when it ends, so a batch rolled back would name deleted files.
    def _update_many_sync(self, entries: Sequence[Entry], done: list[bool]) -> None:
        for entry in entries:
            done.append(self._update_sync(entry))

    def _remove_many_sync(
        self, jobs: Sequence[tuple[str, str | None]], done: list[set[str]]
    ) -> None:
        try:
            for key, variant in jobs:
                with self._cache.transact():
                    done.append(self._remove_rows(key, variant))
        finally:
            self._refresh()

    def _remove_rows(self, key: str, variant: str | None) -> set[str]:
        cache = self._cache
        names = self._rows_codec.read_index(cache, key)
        targets = list(names) if variant is None else [variant]
        removed = {name for name in targets if cache.delete(variant_key(key, name))}
        self._rows_codec.write_index(cache, key, [n for n in names if n not in targets])
        return removed

    def _clear_sync(self) -> int:
        count: int = self._cache.evict("v")
        self._cache.clear()
        self._refresh()
        return count

    def _refresh(self) -> None:
        self._volume = self._cache.volume()
        self._rows = len(self._cache)
