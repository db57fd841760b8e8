"""A consistent-hash ring with virtual nodes.

Each node is placed on a 64-bit ring at ``vnodes`` points (``blake2b("<node>#<i>")``, 8 bytes);
a key belongs to the first point at or after its own hash, wrapping around. Adding or removing
one of N nodes moves about 1/N of the keys, and only keys to or from that node: that is what
lets a shield tier grow without emptying every parent's cache.

The hash is stable across processes and Python versions (unlike ``hash()``), so every edge
agrees on the owner of a key without talking to the others.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence

DEFAULT_VNODES = 160


def ring_hash(text: str) -> int:
    """A stable 64-bit position on the ring."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing:
    """Immutable: build a new ring when the node list changes (it is cheap: N * vnodes hashes)."""

    __slots__ = ("_nodes", "_points", "_owners", "_vnodes")

    def __init__(self, nodes: Sequence[str], vnodes: int = DEFAULT_VNODES) -> None:
        if vnodes < 1:
            raise ValueError(f"vnodes must be >= 1, got {vnodes}")
        if len(set(nodes)) != len(nodes):
            raise ValueError(f"node names must be distinct, got {list(nodes)}")
        self._nodes = tuple(nodes)
        self._vnodes = vnodes
        placed = sorted(
            (ring_hash(f"{node}#{i}"), node) for node in self._nodes for i in range(vnodes)
        )
        self._points = [point for point, _ in placed]
        self._owners = [node for _, node in placed]

    @property
    def nodes(self) -> tuple[str, ...]:
        return self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def _start(self, key: str) -> int:
        i = bisect.bisect_left(self._points, ring_hash(key))
        return 0 if i == len(self._points) else i

    def owner(self, key: str) -> str:
        """The node that owns ``key``; ``LookupError`` on an empty ring."""
        if not self._points:
            raise LookupError("the ring has no nodes")
        return self._owners[self._start(key)]

    def preference(self, key: str) -> list[str]:
        """Every node once, in ring order from the owner: the failover order for ``key``."""
        if not self._points:
            return []
        wanted = len(self._nodes)
        seen: dict[str, None] = {}
        start = self._start(key)
        total = len(self._owners)
        for step in range(total):  # bounded: one lap of the ring at most
            seen.setdefault(self._owners[(start + step) % total], None)
            if len(seen) == wanted:
                break
        return list(seen)
