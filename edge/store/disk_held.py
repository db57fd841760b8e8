"""What the disk tier last read of a key's rows, kept in memory: disk hits without SQLite.

A disk-tier hit used to cost two thread hops and three SQLite reads (the variant index,
the row, the row again to open its file), each of which, with diskcache's LRU policy,
also writes the row's access time. :class:`HeldRows` keeps, per key, the decoded entries
and their body file names as the tier last read them, bounded in keys (least recently
used dropped first), so a hit is answered from the loop: one dict lookup and an
``open`` and ``fstat`` of the file; or, for a body of at most ``FD_BODY_MAX`` bytes
opened before, a ``dup`` of the descriptor held for it (``MAX_FDS`` of them, least
recently used closed first): each answer owns its own descriptor, so closing the held
one never disturbs a send in progress.

It is a cache of rows, not a second source of truth:

- this process's own ``put``, ``update``, ``remove``, prune and clear drop the key
  (or everything); the next lookup reads SQLite again;
- another worker sharing the directory may replace or remove a row behind it: the
  old body file is then gone (diskcache deletes a replaced row's file), the ``open``
  fails, the key is dropped and the caller reads SQLite (never a body for other
  headers: a file name belongs to one row); a row it freshened is seen within
  ``REREAD_AFTER`` or when it expires here. A descriptor held for the old file still
  reads the old body, which is only ever answered with the old row's own headers
  (while they are fresh), until the key is read again within ``REREAD_AFTER``;
- a key held longer than ``REREAD_AFTER`` is read again in the background when it
  is hit, which also refreshes its access time for diskcache's LRU eviction.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from edge.clock import Clock
from edge.models import Entry, FileBody

REREAD_AFTER = 5.0  # seconds (monotonic) before a hit re-reads a held key's rows
MAX_KEYS = 16_384  # keys held; each is a few entries' metadata (their header fields)
MAX_FDS = 64  # body files kept open (their disk space stays in use while held)
FD_BODY_MAX = 1 << 20  # bodies larger than this are opened per hit (open is cheap beside them)


@dataclass(frozen=True, slots=True)
class Held:
    entries: tuple[Entry, ...]
    files: dict[str, str]  # variant -> body file name, relative to the tier's data dir
    read_at: float  # monotonic


#: Reads a key's rows again (in a thread): its entries and file names, None on failure.
Reread = Callable[[str], Awaitable[list[tuple[Entry, str]] | None]]


class HeldRows:
    def __init__(
        self, clock: Clock, data_dir: str, reread: Reread, max_keys: int = MAX_KEYS
    ) -> None:
        self._clock = clock
        self._data_dir = data_dir
        self._reread = reread
        self._max = max_keys
        self._keys: dict[str, Held] = {}
        self._fds: dict[str, int] = {}  # body file name -> an open descriptor, LRU order
        self._rereading: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, key: str) -> Held | None:
        held = self._keys.pop(key, None)
        if held is not None:
            self._keys[key] = held  # most recently used last
        return held

    def entries(self, key: str) -> Sequence[Entry] | None:
        """The entries held for ``key`` (None: not held); re-read in the background
        when they were read more than ``REREAD_AFTER`` ago."""
        held = self.get(key)
        if held is None:
            return None
        if self._clock.monotonic() - held.read_at > REREAD_AFTER:
            self._reread_soon(key)
        return held.entries

    def open(self, entry: Entry, *, shared: bool = False) -> FileBody | None:
        """``entry``'s body file, opened from the loop (an open and an fstat), or None
        when its rows are not held or the file is not the one they name any more.

        ``shared``: the caller reads the file only by explicit offsets (``os.sendfile``
        with an offset, ``os.pread``), so a ``dup`` of the held descriptor will do: dups
        share one file position, which a sequential reader (``loop.sendfile``'s
        fallback) would move under another answer's feet."""
        held = self._keys.get(entry.key)
        name = held.files.get(entry.variant) if held is not None else None
        if name is None:
            return None
        fds = self._fds
        fd = fds.pop(name, -1) if shared else -1
        if fd >= 0:
            fds[name] = fd  # most recently used last
            try:
                return FileBody(io.FileIO(os.dup(fd), "rb"), 0, entry.body_size)
            except OSError:
                return None  # out of descriptors: the flow answers (or refuses) it
        try:
            f = io.FileIO(os.path.join(self._data_dir, name), "rb")
        except OSError:
            self.drop(entry.key)  # replaced or removed by another worker: read SQLite
            return None
        if os.fstat(f.fileno()).st_size != entry.body_size:
            f.close()
            self.drop(entry.key)
            return None
        if shared and entry.body_size <= FD_BODY_MAX and name not in fds:
            try:
                kept = os.dup(f.fileno())
            except OSError:
                return FileBody(f, 0, entry.body_size)
            if len(fds) >= MAX_FDS:
                os.close(fds.pop(next(iter(fds))))
            fds[name] = kept
        return FileBody(f, 0, entry.body_size)

    def keep(self, key: str, rows: Sequence[tuple[Entry, str]]) -> None:
        """The rows just read for ``key`` (none: nothing is held for it)."""
        files = {entry.variant: name for entry, name in rows}
        old = self._keys.pop(key, None)
        if old is not None:
            self._close(name for name in old.files.values() if name not in files.values())
        if not rows:
            return
        if len(self._keys) >= self._max:
            self._forget(self._keys.pop(next(iter(self._keys))))
        now = self._clock.monotonic()
        self._keys[key] = Held(tuple(entry for entry, _ in rows), files, now)

    def drop(self, key: str) -> None:
        held = self._keys.pop(key, None)
        if held is not None:
            self._forget(held)

    def clear(self) -> None:
        self._keys.clear()
        self._close(list(self._fds))

    @property
    def open_files(self) -> int:
        """Body file descriptors held now (at most ``MAX_FDS``)."""
        return len(self._fds)

    def _forget(self, held: Held) -> None:
        self._close(held.files.values())

    def _close(self, names: Iterable[str]) -> None:
        fds = self._fds
        for name in names:
            fd = fds.pop(name, -1)
            if fd >= 0:
                os.close(fd)

    def _reread_soon(self, key: str) -> None:
        if key in self._rereading:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._rereading.add(key)
        task = loop.create_task(self._reread_now(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reread_now(self, key: str) -> None:
        try:
            rows = await self._reread(key)
            if rows is not None:
                self.keep(key, rows)
        except Exception:  # noqa: BLE001 - the tier closing underneath: read SQLite next time
            self.drop(key)
        finally:
            self._rereading.discard(key)
