"""Purge tombstones: a fill that began before a purge is not stored after it.

:class:`~edge.store.index.IndexedStore` asks :meth:`Tombstones.refuses` on
every ``put`` and ``update``; the :class:`~edge.invalidation.purge.Invalidator`
records each purge with :meth:`Tombstones.purged`.
"""

from __future__ import annotations

from collections.abc import Iterable

from edge.models import Entry
from edge.policy.keys import url_of_key


class Tombstones:
    """When things were purged, so a fill that began before the purge is not stored after it.

    A fill sends its request, the purge runs, then the fill completes and
    calls ``put``: without this the purged content would come back. An entry
    whose ``request_time`` is earlier than a matching purge is refused. Kept
    for ``keep`` seconds (longer fills lose the protection) and at most
    ``max_prefixes`` prefix and tag purges (the oldest are forgotten first).
    """

    def __init__(self, keep: float = 3600.0, max_prefixes: int = 1024) -> None:
        self.keep = keep
        self.max_prefixes = max_prefixes
        self._keys: dict[str, float] = {}
        self._prefixes: dict[str, float] = {}
        self._tags: dict[str, float] = {}
        self._all = float("-inf")

    def purged(
        self,
        now: float,
        *,
        keys: Iterable[str] = (),
        prefixes: Iterable[str] = (),
        tags: Iterable[str] = (),
        everything: bool = False,
    ) -> None:
        self._prune(now)
        if everything:
            self._all = now
        for key in keys:
            self._keys[key] = now
        for table, names in ((self._prefixes, prefixes), (self._tags, tags)):
            for name in names:
                table.pop(name, None)  # re-inserted last: dicts keep insertion order
                table[name] = now
                if len(table) > self.max_prefixes:
                    del table[next(iter(table))]

    def refuses(self, entry: Entry) -> bool:
        return self.refuses_fill(entry.key, entry.tags, entry.request_time)

    def refuses_fill(self, key: str, tags: Iterable[str], request_time: float) -> bool:
        """Would a response to a request for ``key`` sent at ``request_time`` be refused?"""
        t = request_time
        if t < self._all or t < self._keys.get(key, float("-inf")):
            return True
        if any(t < self._tags.get(tag, float("-inf")) for tag in tags):
            return True
        if self._prefixes:
            url = url_of_key(key)
            return any(t < when and url.startswith(p) for p, when in self._prefixes.items())
        return False

    def _prune(self, now: float) -> None:
        horizon = now - self.keep
        for table in (self._keys, self._prefixes, self._tags):
            for name in [n for n, when in table.items() if when < horizon]:
                del table[name]
