"""W-TinyLFU, byte-aware: the memory tier's default eviction policy (``wtinylfu``).

Three parts (Einziger, Friedman, Manes, "TinyLFU: a highly efficient cache
admission policy", ACM ToS 2017), adapted to objects of very different sizes:

- a **window**, an LRU of ``window_ratio`` (1 %) of the bytes, where every new
  object starts, so a burst of requests to a new object can hit;
- a **frequency sketch** (:class:`FrequencySketch`): a count-min sketch of
  4-bit counters behind a doorkeeper Bloom filter, aged by halving, that
  remembers how often keys were requested, resident or not;
- the **main** region (the rest of the bytes). An object leaving the window
  is a *candidate*: it enters main only if it is requested more often than
  every victim it displaces. The comparison is made for the candidate's own
  bytes (a 1 MiB candidate must beat as many victims as free 1 MiB), which is
  what makes the policy byte-aware; comparing per object, as the classic
  design does, lets large objects in cheaply and loses most of the gain.
  Victims are chosen by sampled LFU: the least-counted of ``sample`` random
  residents (each resident keeps a 4-bit counter of its own).

The hit path (:meth:`WTinyLFU.access`) allocates nothing: on a main object it
is one dict lookup and one bytearray store; in the window, a ``move_to_end``
and a small-int count (a key's first window hit adds one dict entry) that
reaches the sketch when the object leaves the window. Sketch updates, sampling
and aging are all on the miss path (:meth:`~WTinyLFU.insert`). Aging is counted
in inserts: every ``20 x`` the resident count of them, counters halve
(residents' keep at least 1) and the doorkeeper is cleared, so popularity that
fades is forgotten, faster when misses are frequent. A one-hit scan object
reaches the sketch's doorkeeper only: it never beats a resident, and once main
has filled up, free space goes only to candidates seen at least twice.

``bench/eviction_study.py`` measured it against LRU, S3-FIFO, W-TinyLFU with
an SLRU main and others; the figures are in the README.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

_M64 = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15  # one multiply spreads the hash; rows and doorkeeper use double hashing
_HALVE = bytes(i >> 1 for i in range(256))
_HALVE_KEEP_ONE = bytes(max(1, i >> 1) if i else 0 for i in range(256))
MAX_COUNT = 15  # 4-bit counters, as in TinyLFU


def _ignore(_key: object) -> None:
    return None


class FrequencySketch:
    """How often keys were seen recently: count-min (4 rows) behind a doorkeeper.

    The first sighting of a key since the last reset only sets its two
    doorkeeper bits, so the many keys seen once never reach the counters.
    Counters are bytes capped at :data:`MAX_COUNT`, raised with conservative
    update (only the smallest of a key's four move), which keeps collisions
    from inflating rare keys. ``ensure(n)`` keeps the rows at 4x ``n`` counters
    (growing clears them); the doorkeeper holds 16 bits per counter.
    """

    __slots__ = ("_bits", "_rows", "_door")

    def __init__(self, expected: int = 256) -> None:
        self._bits = 8
        self._rows: list[bytearray] = []
        self._door = bytearray()
        self._resize(expected)

    def _resize(self, expected: int) -> None:
        bits = self._bits
        while (1 << bits) < 4 * expected:
            bits += 1
        self._bits = bits
        self._rows = [bytearray(1 << bits) for _ in range(4)]
        self._door = bytearray(1 << (bits + 4 - 3))  # 16 bits per counter, packed

    def ensure(self, expected: int) -> None:
        if (1 << self._bits) < 4 * expected:
            self._resize(expected)

    def _hashes(self, key: Hashable) -> tuple[int, int]:
        x = (hash(key) * _MIX) & _M64
        return x >> 32, (x & 0xFFFFFFFF) | 1

    def _door_bits(self, h1: int, h2: int) -> tuple[int, int]:
        mask = (1 << (self._bits + 4)) - 1
        return (h1 + 4 * h2) & mask, (h1 + 5 * h2) & mask

    def _slots(self, h1: int, h2: int) -> tuple[int, int, int, int]:
        mask = (1 << self._bits) - 1
        return h1 & mask, (h1 + h2) & mask, (h1 + 2 * h2) & mask, (h1 + 3 * h2) & mask

    def _door_has(self, a: int, b: int) -> bool:
        door = self._door
        return bool(door[a >> 3] & (1 << (a & 7)) and door[b >> 3] & (1 << (b & 7)))

    def _door_add(self, a: int, b: int) -> None:
        door = self._door
        door[a >> 3] |= 1 << (a & 7)
        door[b >> 3] |= 1 << (b & 7)

    def increment(self, key: Hashable) -> None:
        h1, h2 = self._hashes(key)
        a, b = self._door_bits(h1, h2)
        if not self._door_has(a, b):
            self._door_add(a, b)
            return
        slots = self._slots(h1, h2)
        rows = self._rows
        low = min(row[i] for row, i in zip(rows, slots, strict=True))
        if low >= MAX_COUNT:
            return
        for row, i in zip(rows, slots, strict=True):
            if row[i] == low:
                row[i] = low + 1

    def estimate(self, key: Hashable) -> int:
        h1, h2 = self._hashes(key)
        low = min(row[i] for row, i in zip(self._rows, self._slots(h1, h2), strict=True))
        return low + 1 if self._door_has(*self._door_bits(h1, h2)) else low

    def raise_to(self, key: Hashable, count: int) -> None:
        """Make ``estimate(key)`` at least ``count`` (a resident leaving keeps its record)."""
        h1, h2 = self._hashes(key)
        self._door_add(*self._door_bits(h1, h2))
        target = min(count - 1, MAX_COUNT)
        for row, i in zip(self._rows, self._slots(h1, h2), strict=True):
            if row[i] < target:
                row[i] = target

    def age(self) -> None:
        """Halve every counter and clear the doorkeeper."""
        self._rows = [row.translate(_HALVE) for row in self._rows]
        self._door = bytearray(len(self._door))


class WTinyLFU(Generic[K]):
    """Window LRU, TinyLFU admission for the candidate's bytes, sampled-LFU main."""

    __slots__ = (
        "capacity",
        "used",
        "evictions",
        "window_target",
        "main_target",
        "sample",
        "age_every",
        "_window",
        "_window_used",
        "_window_hits",
        "_keys",
        "_sizes",
        "_counts",
        "_slot",
        "_main_used",
        "_sketch",
        "_rng",
        "_inserts",
        "_warm",
        "_on_evict",
    )

    def __init__(
        self,
        capacity: int,
        on_evict: Callable[[K], None] = _ignore,
        *,
        window_ratio: float = 0.01,
        sample: int = 4,
        age_every: int = 20,
        seed: int = 1,
    ) -> None:
        self.capacity = capacity
        self.used = 0
        self.evictions = 0
        self.window_target = int(capacity * window_ratio)
        self.main_target = capacity - self.window_target
        self.sample = sample
        self.age_every = age_every  # inserts per resident object between two agings
        self._window: OrderedDict[K, int] = OrderedDict()  # key -> size, least recent first
        self._window_used = 0
        self._window_hits: dict[K, int] = {}  # hits while in the window, for the sketch later
        # main: parallel arrays, so a victim is sampled in O(1) and a hit allocates nothing
        self._keys: list[K] = []
        self._sizes: list[int] = []
        self._counts = bytearray()
        self._slot: dict[K, int] = {}
        self._main_used = 0
        self._sketch = FrequencySketch()
        self._rng = random.Random(seed)
        self._inserts = 0
        self._warm = False  # main has been full once
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._slot) + len(self._window)

    def __contains__(self, key: K) -> bool:
        return key in self._slot or key in self._window

    def access(self, key: K) -> bool:
        i = self._slot.get(key)
        if i is not None:
            counts = self._counts
            count = counts[i]
            if count < MAX_COUNT:
                counts[i] = count + 1
            return True
        if key in self._window:
            self._window.move_to_end(key)
            hits = self._window_hits
            count = hits.get(key, 0)
            if count < MAX_COUNT:
                hits[key] = count + 1
            return True
        return False

    def insert(self, key: K, size: int) -> bool:
        """Put ``key`` in the window; True if it is resident afterwards.

        False when ``size`` exceeds the capacity, or when the key, too large for
        the window, was refused at once by admission. ``on_evict`` is never
        called for ``key`` itself.
        """
        if size > self.capacity:
            self.remove(key)
            return False
        self._tick()
        sketch = self._sketch
        sketch.increment(key)
        resident_count = self._forget(key)  # a new size: admitted afresh
        if resident_count:
            sketch.raise_to(key, resident_count)
        window = self._window
        window[key] = size
        self._window_used += size
        self.used += size
        admitted = True
        while self._window_used > self.window_target:
            candidate, candidate_size = window.popitem(last=False)
            self._window_used -= candidate_size
            if self._admit(candidate, candidate_size, self._window_hits.pop(candidate, 0)):
                continue
            self.used -= candidate_size
            if candidate == key:
                admitted = False
            else:
                self.evictions += 1
                self._on_evict(candidate)
        sketch.ensure(len(self._slot) + len(window))
        return admitted

    def remove(self, key: K) -> bool:
        """Forget ``key`` without calling ``on_evict``; True when it was resident."""
        return self._forget(key) is not None

    # -- internals --------------------------------------------------------------------
    def _tick(self) -> None:
        self._inserts += 1
        if self._inserts >= self.age_every * max(64, len(self._slot) + len(self._window)):
            self._inserts = 0
            self._sketch.age()
            self._counts = self._counts.translate(_HALVE_KEEP_ONE)

    def _admit(self, key: K, size: int, window_hits: int) -> bool:
        """Move a candidate into main if it beats every victim its bytes displace."""
        if size > self.main_target:
            return False
        count = self._sketch.estimate(key) + window_hits
        if self._main_used + size > self.main_target:
            self._warm = True
            while self._main_used + size > self.main_target:
                victim = self._victim()
                if count <= self._counts[victim]:
                    if window_hits:
                        self._sketch.raise_to(key, count)
                    return False
                self._evict_main(victim)
        elif self._warm and count <= 1:  # space left by a large eviction: not for one-hit keys
            return False
        self._slot[key] = len(self._keys)
        self._keys.append(key)
        self._sizes.append(size)
        self._counts.append(max(1, min(count, MAX_COUNT)))
        self._main_used += size
        return True

    def _victim(self) -> int:
        """The least-counted of ``sample`` residents of main drawn at random."""
        n = len(self._keys)
        draw, counts = self._rng.random, self._counts
        best = int(draw() * n)
        best_count = counts[best]
        for _ in range(self.sample - 1):
            i = int(draw() * n)
            if counts[i] < best_count:
                best, best_count = i, counts[i]
        return best

    def _take(self, i: int) -> tuple[K, int, int]:
        """Remove main's slot ``i`` (the last slot moves into it): (key, size, count)."""
        keys, sizes, counts = self._keys, self._sizes, self._counts
        key, size, count = keys[i], sizes[i], counts[i]
        last = len(keys) - 1
        if i != last:
            moved = keys[last]
            keys[i], sizes[i], counts[i] = moved, sizes[last], counts[last]
            self._slot[moved] = i
        keys.pop()
        sizes.pop()
        counts.pop()
        del self._slot[key]
        self._main_used -= size
        return key, size, count

    def _evict_main(self, i: int) -> None:
        key, size, count = self._take(i)
        self._sketch.raise_to(key, count)
        self.used -= size
        self.evictions += 1
        self._on_evict(key)

    def _forget(self, key: K) -> int | None:
        """Drop ``key`` silently: its main count (0 in the window), None if absent."""
        i = self._slot.get(key)
        if i is not None:
            _, size, count = self._take(i)
            self.used -= size
            return count
        if key not in self._window:
            return None
        size = self._window.pop(key)
        self._window_hits.pop(key, None)
        self._window_used -= size
        self.used -= size
        return 0
