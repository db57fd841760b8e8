"""What the cache holds, indexed for purge; and the prefix versions.

* :class:`CacheIndex` maps URLs (sorted, so a prefix is a range query), tags
  and origins to the stored keys, so a purge never scans the cache.
* :class:`IndexedStore` wraps any :class:`~edge.store.base.Store` and keeps
  the index in step with ``put``/``update``/``remove``.
* :class:`VersionTable` holds prefix → version for versioned invalidation,
  persisted to ``<cache-dir>/versions.json``.

The index is a superset of the store: a tier may evict without telling it.
That is harmless (purging a gone key removes nothing) and self-healing (a
lookup that finds nothing drops the key; see :meth:`IndexedStore.variants`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterable, Iterable, Iterator, Sequence
from typing import Any

import msgspec
from sortedcontainers import SortedDict

from edge.models import BodySource, Entry
from edge.policy.keys import url_of_key
from edge.store.base import SpooledBody, Store

log = logging.getLogger("edge.index")

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
        t = entry.request_time
        if t < self._all or t < self._keys.get(entry.key, float("-inf")):
            return True
        if any(t < self._tags.get(tag, float("-inf")) for tag in entry.tags):
            return True
        if self._prefixes:
            url = url_of_key(entry.key)
            return any(t < when and url.startswith(p) for p, when in self._prefixes.items())
        return False

    def _prune(self, now: float) -> None:
        horizon = now - self.keep
        for table in (self._keys, self._prefixes, self._tags):
            for name in [n for n, when in table.items() if when < horizon]:
                del table[name]


class IndexedStore:
    """A :class:`Store` that keeps a :class:`CacheIndex` in step with the inner store.

    Optional capabilities of the inner store are passed through explicitly:
    ``remove_all``, ``stats``, ``tier_of``, ``lookup_sync``, ``spool_dir``,
    ``close``, and ``iter_entries`` (the disk tier's metadata, for
    :meth:`rebuild`).
    """

    def __init__(
        self, inner: Store, index: CacheIndex, tombstones: Tombstones | None = None
    ) -> None:
        self.inner = inner
        self.index = index
        self.tombstones = tombstones or Tombstones()

    # -- Store protocol -------------------------------------------------------
    async def variants(self, key: str) -> Sequence[Entry]:
        found = await self.inner.variants(key)
        if not found and key in self.index:
            self.index.discard(key)  # evicted behind our back
        for entry in found:
            # stored by another process sharing the disk tier (a worker, or this node
            # before a restart): index it now, before it can be promoted and served
            if not self.index.has(entry.key, entry.variant):
                self.index.add(entry)
        return found

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
        if not entry.invalidated and self.tombstones.refuses(entry):
            # freshened by a 304 to a request sent before a (soft) purge: stays stale
            entry = msgspec.structs.replace(entry, invalidated=True)
        await self.inner.update(entry)
        if self.index.has(entry.key, entry.variant):
            self.index.add(entry)  # tags may change on freshening

    async def remove(self, key: str, variant: str | None = None) -> int:
        removed = await self.inner.remove(key, variant)
        self.index.discard(key, variant)
        return removed

    # -- pass-through extras ------------------------------------------------------
    async def remove_all(self) -> int:
        """Empty every tier. Uses the inner store's ``remove_all`` when it has one."""
        inner_remove_all = getattr(self.inner, "remove_all", None)
        if inner_remove_all is not None:
            count = int(await inner_remove_all())
        else:
            count = 0
            for key in self.index.all_keys():
                count += await self.inner.remove(key)
        self.index.clear()
        return count

    def stats(self) -> dict[str, int | float | bool | str]:
        inner_stats = getattr(self.inner, "stats", None)
        out: dict[str, int | float | bool | str] = dict(inner_stats()) if inner_stats else {}
        out["indexed_entries"] = len(self.index)
        return out

    def tier_of(self, entry: Entry) -> str | None:
        inner_tier_of = getattr(self.inner, "tier_of", None)
        return str(inner_tier_of(entry)) if inner_tier_of is not None else None

    def body_sync(self, entry: Entry) -> bytes | None:
        inner_body = getattr(self.inner, "body_sync", None)
        if inner_body is None:
            return None
        body: bytes | None = inner_body(entry)
        return body

    def lookup_sync(self, key: str) -> Sequence[Entry] | None:
        inner_lookup = getattr(self.inner, "lookup_sync", None)
        if inner_lookup is None:
            return None
        found: Sequence[Entry] | None = inner_lookup(key)
        return found

    @property
    def spool_dir(self) -> str | None:
        spool: str | None = getattr(self.inner, "spool_dir", None)
        return spool

    async def close(self) -> None:
        inner_close = getattr(self.inner, "close", None)
        if inner_close is not None:
            await inner_close()

    async def rebuild(self, entries: AsyncIterable[Entry] | None = None) -> int:
        """Index ``entries`` (default: the inner store's ``iter_entries()``); returns the count.

        A node restarted on its cache dir calls this before serving, so what
        the disk tier kept can be purged by prefix and tag.
        """
        if entries is None:
            iter_entries = getattr(self.inner, "iter_entries", None)
            if iter_entries is None:
                return 0
            entries = iter_entries()
        assert entries is not None
        count = 0
        async for entry in entries:
            self.index.add(entry)
            count += 1
        return count


class VersionPersistError(Exception):
    """The version table could not be written; the bump holds in memory only."""


class VersionTable:
    """Prefix → version, for versioned invalidation (DESIGN.md §4).

    :meth:`version_for` runs on every request: it tries each distinct prefix
    length, longest first, with one dict lookup each, so its cost depends on
    how many lengths are configured, never on the number of entries.
    """

    def __init__(self, path: str | None, versions: dict[str, int] | None = None) -> None:
        self.path = path
        self._versions: dict[str, int] = dict(versions or {})
        self._lengths: tuple[int, ...] = ()
        self._lock = asyncio.Lock()
        self._reindex()

    @classmethod
    def load(cls, path: str) -> VersionTable:
        """Read ``path`` (a missing file is an empty table). Blocking: call at start-up."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise VersionPersistError(f"cannot read the version table {path}: {exc}") from exc
        raw = data.get("versions") if isinstance(data, dict) else None
        if not isinstance(raw, dict):
            raise VersionPersistError(f'{path}: expected {{"versions": {{prefix: n}}}}')
        versions = {
            p: v
            for p, v in raw.items()
            if isinstance(p, str) and isinstance(v, int) and not isinstance(v, bool)
        }
        return cls(path, versions)

    @classmethod
    async def open(cls, cache_dir: str) -> VersionTable:
        return await asyncio.to_thread(cls.load, os.path.join(cache_dir, "versions.json"))

    def version_for(self, path: str) -> int:
        """The version of the longest bumped prefix of ``path``; 0 when none matches."""
        versions = self._versions
        n = len(path)
        for length in self._lengths:
            if length <= n:
                v = versions.get(path[:length])
                if v is not None:
                    return v
        return 0

    def get(self, prefix: str) -> int:
        return self._versions.get(prefix, 0)

    def snapshot(self) -> dict[str, int]:
        return dict(self._versions)

    def __len__(self) -> int:
        return len(self._versions)

    async def bump(self, prefix: str) -> int:
        """Make everything under ``prefix`` unreachable at once: O(1), then persisted."""
        version = self._versions.get(prefix, 0) + 1
        self._set(prefix, version)
        await self._persist()
        return version

    async def apply(self, prefix: str, version: int) -> int:
        """Adopt a version learnt elsewhere (cluster replication): the larger wins."""
        current = self._versions.get(prefix, 0)
        if version > current:
            self._set(prefix, version)
            await self._persist()
            return version
        return current

    def _set(self, prefix: str, version: int) -> None:
        is_new = prefix not in self._versions
        self._versions[prefix] = version
        if is_new:
            self._reindex()

    def _reindex(self) -> None:
        # swapped in whole: a reader never sees a half-built tuple
        self._lengths = tuple(sorted({len(p) for p in self._versions}, reverse=True))

    async def _persist(self) -> None:
        if self.path is None:
            return
        async with self._lock:  # the snapshot taken last is the one written last
            data = {"versions": self.snapshot()}
            try:
                await asyncio.to_thread(_atomic_write_json, self.path, data)
            except OSError as exc:
                log.error("version table not persisted to %s: %s", self.path, exc)
                raise VersionPersistError(
                    f"the version was bumped in memory but {self.path} could not be written: "
                    f"{exc}; it will be lost on restart"
                ) from exc


def _atomic_write_json(path: str, data: object) -> None:
    """Write, fsync, rename, fsync the directory: a crash leaves the old or the new file."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
