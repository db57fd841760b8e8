"""The storage contract, as small Protocols.

- :class:`Store`: the five async methods the request flow needs;
- :class:`HitShortcut`: the memory tier's synchronous lookup and body, for the hit path;
- :class:`Maintenance`: what the node, the admin API and the metrics need (iterate,
  remove all, stats, the spool directory, close);
- :class:`CacheStore`: all three, as the tiered store (and the indexed store over it) offer.

A body reaches a store only when it is complete and length-checked, as a
:class:`SpooledBody` (bytes in memory, or a spool file the store takes over).
Reading gives a :class:`edge.models.BodySource` the front can render.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.models import BodySource, Entry, FileBody


@dataclass(slots=True)
class SpooledBody:
    """A complete body: either ``data`` (small, in memory) or a spool file at ``path``.

    ``Store.put`` takes ownership of ``path``: it renames it into place or
    deletes it. Readers that still have the spool open keep reading safely.
    """

    size: int
    data: bytes | None = None
    path: str | None = None

    def discard(self) -> None:
        if self.path is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.path = None


class Store(Protocol):
    async def variants(self, key: str) -> Sequence[Entry]:
        """Every stored variant of the primary ``key`` (empty when none)."""
        ...

    async def open_body(self, entry: Entry) -> BodySource | None:
        """The body of ``entry``, or None if it has gone (evicted, corrupt)."""
        ...

    async def put(self, entry: Entry, body: SpooledBody) -> bool:
        """Store ``entry`` (replacing the variant with the same key and variant).

        Returns False when no tier took it (too large, disk degraded…).
        """
        ...

    async def update(self, entry: Entry) -> None:
        """Replace an entry's metadata, keeping its body (304 freshening, soft purge)."""
        ...

    async def remove(self, key: str, variant: str | None = None) -> int:
        """Remove one variant, or all of them when ``variant`` is None; returns how many."""
        ...


class HitShortcut(Protocol):
    """The memory tier's synchronous side: a fresh memory hit costs no await."""

    def lookup_sync(self, key: str) -> Sequence[Entry] | None:
        """The variants of ``key`` if memory alone can answer (None: ask :meth:`Store.variants`)."""
        ...

    def body_sync(self, entry: Entry) -> bytes | None:
        """The body of ``entry`` when memory holds it."""
        ...

    def tier_of(self, entry: Entry) -> str | None:
        """Which tier serves ``entry`` ("memory", "disk"), for Cache-Status and /entries."""
        ...

    def file_sync(self, entry: Entry) -> FileBody | None:
        """The body file of an entry only the disk tier serves, opened without a thread
        or SQLite when the tier holds its rows (``edge.store.disk_held``), else None."""
        ...


StatValue = int | float | bool | str
TIER_FIGURES = ("objects", "bytes")


def tier_figure(name: str) -> tuple[str, str] | None:
    """``(tier, figure)`` for a per-tier count in :meth:`Maintenance.stats`, else None.

    ``"memory_bytes"`` is ``("memory", "bytes")``; budgets (``memory_max_bytes``)
    and other figures are not per-tier counts.
    """
    tier, _, figure = name.partition("_")
    return (tier, figure) if figure in TIER_FIGURES else None


class Maintenance(Protocol):
    """The store's maintenance side: listing, emptying, batch marking, figures, spool files,
    shutdown."""

    def iter_entries(self) -> AsyncIterator[Entry]:
        """Every entry the persistent tiers hold (for re-indexing after a restart)."""
        ...

    async def remove_all(self) -> int:
        """Empty every tier; returns how many entries went."""
        ...

    async def variants_many(self, keys: Sequence[str]) -> Sequence[Sequence[Entry]]:
        """``variants`` of each key (a purge), what the disk tier reads in one thread call."""
        ...

    async def remove_many(self, jobs: Sequence[tuple[str, str | None]]) -> int:
        """``remove`` for each ``(key, variant)`` (a purge), the disk tier's rows in one
        thread call; returns how many variants went, StoreBusy if not all of them did."""
        ...

    async def update_many(self, entries: Sequence[Entry]) -> None:
        """``update`` for each of ``entries`` (a soft purge), the disk tier's rows in one
        thread call; StoreBusy if not all of them were written."""
        ...

    def stats(self) -> dict[str, StatValue]:
        """Objects, bytes and budgets per tier (``<tier>_objects``, ``<tier>_bytes``: see
        :func:`tier_figure`), and the tiers' other figures."""
        ...

    @property
    def spool_dir(self) -> str | None:
        """Where fills spool bodies larger than memory allows (None: no usable disk)."""
        ...

    async def close(self) -> None: ...


class CacheStore(Store, HitShortcut, Maintenance, Protocol):
    """A whole store: what the node builds and hands to the flow, admin and metrics."""
