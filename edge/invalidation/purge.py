"""Purges: by URL, prefix, tag, everything; hard or soft; and RFC 9875 group invalidation.

A hard purge removes every Vary variant from every tier (``Store.remove``);
a soft purge marks each variant ``invalidated`` (``Store.update``), so the
policy never treats it as fresh again but may still serve it under
stale-while-revalidate / stale-if-error. Either way the purge is in effect
when the coroutine returns: the store calls have completed.

Inputs are all checked before anything is touched, so a request with one bad
URL purges nothing (:class:`edge.errors.BadPurge`, a 400).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import msgspec

from edge.clock import Clock
from edge.errors import BadPurge
from edge.models import Entry
from edge.policy.keys import normalize_host, normalize_url, url_of_key
from edge.store.index import CacheIndex, Ident, IndexedStore

KeyFor = Callable[[str, str, str], str]  # (scheme, host, target) -> primary key, current version


#: stored entries purged or marked per disk-tier thread call (each entry its own transaction)
MARK_BATCH = 256


@dataclass(frozen=True, slots=True)
class PurgeTargets:
    """Validated, normalised purge inputs."""

    urls: tuple[tuple[str, str, str], ...] = ()  # (scheme, host, target); host "" = every origin
    prefixes: tuple[str, ...] = ()  # absolute URL prefixes, or paths (every origin)
    tags: tuple[str, ...] = ()
    everything: bool = False


class Invalidator:
    def __init__(
        self,
        store: IndexedStore,
        index: CacheIndex,
        key_for: KeyFor,
        *,
        clock: Clock,
        default_scheme: str = "http",
        default_host: str | None = None,
    ) -> None:
        """``default_host`` None: a path purge applies to that path on every origin indexed."""
        self.clock = clock
        self.store = store
        self.index = index
        self.key_for = key_for
        self.default_scheme = default_scheme.lower()
        self.default_host = (
            normalize_host(self.default_scheme, default_host) if default_host else None
        )

    # -- validation ---------------------------------------------------------------
    def targets(
        self,
        urls: Iterable[str] = (),
        prefixes: Iterable[str] = (),
        tags: Iterable[str] = (),
        everything: bool = False,
    ) -> PurgeTargets:
        """Check and normalise every input; :class:`BadPurge` names the first bad one."""
        out_urls: list[tuple[str, str, str]] = []
        for url in urls:
            out_urls.append(self._split(url, "urls"))
        out_prefixes: list[str] = []
        for prefix in prefixes:
            scheme, host, target = self._split(prefix, "prefixes")
            out_prefixes.append(f"{scheme}://{host}{target}" if host else target)
        tag_list = list(tags)
        for tag in tag_list:
            if not tag or not tag.isprintable():
                raise BadPurge(f"tags: {tag!r} is not a tag (a non-empty printable string)")
        return PurgeTargets(tuple(out_urls), tuple(out_prefixes), tuple(tag_list), everything)

    def _split(self, text: str, field: str) -> tuple[str, str, str]:
        if not text.isprintable():
            raise BadPurge(f"{field}: {text!r} contains control characters")
        host = self.default_host or ""
        try:
            scheme, host, target = normalize_url(text, self.default_scheme, host)
        except ValueError as exc:
            raise BadPurge(f"{field}: {exc}") from None
        return scheme, host, target

    def url_prefixes(self, prefix: str) -> list[str]:
        """Absolute URL prefixes a prefix input stands for (a path: one per origin)."""
        (normalised,) = self.targets(prefixes=[prefix]).prefixes
        return self._prefix_urls(normalised)

    # -- purges -------------------------------------------------------------------
    async def purge(
        self,
        urls: Iterable[str] = (),
        prefixes: Iterable[str] = (),
        tags: Iterable[str] = (),
        all: bool = False,
        soft: bool = False,
    ) -> int:
        """Validate, then purge; returns how many stored entries (variants) were purged."""
        return await self.apply(self.targets(urls, prefixes, tags, all), soft=soft)

    async def apply(self, t: PurgeTargets, *, soft: bool = False) -> int:
        now = self.clock.now()
        if t.everything:
            self.store.tombstones.purged(now, everything=True)
            return await self._all(soft)
        keys: dict[str, None] = {}  # ordered, deduplicated
        for scheme, host, target in t.urls:
            for origin in self._origins(scheme, host):
                url = origin + target
                keys.update(dict.fromkeys(self.index.keys_for_url(url)))
                # also the current-version key, in case the index missed it (not yet rebuilt)
                o_scheme, _, o_host = origin.partition("://")
                keys[self.key_for(o_scheme, o_host, target)] = None
        url_prefixes = [u for p in t.prefixes for u in self._prefix_urls(p)]
        self.store.tombstones.purged(now, keys=keys, prefixes=url_prefixes, tags=t.tags)
        for url_prefix in url_prefixes:
            keys.update(dict.fromkeys(self.index.keys_with_prefix(url_prefix)))
        idents: dict[Ident, None] = {}
        for tag in t.tags:
            idents.update(dict.fromkeys(self.index.keys_with_tag(tag)))
        jobs: list[tuple[str, str | None]] = [(key, None) for key in keys]
        jobs += [(key, variant) for key, variant in idents if key not in keys]
        return await self._each(jobs, soft)

    async def invalidate_groups(
        self, groups: Sequence[str], *, origin: str, soft: bool = False
    ) -> int:
        """RFC 9875 §3 ``Cache-Group-Invalidation``: entries of ``origin`` in these groups.

        ``origin`` is ``scheme://host`` of the unsafe request's target: groups
        are scoped to an origin (§2), so a response cannot invalidate another
        origin's entries.
        """
        scheme, _, host = origin.partition("://")
        own = f"{scheme.lower()}://{normalize_host(scheme, host)}/"
        idents = {
            ident: None
            for group in groups
            for ident in self.index.keys_with_tag(group)
            if url_of_key(ident[0]).startswith(own)
        }
        self.store.tombstones.purged(self.clock.now(), keys=[key for key, _ in idents])
        return await self._each(list(idents), soft)

    # -- helpers ------------------------------------------------------------------
    def _origins(self, scheme: str, host: str) -> list[str]:
        if host:
            return [f"{scheme}://{host}"]
        return self.index.origins()  # a path and no default host: that path on every origin

    def _prefix_urls(self, prefix: str) -> list[str]:
        if not prefix.startswith("/"):
            return [prefix]
        return [origin + prefix for origin in self._origins(self.default_scheme, "")]

    async def _each(self, jobs: Sequence[tuple[str, str | None]], soft: bool) -> int:
        """Purge each ``(key, variant)``, ``MARK_BATCH`` of them per disk-tier thread call.

        One thread hop each, a prefix over thousands of entries took minutes under load
        (each hop waits behind the fills'); side by side they fight over SQLite's lock."""
        if soft:
            return await self._mark(jobs)
        purged = 0
        for i in range(0, len(jobs), MARK_BATCH):
            purged += await self.store.remove_many(jobs[i : i + MARK_BATCH])
        return purged

    async def _mark(self, jobs: Sequence[tuple[str, str | None]]) -> int:
        """A soft purge: every matching variant marked ``invalidated`` (stale from now)."""
        marked = 0
        for i in range(0, len(jobs), MARK_BATCH):
            batch = jobs[i : i + MARK_BATCH]
            todo: list[Entry] = []
            found = await self.store.variants_many([key for key, _ in batch])
            for (_, variant), entries in zip(batch, found, strict=True):
                for entry in entries:
                    if variant is not None and entry.variant != variant:
                        continue
                    marked += 1
                    if not entry.invalidated:
                        todo.append(msgspec.structs.replace(entry, invalidated=True))
            if todo:
                await self.store.update_many(todo)
        return marked

    async def _all(self, soft: bool) -> int:
        if not soft:
            return await self.store.remove_all()
        return await self._each([(key, None) for key in self.index.all_keys()], True)
