"""Refresh-ahead: popular entries are revalidated in the background before they expire.

Stale-while-revalidate (RFC 5861 §3) hides a revalidation behind one stale
answer, but only when the origin allows stale use, and the first request
after expiry still gets stale content. Refresh-ahead revalidates a *fresh*
entry that is requested in the last ``fraction`` of its freshness lifetime,
if it is popular enough, so that a hot key never expires under traffic.
RFC 9111 §4.3.1 lets a cache send a conditional request at any time; the
answer freshens (304, §4.3.4) or replaces (200) the stored response, and
the entry keeps answering meanwhile.

The cost is on the hit path only past the deadline: a hit compares its
``ttl`` with ``fraction x lifetime`` (two numbers the lookup already has);
only then is the frequency sketch touched. Popularity is counted there, in a
count-min sketch with a doorkeeper (:class:`~edge.store.tinylfu.FrequencySketch`)
aged by halving every :data:`AGE_EVERY` counts, so a key that was popular
long ago does not stay "hot". A key is refreshed at most once per stored
response (the freshened one may be refreshed again near its own end), and
every refresh is a background fill, within ``cache.max_revalidations``, the
cap stale-while-revalidate shares.
"""

from __future__ import annotations

from edge.models import Entry
from edge.store.tinylfu import FrequencySketch

#: Sketch size (keys it tells apart well) and how many counts between agings.
SKETCH_KEYS = 16_384
AGE_EVERY = 10 * SKETCH_KEYS
#: Keys remembered as refreshed (for "at most once"); the record is dropped beyond it.
MAX_REMEMBERED = 100_000


class RefreshAhead:
    """Decides which fresh hits start a background refresh, and counts the outcomes."""

    __slots__ = ("fraction", "min_hits", "_sketch", "_counted", "_refreshed")

    def __init__(self, fraction: float, min_hits: int) -> None:
        self.fraction = fraction  # 0: off
        self.min_hits = min_hits
        self._sketch = FrequencySketch(SKETCH_KEYS)
        self._counted = 0
        self._refreshed: dict[str, float] = {}  # key -> response_time of the entry refreshed

    def due(self, entry: Entry, ttl: float) -> bool:
        """Is this fresh entry in the last ``fraction`` of its lifetime? (The cheap test.)"""
        return ttl < entry.lifetime * self.fraction

    def wants(self, key: str, entry: Entry) -> bool:
        """Count this hit past the deadline; True when the key should be refreshed now.

        Popular enough: at least ``min_hits`` counted hits (near any of its ends,
        recently). At most once per stored response: a refresh of this entry
        already started says no until a new response replaces it.
        """
        sketch = self._sketch
        sketch.increment(key)
        self._counted += 1
        if self._counted >= AGE_EVERY:
            self._counted = 0
            sketch.age()
        if sketch.estimate(key) < self.min_hits:
            return False
        return self._refreshed.get(key) != entry.response_time

    def started(self, key: str, entry: Entry) -> None:
        refreshed = self._refreshed
        if len(refreshed) >= MAX_REMEMBERED:
            refreshed.clear()  # forgetting only allows one more refresh of a key
        refreshed[key] = entry.response_time
