"""What the cache holds, indexed for purge.

* :class:`CacheIndex` maps URLs (sorted, so a prefix is a range query), tags
  and origins to the stored keys, so a purge never scans the cache.
* :class:`IndexedStore` wraps a :class:`~edge.store.base.CacheStore` and keeps
  the index in step with ``put``/``update``/``remove``, refusing what a purge's
  :class:`~edge.invalidation.tombstones.Tombstones` cover.

The prefix versions live in :mod:`edge.invalidation.versions`.

The index is a superset of the store: a tier may evict without telling it.
That is harmless (purging a gone key removes nothing) and self-healing (a
lookup that finds nothing drops the key; see :meth:`IndexedStore.variants`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from typing import Any

import msgspec
from sortedcontainers import SortedDict

from edge.invalidation.tombstones import Tombstones
from edge.models import BodySource, Entry, FileBody
from edge.policy.keys import url_of_key
from edge.store.base import CacheStore, SpooledBody, StatValue

Ident = tuple[str, str]  # (primary key, variant)


def origin_of_url(url: str) -> str:
    """``scheme://host`` of a normalised absolute URL."""
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.split("/", 1)[0]


class CacheIndex:
    """URL, tag and origin → stored keys. Every method is O(log n) or O(answer)."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, tuple[str, ...]]] = {}  # key -> variant -> tags
        self._urls: Any = SortedDict()  # url -> set of keys (one per version)
        self._tags: dict[str, set[Ident]] = {}
        self._origins: Counter[str] = Counter()
        self._count = 0

    def __len__(self) -> int:
        """How many (key, variant) entries are indexed."""
        return self._count

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, entry: Entry) -> None:
        """Index ``entry`` (replacing the same key and variant)."""
        key, variant = entry.key, entry.variant
        variants = self._keys.get(key)
        if variants is None:
            variants = self._keys[key] = {}
            url = url_of_key(key)
            keys: set[str] | None = self._urls.get(url)
            if keys is None:
                self._urls[url] = {key}
            else:
                keys.add(key)
            self._origins[origin_of_url(url)] += 1
        old = variants.get(variant)
        if old is None:
            self._count += 1
        else:
            self._untag(key, variant, old)
        variants[variant] = entry.tags
        for tag in entry.tags:
            self._tags.setdefault(tag, set()).add((key, variant))

    def has(self, key: str, variant: str) -> bool:
        variants = self._keys.get(key)
        return variants is not None and variant in variants

    def discard(self, key: str, variant: str | None = None) -> None:
        """Forget one variant of ``key``, or the whole key when ``variant`` is None."""
        variants = self._keys.get(key)
        if variants is None:
            return
        names = list(variants) if variant is None else [variant]
        for name in names:
            tags = variants.pop(name, None)
            if tags is not None:
                self._count -= 1
                self._untag(key, name, tags)
        if variants:
            return
        del self._keys[key]
        url = url_of_key(key)
        keys: set[str] | None = self._urls.get(url)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._urls[url]
        origin = origin_of_url(url)
        self._origins[origin] -= 1
        if self._origins[origin] <= 0:
            del self._origins[origin]

    def clear(self) -> None:
        self._keys.clear()
        self._urls.clear()
        self._tags.clear()
        self._origins.clear()
        self._count = 0

    def keys_for_url(self, url: str) -> set[str]:
        """Keys (every version) stored for one normalised absolute URL."""
        return set(self._urls.get(url, ()))

    def keys_with_prefix(self, url_prefix: str) -> list[str]:
        """Keys whose URL starts with ``url_prefix``: a range query on the sorted URLs."""
        out: list[str] = []
        for url in self._urls.irange(minimum=url_prefix):
            if not url.startswith(url_prefix):
                break
            out.extend(self._urls[url])
        return out

    def urls_with_prefix(self, url_prefix: str) -> Iterator[str]:
        """URLs starting with ``url_prefix``, in order (lazily: for bounded listings)."""
        for url in self._urls.irange(minimum=url_prefix):
            if not url.startswith(url_prefix):
                return
            yield url

    def keys_with_tag(self, tag: str) -> list[Ident]:
        """(key, variant) of every entry carrying exactly ``tag`` (no prefix matching)."""
        return list(self._tags.get(tag, ()))

    def all_keys(self) -> list[str]:
        return list(self._keys)

    def origins(self) -> list[str]:
        """Every ``scheme://host`` with something indexed (path purges without a default host)."""
        return list(self._origins)

    def _untag(self, key: str, variant: str, tags: tuple[str, ...]) -> None:
        for tag in tags:
            idents = self._tags.get(tag)
            if idents is not None:
                idents.discard((key, variant))
                if not idents:
                    del self._tags[tag]


class IndexedStore:
    """A :class:`CacheStore` that keeps a :class:`CacheIndex` in step with the inner store."""

    def __init__(
        self, inner: CacheStore, index: CacheIndex, tombstones: Tombstones | None = None
    ) -> None:
        self.inner = inner
        self.index = index
        self.tombstones = tombstones or Tombstones()

    # -- Store protocol -------------------------------------------------------
    async def variants(self, key: str) -> Sequence[Entry]:
        found = await self.inner.variants(key)
        self._reconcile(key, found)
        return found

    def _reconcile(self, key: str, found: Sequence[Entry]) -> None:
        if not found and key in self.index:
            self.index.discard(key)  # evicted behind our back
        for entry in found:
            # stored by another process sharing the disk tier (a worker, or this node
            # before a restart): index it now, before it can be promoted and served
            if not self.index.has(entry.key, entry.variant):
                self.index.add(entry)

    async def variants_many(self, keys: Sequence[str]) -> list[Sequence[Entry]]:
        """:meth:`variants` of each key, the disk tier's reads in one thread call."""
        found = await self.inner.variants_many(keys)
        for key, entries in zip(keys, found, strict=True):
            self._reconcile(key, entries)
        return list(found)

    async def open_body(self, entry: Entry) -> BodySource | None:
        return await self.inner.open_body(entry)

    async def put(self, entry: Entry, body: SpooledBody) -> bool:
        if self.tombstones.refuses(entry):
            body.discard()  # fetched before a purge that covers it
            return False
        # Indexed before the commit: memory serves it while the disk write is awaited,
        # and a purge in that window must find it (and leave a tombstone for it).
        self.index.add(entry)
        stored = await self.inner.put(entry, body)
        if stored and self.tombstones.refuses(entry):
            # a purge ran while the commit was in flight (the disk write is awaited) and
            # could not see the entry yet: undo the commit rather than serve purged content
            await self.inner.remove(entry.key, entry.variant)
            stored = False
        # not stored: the index entry stays; a tier may still hold an old copy, and an
        # index entry for something gone only costs a no-op at purge time
        return stored

    async def update(self, entry: Entry) -> None:
        entry = self._stale_if_purged(entry)
        await self.inner.update(entry)
        self._reindex(entry)

    async def remove_many(self, jobs: Sequence[tuple[str, str | None]]) -> int:
        """:meth:`remove` for each ``(key, variant)``, the disk tier's in one thread call."""
        removed = await self.inner.remove_many(jobs)
        for key, variant in jobs:
            self.index.discard(key, variant)
        return removed

    async def update_many(self, entries: Sequence[Entry]) -> None:
        """:meth:`update` for each of ``entries``, the disk tier's rows in one thread call."""
        checked = [self._stale_if_purged(entry) for entry in entries]
        await self.inner.update_many(checked)
        for entry in checked:
            self._reindex(entry)

    def _stale_if_purged(self, entry: Entry) -> Entry:
        if not entry.invalidated and self.tombstones.refuses(entry):
            # freshened by a 304 to a request sent before a (soft) purge: stays stale
            return msgspec.structs.replace(entry, invalidated=True)
        return entry

    def _reindex(self, entry: Entry) -> None:
        if self.index.has(entry.key, entry.variant):
            self.index.add(entry)  # tags may change on freshening

    async def remove(self, key: str, variant: str | None = None) -> int:
        removed = await self.inner.remove(key, variant)
        self.index.discard(key, variant)
        return removed

    # -- the hit path's shortcut, passed through ----------------------------------
    def lookup_sync(self, key: str) -> Sequence[Entry] | None:
        return self.inner.lookup_sync(key)

    def body_sync(self, entry: Entry) -> bytes | None:
        return self.inner.body_sync(entry)

    def tier_of(self, entry: Entry) -> str | None:
        return self.inner.tier_of(entry)

    def file_sync(self, entry: Entry) -> FileBody | None:
        return self.inner.file_sync(entry)

    # -- maintenance ----------------------------------------------------------------
    def iter_entries(self) -> AsyncIterator[Entry]:
        return self.inner.iter_entries()

    async def remove_all(self) -> int:
        """Empty every tier and the index."""
        count = await self.inner.remove_all()
        self.index.clear()
        return count

    def stats(self) -> dict[str, StatValue]:
        out = dict(self.inner.stats())
        out["indexed_entries"] = len(self.index)
        return out

    @property
    def spool_dir(self) -> str | None:
        return self.inner.spool_dir

    async def close(self) -> None:
        await self.inner.close()

    async def rebuild(self, entries: AsyncIterable[Entry] | None = None) -> int:
        """Index ``entries`` (default: the inner store's ``iter_entries()``); returns the count.

        A node restarted on its cache dir calls this before serving, so what
        the disk tier kept can be purged by prefix and tag.
        """
        count = 0
        async for entry in self.inner.iter_entries() if entries is None else entries:
            self.index.add(entry)
            count += 1
        return count
