"""Byte-aware eviction policies over plain keys and sizes (no bodies).

The memory tier drives them with ``(key, variant)`` keys and the bytes it
charges per object; ``bench/trace_sim.py`` drives the very same classes with
synthetic ``(key, size)`` traces, so the figures it prints describe the code
that runs in production.

A policy only tracks keys and sizes. The owner keeps the values and is told
about each eviction through ``on_evict``, called synchronously from inside
:meth:`EvictionPolicy.insert` (never from :meth:`~EvictionPolicy.remove`, and
never for the key being inserted). A policy with admission control
(:class:`edge.store.tinylfu.WTinyLFU`, the default) may refuse that key: then
``insert`` returns False and the owner drops it.

Request protocol, the same for both users::

    if not policy.access(key):      # records the hit when resident
        policy.insert(key, size)    # admits it, evicting others as needed
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from edge.store.tinylfu import WTinyLFU

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


def _ignore(_key: object) -> None:
    return None


class EvictionPolicy(Protocol[K_contra]):
    capacity: int  # bytes
    used: int  # bytes currently charged; never above capacity after insert returns
    evictions: int

    def access(self, key: K_contra) -> bool:
        """Record a request for ``key``; True when it is resident (a hit)."""
        ...

    def insert(self, key: K_contra, size: int) -> bool:
        """Make ``key`` resident with ``size`` bytes (re-sizing it if already there).

        Evicts other keys (calling ``on_evict`` for each) until the total fits.
        Returns False, and forgets ``key``, when ``size`` exceeds the capacity or
        the policy's admission refuses it.
        """
        ...

    def remove(self, key: K_contra) -> bool:
        """Forget ``key`` without calling ``on_evict``; True when it was resident."""
        ...


class LRU(Generic[K]):
    """Least recently used, by bytes: the floor every other policy must beat."""

    __slots__ = ("capacity", "used", "evictions", "_sizes", "_on_evict")

    def __init__(self, capacity: int, on_evict: Callable[[K], None] = _ignore) -> None:
        self.capacity = capacity
        self.used = 0
        self.evictions = 0
        self._sizes: OrderedDict[K, int] = OrderedDict()
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._sizes)

    def access(self, key: K) -> bool:
        try:
            self._sizes.move_to_end(key)
        except KeyError:
            return False
        return True

    def insert(self, key: K, size: int) -> bool:
        if size > self.capacity:
            self.remove(key)
            return False
        sizes = self._sizes
        old = sizes.pop(key, 0)
        self.used += size - old
        sizes[key] = size
        while self.used > self.capacity:
            victim, victim_size = sizes.popitem(last=False)
            self.used -= victim_size
            self.evictions += 1
            self._on_evict(victim)
        return True

    def remove(self, key: K) -> bool:
        size = self._sizes.pop(key, None)
        if size is None:
            return False
        self.used -= size
        return True


class S3FIFO(Generic[K]):
    """S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP'23).

    New objects enter a small FIFO (``small_ratio`` of the bytes). When the
    small queue is over its share, its oldest object moves to the main FIFO if
    it was requested at least ``promote_at`` times while there, else it is
    evicted and its key remembered in the ghost FIFO. An object inserted while
    its key is in the ghost goes straight to main. Main is FIFO with
    reinsertion: each object carries a frequency capped at 3 (two bits); the
    oldest is reinserted with its frequency decremented while it is non-zero,
    else evicted. One-hit wonders (scans) therefore pass through the small
    queue without disturbing main.

    The ghost holds keys only, bounded by count (``ghost_ratio`` times the
    number of resident objects): it costs key memory, not charged bytes.
    Space is made *before* a new object goes in, so an object larger than the
    small queue's share is still admitted.

    Defaults (5 % small queue, ghost of 0.3x the resident count) come from
    ``bench/trace_sim.py`` on Zipf traces; the paper's 10 % / 0.9x closed
    about 46 % of the LRU-to-Belady gap there, these about 52 %.
    """

    __slots__ = (
        "capacity",
        "used",
        "evictions",
        "small_target",
        "promote_at",
        "ghost_ratio",
        "_small",
        "_main",
        "_small_used",
        "_freq",
        "_ghost",
        "_on_evict",
    )

    MAX_FREQ = 3

    def __init__(
        self,
        capacity: int,
        on_evict: Callable[[K], None] = _ignore,
        *,
        small_ratio: float = 0.05,
        promote_at: int = 1,
        ghost_ratio: float = 0.3,
    ) -> None:
        self.capacity = capacity
        self.used = 0
        self.evictions = 0
        self.small_target = int(capacity * small_ratio)
        self.promote_at = promote_at
        self.ghost_ratio = ghost_ratio
        self._small: OrderedDict[K, int] = OrderedDict()  # key -> size, oldest first
        self._main: OrderedDict[K, int] = OrderedDict()
        self._small_used = 0
        self._freq: dict[K, int] = {}  # resident keys only
        self._ghost: OrderedDict[K, None] = OrderedDict()
        self._on_evict = on_evict

    def __len__(self) -> int:
        return len(self._freq)

    def access(self, key: K) -> bool:
        freq = self._freq.get(key)
        if freq is None:
            return False
        if freq < self.MAX_FREQ:
            self._freq[key] = freq + 1
        return True

    def insert(self, key: K, size: int) -> bool:
        if size > self.capacity:
            self.remove(key)
            return False
        freq = self._freq.get(key)
        in_main = key in self._main
        if freq is not None:  # a new size: out, then back into the same queue once room is made
            self.remove(key)
        while self.used + size > self.capacity:
            self._evict_one()
        self._freq[key] = freq or 0
        self.used += size
        if in_main or key in self._ghost:  # a ghost was evicted from probation: it is back
            self._ghost.pop(key, None)
            self._main[key] = size
        else:
            self._small[key] = size
            self._small_used += size
        return True

    def remove(self, key: K) -> bool:
        if self._freq.pop(key, None) is None:
            return False
        size = self._small.pop(key, None)
        if size is not None:
            self._small_used -= size
        else:
            size = self._main.pop(key)
        self.used -= size
        return True

    def _evict_one(self) -> None:
        if self._small and (self._small_used >= self.small_target or not self._main):
            if self._evict_small():
                return
        self._evict_main()

    def _evict_small(self) -> bool:
        """Drain the small queue's tail until one object is evicted (True) or it empties."""
        small, freq = self._small, self._freq
        while small:
            key, size = small.popitem(last=False)
            self._small_used -= size
            if freq[key] >= self.promote_at:
                freq[key] = 0
                self._main[key] = size
                continue
            self._ghost[key] = None
            limit = max(1, int(len(freq) * self.ghost_ratio))
            while len(self._ghost) > limit:
                self._ghost.popitem(last=False)
            self._drop(key, size)
            return True
        return False

    def _evict_main(self) -> None:
        main, freq = self._main, self._freq
        while True:
            key, size = main.popitem(last=False)
            count = freq[key]
            if count > 0:
                freq[key] = count - 1
                main[key] = size
                continue
            self._drop(key, size)
            return

    def _drop(self, key: K, size: int) -> None:
        del self._freq[key]
        self.used -= size
        self.evictions += 1
        self._on_evict(key)


POLICY_NAMES = ("wtinylfu", "s3fifo", "lru")  # cache.memory.policy; the first is the default


def make_policy(
    name: str, capacity: int, on_evict: Callable[[K], None] = _ignore
) -> EvictionPolicy[K]:
    """One of :data:`POLICY_NAMES` (``cache.memory.policy``)."""
    if name == "wtinylfu":
        return WTinyLFU(capacity, on_evict)
    if name == "lru":
        return LRU(capacity, on_evict)
    if name == "s3fifo":
        return S3FIFO(capacity, on_evict)
    expected = ", ".join(repr(n) for n in POLICY_NAMES)
    raise ValueError(f"unknown eviction policy {name!r}: expected one of {expected}")
