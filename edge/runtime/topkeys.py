"""The URLs answered from the cache most often and with the most bytes (the dashboard's top keys).

A hit costs one dict lookup and two integer additions. The table is bounded:
when it holds ``capacity`` URLs, the less-hit half is dropped and the rest's
counts are halved, so memory stays fixed, a URL that has become hot can still
climb past ones that were hot long ago, and the work is amortised over the
``capacity / 2`` new URLs that refill the table. The figures are therefore
approximate once the table has been aged (``aged`` says how often): good for
"what is hot", not for billing.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

DEFAULT_CAPACITY = 2048


@dataclass(frozen=True, slots=True)
class KeyCount:
    url: str
    hits: int
    bytes: int


class TopKeys:
    __slots__ = ("_counts", "_capacity", "aged")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self._counts: dict[str, list[int]] = {}  # url -> [hits, bytes]
        self._capacity = capacity
        self.aged = 0  # how many times the table was halved

    def __len__(self) -> int:
        return len(self._counts)

    @property
    def capacity(self) -> int:
        return self._capacity

    def record(self, url: str, nbytes: int) -> None:
        """One answer from the cache for ``url`` with ``nbytes`` of body."""
        counts = self._counts.get(url)
        if counts is not None:
            counts[0] += 1
            counts[1] += nbytes
            return
        if len(self._counts) >= self._capacity:
            self._age()
        self._counts[url] = [1, nbytes]

    def _age(self) -> None:
        keep = heapq.nlargest(self._capacity // 2, self._counts.items(), key=lambda kv: kv[1][0])
        self._counts = {url: [hits // 2, size // 2] for url, (hits, size) in keep}
        self.aged += 1

    def top(self, limit: int) -> tuple[list[KeyCount], list[KeyCount]]:
        """The ``limit`` URLs with the most hits, and the ``limit`` with the most bytes."""
        rows = [KeyCount(url, hits, size) for url, (hits, size) in self._counts.items()]
        by_hits = heapq.nlargest(limit, rows, key=lambda r: (r.hits, r.bytes))
        by_bytes = heapq.nlargest(limit, rows, key=lambda r: (r.bytes, r.hits))
        return by_hits, by_bytes

    def dump(self, limit: int) -> list[KeyCount]:
        """The rows either list of :meth:`top` would show (what a worker hands the leader)."""
        by_hits, by_bytes = self.top(limit)
        seen = {r.url: r for r in by_hits}
        for r in by_bytes:
            seen.setdefault(r.url, r)
        return list(seen.values())


def merge(tables: list[list[KeyCount]], limit: int) -> tuple[list[KeyCount], list[KeyCount]]:
    """Several workers' :meth:`TopKeys.dump` added up URL by URL, then ranked as ``top``."""
    total: dict[str, list[int]] = {}
    for rows in tables:
        for r in rows:
            counts = total.setdefault(r.url, [0, 0])
            counts[0] += r.hits
            counts[1] += r.bytes
    merged = TopKeys(max(2, len(total)))
    merged._counts = total
    return merged.top(limit)
