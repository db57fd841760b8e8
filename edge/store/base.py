"""The storage contract. Tiers and the tiered store implement :class:`Store`.

A body reaches a store only when it is complete and length-checked, as a
:class:`SpooledBody` (bytes in memory, or a spool file the store takes over).
Reading gives a :class:`edge.models.BodySource` the front can render.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.models import BodySource, Entry


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
