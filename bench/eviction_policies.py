"""Byte-aware baseline policies for the eviction study (bench only, not shipped).

Each follows :class:`edge.store.eviction.EvictionPolicy` (``access``/``insert``/
``remove``, ``capacity``/``used``/``evictions``) over integer keys, so
``bench/eviction_study.py`` replays them exactly like the production classes
(:class:`~edge.store.eviction.LRU`, :class:`~edge.store.eviction.S3FIFO`,
:class:`~edge.store.tinylfu.WTinyLFU`). Every one evicts until the bytes fit;
none calls back (the study needs no values). Randomised ones take a seed.
"""

from __future__ import annotations

import heapq
import random
from collections import OrderedDict
from collections.abc import Sequence

from edge.store.tinylfu import FrequencySketch


class FIFO:
    """First in, first out: hits change nothing."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used, self.evictions = capacity, 0, 0
        self._q: OrderedDict[int, int] = OrderedDict()

    def access(self, key: int) -> bool:
        return key in self._q

    def insert(self, key: int, size: int) -> bool:
        if size > self.capacity:
            return False
        self.remove(key)
        while self.used + size > self.capacity:
            self.used -= self._q.popitem(last=False)[1]
            self.evictions += 1
        self._q[key] = size
        self.used += size
        return True

    def remove(self, key: int) -> bool:
        size = self._q.pop(key, None)
        if size is None:
            return False
        self.used -= size
        return True


class Clock(FIFO):
    """CLOCK (second chance): a FIFO whose head is reinserted once if it was hit."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._ref: set[int] = set()

    def access(self, key: int) -> bool:
        if key in self._q:
            self._ref.add(key)
            return True
        return False

    def insert(self, key: int, size: int) -> bool:
        if size > self.capacity:
            return False
        self.remove(key)
        q, ref = self._q, self._ref
        while self.used + size > self.capacity:
            victim, victim_size = q.popitem(last=False)
            if victim in ref:
                ref.discard(victim)
                q[victim] = victim_size
                continue
            self.used -= victim_size
            self.evictions += 1
        q[key] = size
        self.used += size
        return True

    def remove(self, key: int) -> bool:
        self._ref.discard(key)
        return super().remove(key)


class Sieve:
    """SIEVE (Zhang et al., NSDI'24): a FIFO whose hand skips (and clears) visited objects,
    which stay in place; new objects go to the head, the hand walks from the tail."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used, self.evictions = capacity, 0, 0
        self._size: dict[int, int] = {}
        self._visited: set[int] = set()
        self._newer: dict[int, int | None] = {}  # towards the head
        self._older: dict[int, int | None] = {}  # towards the tail
        self._head: int | None = None
        self._tail: int | None = None
        self._hand: int | None = None

    def access(self, key: int) -> bool:
        if key in self._size:
            self._visited.add(key)
            return True
        return False

    def insert(self, key: int, size: int) -> bool:
        if size > self.capacity:
            return False
        self.remove(key)
        while self.used + size > self.capacity:
            self._evict()
        self._size[key] = size
        self.used += size
        self._older[key], self._newer[key] = self._head, None
        if self._head is not None:
            self._newer[self._head] = key
        self._head = key
        if self._tail is None:
            self._tail = key
        return True

    def _evict(self) -> None:
        hand = self._hand if self._hand is not None else self._tail
        while hand is not None and hand in self._visited:
            self._visited.discard(hand)
            hand = self._newer[hand]
            if hand is None:
                hand = self._tail
        assert hand is not None
        self._hand = self._newer[hand]
        self.remove(hand)
        self.evictions += 1

    def remove(self, key: int) -> bool:
        size = self._size.pop(key, None)
        if size is None:
            return False
        self.used -= size
        self._visited.discard(key)
        newer, older = self._newer.pop(key), self._older.pop(key)
        if self._hand == key:
            self._hand = newer
        if newer is None:
            self._head = older
        else:
            self._older[newer] = older
        if older is None:
            self._tail = newer
        else:
            self._newer[older] = newer
        return True


class Random:
    """Evict a uniformly random resident object."""

    def __init__(self, capacity: int, seed: int = 1) -> None:
        self.capacity, self.used, self.evictions = capacity, 0, 0
        self._keys: list[int] = []
        self._pos: dict[int, int] = {}
        self._size: dict[int, int] = {}
        self._rng = random.Random(seed)

    def access(self, key: int) -> bool:
        return key in self._pos

    def insert(self, key: int, size: int) -> bool:
        if size > self.capacity:
            return False
        self.remove(key)
        while self.used + size > self.capacity:
            self.remove(self._keys[int(self._rng.random() * len(self._keys))])
            self.evictions += 1
        self._pos[key] = len(self._keys)
        self._keys.append(key)
        self._size[key] = size
        self.used += size
        return True

    def remove(self, key: int) -> bool:
        i = self._pos.pop(key, None)
        if i is None:
            return False
        last = self._keys.pop()
        if last != key:
            self._keys[i] = last
            self._pos[last] = i
        self.used -= self._size.pop(key)
        return True


class _Heap:
    """Evict the smallest priority (lazy deletion); subclasses say what the priority is."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used, self.evictions = capacity, 0, 0
        self._size: dict[int, int] = {}
        self._prio: dict[int, tuple[float, int]] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._tick = 0

    def _push(self, key: int, prio: float) -> None:
        self._tick += 1
        self._prio[key] = (prio, self._tick)
        heapq.heappush(self._heap, (prio, self._tick, key))

    def insert(self, key: int, size: int) -> bool:
        if size > self.capacity:
            return False
        self.remove(key)
        heap = self._heap
        while self.used + size > self.capacity:
            prio, tick, victim = heapq.heappop(heap)
            if self._prio.get(victim) != (prio, tick):
                continue  # stale
            self.remove(victim)
            self.evictions += 1
        self._size[key] = size
        self.used += size
        self._admitted(key)
        return True

    def _admitted(self, key: int) -> None:
        raise NotImplementedError

    def remove(self, key: int) -> bool:
        size = self._size.pop(key, None)
        if size is None:
            return False
        self.used -= size
        del self._prio[key]
        return True


class LFU(_Heap):
    """In-cache LFU: evict the fewest hits since admission (ties: the least recent)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._hits: dict[int, int] = {}

    def access(self, key: int) -> bool:
        if key not in self._size:
            return False
        self._hits[key] += 1
        self._push(key, self._hits[key])
        return True

    def _admitted(self, key: int) -> None:
        self._hits[key] = 1
        self._push(key, 1)

    def remove(self, key: int) -> bool:
        self._hits.pop(key, None)
        return super().remove(key)


class TTLOrdered(_Heap):
    """Evict the object that expires first (its TTL from ``ttls``; the clock is the
    request count). The traces' TTLs say nothing about reuse, so this is the policy
    of a cache that evicts by freshness alone."""

    def __init__(self, capacity: int, ttls: Sequence[int]) -> None:
        super().__init__(capacity)
        self._ttls = ttls
        self._now = 0

    def access(self, key: int) -> bool:
        self._now += 1
        return key in self._size

    def _admitted(self, key: int) -> None:
        self._push(key, self._now + self._ttls[key])


class SLRUTinyLFU:
    """W-TinyLFU as Caffeine builds it: a 1 % LRU window, a segmented-LRU main (80 %
    protected), one sketch (:class:`edge.store.tinylfu.FrequencySketch`) counting every
    request, and a candidate leaving the window compared with main's LRU victim.

    ``byte_aware=False`` compares while the whole cache is over budget, as a per-entry
    design does: a large candidate then gets in by beating one victim, since only the
    newcomer's bytes must be found. ``byte_aware=True`` makes the candidate free its own
    bytes in main, beating every victim it displaces.
    """

    def __init__(self, capacity: int, *, byte_aware: bool, window: float = 0.01) -> None:
        self.capacity, self.used, self.evictions = capacity, 0, 0
        self.byte_aware = byte_aware
        self._wtarget = int(capacity * window)
        self._mtarget = capacity - self._wtarget
        self._ptarget = int(self._mtarget * 0.8)
        self._win: OrderedDict[int, int] = OrderedDict()
        self._prob: OrderedDict[int, int] = OrderedDict()
        self._prot: OrderedDict[int, int] = OrderedDict()
        self._wused = self._mused = self._pused = 0
        self._sketch = FrequencySketch()
        self._ops = 0

    def access(self, key: int) -> bool:
        if key in self._win:
            self._win.move_to_end(key)
        elif key in self._prot:
            self._prot.move_to_end(key)
        elif key in self._prob:
            size = self._prob.pop(key)
            self._prot[key] = size
            self._pused += size
            while self._pused > self._ptarget and len(self._prot) > 1:
                old, old_size = self._prot.popitem(last=False)
                self._pused -= old_size
                self._prob[old] = old_size
        else:
            return False
        self._count(key)
        return True

    def _count(self, key: int) -> None:
        self._sketch.increment(key)
        self._ops += 1
        resident = len(self._win) + len(self._prob) + len(self._prot)
        if self._ops >= 10 * max(64, resident):
            self._ops = 0
            self._sketch.age()

    def insert(self, key: int, size: int) -> bool:
        if size > self.capacity:
            return False
        self.remove(key)
        self._count(key)
        self._win[key] = size
        self._wused += size
        self.used += size
        while self._wused > self._wtarget and self._win:
            candidate, cand_size = self._win.popitem(last=False)
            self._wused -= cand_size
            if not self._admit(candidate, cand_size):
                self.used -= cand_size
                self.evictions += 1
        while self.used > self.capacity:  # per-entry mode: nothing left to compare with
            queue = self._prob or self._prot or self._win
            victim = next(iter(queue))
            self.remove(victim)
            self.evictions += 1
        self._sketch.ensure(len(self._win) + len(self._prob) + len(self._prot))
        return key in self._win or key in self._prob

    def _over(self, size: int) -> bool:
        if self.byte_aware:
            return self._mused + size > self._mtarget
        return self.used > self.capacity

    def _admit(self, key: int, size: int) -> bool:
        if size > self._mtarget:
            return False
        freq = self._sketch.estimate(key)
        while self._over(size):
            queue = self._prob or self._prot
            if not queue:
                break
            victim = next(iter(queue))
            if freq <= self._sketch.estimate(victim):
                return False
            self.used -= self._drop(queue, victim)
            self.evictions += 1
        self._prob[key] = size
        self._mused += size
        return True

    def _drop(self, queue: OrderedDict[int, int], key: int) -> int:
        size = queue.pop(key)
        if queue is self._prot:
            self._pused -= size
        self._mused -= size
        return size

    def remove(self, key: int) -> bool:
        if key in self._win:
            size = self._win.pop(key)
            self._wused -= size
        elif key in self._prob or key in self._prot:
            size = self._drop(self._prob if key in self._prob else self._prot, key)
        else:
            return False
        self.used -= size
        return True
