"""Memory over disk, behind one :class:`edge.store.base.Store`.

* Lookup asks memory first. Memory's answer is final unless the key is
  *partial* there (it may hold only some variants); then the disk's
  variants are merged in.
* A body read from disk is promoted to memory when memory admits its size
  (read whole, in a thread); larger bodies are served as an open
  :class:`~edge.models.FileBody`.
* ``put`` writes memory (when the body fits) and disk (when enabled and
  healthy); a small spool file is read into memory before the disk tier takes
  it over. Memory evictions lose nothing the disk holds.
* ``update`` and ``remove`` apply to both tiers.

Which tier answered, for ``Cache-Status: ...; detail=memory|disk``:
:meth:`TieredStore.variants` returns :class:`Variants`, a list of entries
with a ``tier`` attribute ("memory", "disk", or None when empty), and
:meth:`TieredStore.tier_of` tells where one entry's body is right now (ask
before :meth:`~TieredStore.open_body`, which may promote it).

The engine's hit path can skip the coroutine: ``store.lookup_sync(key)``
returns the memory answer, or the disk tier's held rows
(:mod:`edge.store.disk_held`), or None when the disk must be asked with
``await store.variants(key)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Literal

from edge.clock import Clock
from edge.config import CacheConfig
from edge.models import BodySource, BytesBody, Entry, FileBody
from edge.store.base import SpooledBody, StatValue
from edge.store.disk import DiskTier
from edge.store.memory import MemoryTier

TierName = Literal["memory", "disk"]


class Variants(list[Entry]):
    """The variants stored for a key, and the tier that answered the lookup."""

    __slots__ = ("tier",)

    def __init__(self, entries: Iterable[Entry] = (), tier: TierName | None = None) -> None:
        super().__init__(entries)
        self.tier: TierName | None = tier if self else None


class TieredStore:
    def __init__(self, memory: MemoryTier, disk: DiskTier | None) -> None:
        self.memory = memory
        self.disk = disk

    @property
    def disk_usable(self) -> bool:
        return self.disk is not None and self.disk.usable

    @property
    def spool_dir(self) -> str | None:
        """Where to spool bodies for :meth:`put` (None: no usable disk, keep them in memory)."""
        return self.disk.spool_dir if self.disk is not None and self.disk.usable else None

    def lookup_sync(self, key: str) -> Variants | None:
        """The answer when it needs no thread: memory's when it is final, else what the
        disk tier holds of the key's rows (merged with memory's variants); None when
        the disk must be asked with ``await variants(key)``."""
        memory = self.memory
        disk = self.disk
        if disk is None or not disk.usable:
            return Variants(memory.get_sync(key), "memory")
        partial = memory.is_partial(key)
        if not partial and memory.holds_key(key):
            return Variants(memory.get_sync(key), "memory")
        held = disk.held_variants(key)
        if held is None:
            return None
        if not partial:
            return Variants(held, "disk")
        in_memory = memory.get_sync(key)
        variants = {e.variant for e in in_memory}
        from_disk = [e for e in held if e.variant not in variants]
        return Variants([*in_memory, *from_disk], "disk" if from_disk else "memory")

    def body_sync(self, entry: Entry) -> bytes | None:
        """The body when memory holds it (the hit path's shortcut), else None."""
        return self.memory.body_sync(entry)

    def file_sync(self, entry: Entry) -> FileBody | None:
        """A body too large for memory, opened from the disk tier's held rows (no thread).
        Bodies memory admits are left to :meth:`open_body`, which promotes them."""
        disk = self.disk
        if disk is None or self.memory.admits(entry.body_size):
            return None
        return disk.open_held(entry, shared=True)  # sent by offset: edge.fronts.h1_files

    def tier_of(self, entry: Entry) -> TierName:
        return "memory" if self.memory.body_sync(entry) is not None else "disk"

    # -- Store protocol -------------------------------------------------

    async def variants(self, key: str) -> Variants:
        found = self.lookup_sync(key)
        if found is not None or self.disk is None:
            return found if found is not None else Variants()
        return self._with_memory(key, await self.disk.variants(key))

    async def variants_many(self, keys: Sequence[str]) -> list[Variants]:
        """:meth:`variants` of each key: what the disk tier must read, in one thread call."""
        found = [self.lookup_sync(key) for key in keys]
        missing = [key for key, got in zip(keys, found, strict=True) if got is None]
        if not missing or self.disk is None:
            return [got if got is not None else Variants() for got in found]
        read = iter(await self.disk.variants_many(missing))
        return [
            got if got is not None else self._with_memory(key, next(read))
            for key, got in zip(keys, found, strict=True)
        ]

    def _with_memory(self, key: str, from_disk: Sequence[Entry]) -> Variants:
        """The disk tier's variants of ``key`` under the memory tier's copies of them."""
        held = {e.variant: e for e in self.memory.get_sync(key)}
        rest = [e for e in from_disk if e.variant not in held]
        tier: TierName = "disk" if rest else "memory"
        return Variants([*held.values(), *rest], tier)

    async def open_body(self, entry: Entry) -> BodySource | None:
        body = self.memory.body_sync(entry)
        if body is not None:
            return BytesBody(body)
        if self.disk is None or not self.disk.usable:
            return None
        if not self.memory.admits(entry.body_size):
            held = self.disk.open_held(entry)  # no thread, no SQLite: the common disk hit
            return held if held is not None else await self.disk.open_body(entry)
        data = await self.disk.read_body(entry)
        if data is None:
            return None
        self.memory.put_sync(entry, data, partial=self._maybe_partial(entry))
        return BytesBody(data)

    async def put(self, entry: Entry, body: SpooledBody) -> bool:
        data = await self.memory.admitted_bytes(body)
        if data is not None and len(data) == entry.body_size:
            in_memory = self.memory.put_sync(entry, data, partial=self._maybe_partial(entry))
        else:
            self.memory.drop_variant(entry.key, entry.variant)  # never serve the old one
            in_memory = False
        if self.disk is None or not self.disk.usable:
            body.discard()
            return in_memory
        on_disk = await self.disk.put(entry, body)
        return in_memory or on_disk

    async def update(self, entry: Entry) -> None:
        self.memory.update_sync(entry)
        if self.disk is not None:
            await self.disk.update(entry)

    async def remove_many(self, jobs: Sequence[tuple[str, str | None]]) -> int:
        """:meth:`remove` for each ``(key, variant)`` (a purge): the disk tier's in one
        thread call, and StoreBusy if it does not get through them."""
        names = [self.memory.remove_sync(key, variant) for key, variant in jobs]
        if self.disk is not None:
            on_disk = await self.disk.remove_many_names(jobs, strict=True)
            for mine, theirs in zip(names, on_disk, strict=True):
                mine |= theirs
        return sum(len(n) for n in names)

    async def update_many(self, entries: Sequence[Entry]) -> None:
        """:meth:`update` for each of ``entries`` (a soft purge): the disk tier's in one
        thread call, and StoreBusy if it does not get through them."""
        for entry in entries:
            self.memory.update_sync(entry)
        if self.disk is not None:
            await self.disk.update_many(entries, strict=True)

    async def remove(self, key: str, variant: str | None = None) -> int:
        names = self.memory.remove_sync(key, variant)
        if self.disk is not None:
            names |= await self.disk.remove_names(key, variant)
        return len(names)

    # -- admin ----------------------------------------------------------

    async def iter_entries(self) -> AsyncIterator[Entry]:
        """What the disk tier holds (memory is empty at start-up), for re-indexing."""
        if self.disk is not None and self.disk.usable:
            async for entry in self.disk.iter_entries():
                yield entry

    async def remove_all(self) -> int:
        count = self.memory.clear()
        if self.disk is not None:
            count = max(count, await self.disk.remove_all())
        return count

    def stats(self) -> dict[str, StatValue]:
        out: dict[str, StatValue] = {
            "memory_objects": self.memory.object_count,
            "memory_bytes": self.memory.used_bytes,
            "memory_max_bytes": self.memory.max_bytes,
            "memory_evictions": self.memory.evictions,
            "memory_refused": self.memory.refused,
            "memory_admissions": self.memory.admitted,
            "disk_enabled": self.disk is not None,
        }
        if self.disk is not None:
            out.update(self.disk.stats())
        out["degraded"] = self.disk is not None and self.disk.degraded
        out["degraded_reason"] = self.disk.degraded_reason if self.disk is not None else ""
        return out

    async def close(self) -> None:
        if self.disk is not None:
            await self.disk.close()

    def _maybe_partial(self, entry: Entry) -> bool:
        """Whether the disk may hold variants of this key that memory will not."""
        return self.disk_usable and bool(entry.vary) and not self.memory.holds_key(entry.key)


def build_store(cfg: CacheConfig, clock: Clock) -> TieredStore:
    memory = MemoryTier(
        cfg.memory.max_bytes, cfg.memory.max_object_bytes, cfg.memory.policy, cfg.max_variants
    )
    disk = (
        DiskTier(cfg.dir, cfg.disk.max_bytes, clock, cfg.max_variants) if cfg.disk.enabled else None
    )
    return TieredStore(memory, disk)
