"""A plain in-memory store, bounded by object count: for tests and tiny set-ups.

The tiered store (memory over disk) is what a node runs; this one exists so the
engine can be exercised against the smallest thing that honours ``Store``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from edge.models import BodySource, BytesBody, Entry
from edge.store.base import SpooledBody


class SimpleMemoryStore:
    def __init__(self, max_objects: int = 10_000) -> None:
        self._max = max_objects
        self._items: OrderedDict[tuple[str, str], tuple[Entry, bytes]] = OrderedDict()
        self._variants: dict[str, list[str]] = {}

    async def variants(self, key: str) -> Sequence[Entry]:
        return [self._items[(key, v)][0] for v in self._variants.get(key, ())]

    async def open_body(self, entry: Entry) -> BodySource | None:
        item = self._items.get((entry.key, entry.variant))
        if item is None:
            return None
        self._items.move_to_end((entry.key, entry.variant))
        return BytesBody(item[1])

    async def put(self, entry: Entry, body: SpooledBody) -> bool:
        if body.data is None:
            body.discard()
            return False
        ident = (entry.key, entry.variant)
        if ident not in self._items:
            self._variants.setdefault(entry.key, []).append(entry.variant)
        self._items[ident] = (entry, body.data)
        self._items.move_to_end(ident)
        while len(self._items) > self._max:
            (key, variant), _ = self._items.popitem(last=False)
            self._forget(key, variant)
        return True

    async def update(self, entry: Entry) -> None:
        ident = (entry.key, entry.variant)
        item = self._items.get(ident)
        if item is not None:
            self._items[ident] = (entry, item[1])

    async def remove(self, key: str, variant: str | None = None) -> int:
        names = list(self._variants.get(key, ())) if variant is None else [variant]
        removed = 0
        for v in names:
            if self._items.pop((key, v), None) is not None:
                removed += 1
                self._forget(key, v)
        return removed

    def _forget(self, key: str, variant: str) -> None:
        names = self._variants.get(key)
        if names is not None and variant in names:
            names.remove(variant)
            if not names:
                del self._variants[key]
