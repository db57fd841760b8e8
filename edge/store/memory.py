"""The memory tier: hot entries and their bodies, inside a strict byte budget.

Every object is charged its body length plus an estimate of its metadata
(:func:`charge_of`), and the sum of the charges never exceeds ``max_bytes``:
every byte counts against the budget. Eviction is delegated to an
:class:`edge.store.eviction.EvictionPolicy` keyed by ``(key, variant)``.

Everything here is synchronous and cheap (the hit path); the ``async``
methods only satisfy :class:`edge.store.base.Store`. ``get_sync`` and
``body_sync`` are the engine's fast path.

A key is *partial* when the memory may hold only some of its variants (one
was evicted or refused while others stayed, or a variant was promoted from
disk alone): the tiered store then asks the disk too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from edge.models import BodySource, BytesBody, Entry
from edge.store.base import SpooledBody
from edge.store.eviction import EvictionPolicy, make_policy

# Python object overhead of one stored object: the Entry struct, its strings,
# the slot, dict entries and the policy's bookkeeping. Measured with
# sys.getsizeof on typical entries, rounded up.
OBJECT_OVERHEAD = 400
HEADER_OVERHEAD = 120  # one (name, value) tuple and its two str objects

Slot = tuple[str, str]  # (key, variant)


def charge_of(entry: Entry, body_len: int) -> int:
    """Bytes charged against the budget for ``entry`` with a body of ``body_len``."""
    meta = len(entry.key) + len(entry.variant) + len(entry.url) + len(entry.reason)
    for name, value in entry.headers:
        meta += len(name) + len(value) + HEADER_OVERHEAD
    for text in entry.vary:
        meta += len(text)
    for text in entry.tags:
        meta += len(text)
    meta += len(entry.etag or "") + len(entry.last_modified or "") + len(entry.targeted or "")
    meta += 16 * len(entry.parts)  # a stored 206's byte ranges
    return body_len + meta + OBJECT_OVERHEAD


def same_body(a: Entry, b: Entry) -> bool:
    """Whether ``a`` and ``b`` describe the same stored body (a put replaces it)."""
    return a.body_size == b.body_size and a.stored_at == b.stored_at


@dataclass(slots=True)
class _Object:
    entry: Entry
    body: bytes
    charge: int


class MemoryTier:
    def __init__(
        self,
        max_bytes: int,
        max_object_bytes: int,
        policy: str = "wtinylfu",
        max_variants: int = 32,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_object_bytes = max_object_bytes
        self.max_variants = max_variants
        self._objects: dict[str, dict[str, _Object]] = {}
        self._partial: set[str] = set()
        self._policy: EvictionPolicy[Slot] = make_policy(policy, max_bytes, self._evicted)
        self.refused = 0  # objects the admission policy kept out (they stay on disk)
        self.admitted = 0  # objects put in (a replaced version counts again)

    # -- sync fast path -------------------------------------------------

    def admits(self, size: int) -> bool:
        """Whether a body of ``size`` bytes may be held here at all."""
        return size <= self.max_object_bytes and size + OBJECT_OVERHEAD <= self.max_bytes

    def get_sync(self, key: str) -> list[Entry]:
        """The variants held for ``key``; each counts as a request for eviction."""
        variants = self._objects.get(key)
        if not variants:
            return []
        access = self._policy.access
        for variant in variants:
            access((key, variant))
        return [obj.entry for obj in variants.values()]

    def body_sync(self, entry: Entry) -> bytes | None:
        obj = self._objects.get(entry.key, {}).get(entry.variant)
        if obj is None or not same_body(obj.entry, entry):
            return None
        return obj.body

    async def admitted_bytes(self, body: SpooledBody) -> bytes | None:
        """``body`` as bytes when this tier admits its size (a spool file is read in a
        thread), else None; the spool file stays where it is."""
        if body.data is not None:
            return body.data
        if body.path is None or not self.admits(body.size):
            return None
        return await asyncio.to_thread(_read_file, body.path)

    def is_partial(self, key: str) -> bool:
        return key in self._partial

    def holds_key(self, key: str) -> bool:
        return key in self._objects

    def put_sync(self, entry: Entry, body: bytes, *, partial: bool = False) -> bool:
        """Hold ``entry`` with ``body``, replacing the same variant. False if refused.

        ``partial`` says the caller knows of other variants not held here.
        """
        key, variant = entry.key, entry.variant
        charge = charge_of(entry, len(body))
        if len(body) > self.max_object_bytes or charge > self.max_bytes:
            self.drop_variant(key, variant)  # never keep the replaced version
            return False
        variants = self._objects.setdefault(key, {})
        if variant not in variants and len(variants) >= self.max_variants:
            self._forget(key, next(iter(variants)))  # the oldest variant
            variants = self._objects.setdefault(key, {})
            partial = True
        variants[variant] = _Object(entry, body, charge)
        if partial:
            self._partial.add(key)
        # The slot is in place first: insert() may evict it again (resize case).
        if self._policy.insert((key, variant), charge):
            self.admitted += 1
            return True
        self.drop_variant(key, variant)  # refused by admission (wtinylfu): disk may keep it
        self.refused += 1
        return False

    def update_sync(self, entry: Entry) -> bool:
        """Replace the metadata of a held variant, keeping its body."""
        obj = self._objects.get(entry.key, {}).get(entry.variant)
        if obj is None or obj.entry.body_size != entry.body_size:
            return False
        obj.entry = entry
        obj.charge = charge_of(entry, len(obj.body))
        if not self._policy.insert((entry.key, entry.variant), obj.charge):
            self._forget(entry.key, entry.variant)
            return False
        return True

    def drop_variant(self, key: str, variant: str) -> None:
        """Forget a variant that may live on elsewhere (on disk): the key becomes partial."""
        self._forget(key, variant)
        if key in self._objects:
            self._partial.add(key)

    def remove_sync(self, key: str, variant: str | None = None) -> set[str]:
        """Remove one variant or all; returns the variants removed."""
        variants = self._objects.get(key)
        if not variants:
            return set()
        names = set(variants) if variant is None else {variant} & set(variants)
        for name in names:
            self._forget(key, name)
        return names

    def clear(self) -> int:
        count = self.object_count
        for key in list(self._objects):
            self.remove_sync(key)
        self._partial.clear()
        return count

    @property
    def used_bytes(self) -> int:
        return self._policy.used

    @property
    def object_count(self) -> int:
        return sum(len(v) for v in self._objects.values())

    @property
    def evictions(self) -> int:
        return self._policy.evictions

    def _forget(self, key: str, variant: str) -> None:
        self._policy.remove((key, variant))
        self._discard(key, variant)

    def _evicted(self, slot: Slot) -> None:
        key, variant = slot
        self._discard(key, variant)
        if key in self._objects:
            self._partial.add(key)

    def _discard(self, key: str, variant: str) -> None:
        variants = self._objects.get(key)
        if variants is None:
            return
        variants.pop(variant, None)
        if not variants:
            del self._objects[key]
            self._partial.discard(key)

    # -- Store protocol -------------------------------------------------

    async def variants(self, key: str) -> Sequence[Entry]:
        return self.get_sync(key)

    async def open_body(self, entry: Entry) -> BodySource | None:
        body = self.body_sync(entry)
        return None if body is None else BytesBody(body)

    async def put(self, entry: Entry, body: SpooledBody) -> bool:
        data = await self.admitted_bytes(body)
        body.discard()
        if data is None:
            self.remove_sync(entry.key, entry.variant)
            return False
        return self.put_sync(entry, data)

    async def update(self, entry: Entry) -> None:
        self.update_sync(entry)

    async def remove(self, key: str, variant: str | None = None) -> int:
        return len(self.remove_sync(key, variant))


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
