"""How the disk tier lays out rows: the diskcache ``Disk`` subclass and its record types.

Rows (diskcache keys are strings, values never pickled):

* ``"i\\0<key>"`` -> msgpack list of the variant names of a primary key (tag ``"i"``);
* ``"v\\0<key>\\0<variant>"`` -> a body file plus the msgpack ``Entry`` in the
  row's value column (tag ``"v"``), written by :class:`EdgeDisk`.

``EdgeDisk.store`` renames the spool into the file diskcache would have
written and returns diskcache's own ``(size, mode, filename, value)``, so
diskcache's size accounting and LRU culling cover the body files.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from typing import Any

import diskcache
import msgspec

from edge.models import Entry

log = logging.getLogger("edge.store")


class Record:
    """A variant row to write: metadata plus the body file to move (or link) in."""

    __slots__ = ("meta", "source", "link", "filename")

    def __init__(self, meta: bytes, source: str, link: bool = False) -> None:
        self.meta = meta
        self.source = source
        self.link = link  # hard-link (metadata update) instead of rename
        self.filename: str | None = None  # set once the file is in place


class Row:
    """A variant row read back: raw metadata and the body file's relative name."""

    __slots__ = ("meta", "filename")

    def __init__(self, meta: bytes, filename: str) -> None:
        self.meta = meta
        self.filename = filename


class EdgeDisk(diskcache.Disk):  # type: ignore[misc]
    place: Callable[[str, str, bool], int]  # set by DiskTier: (source, dest, link) -> size

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if isinstance(value, Record):
            filename, full_path = self.filename(key, value)
            os.makedirs(os.path.dirname(full_path), exist_ok=True)
            size = self.place(value.source, full_path, value.link)
            value.filename = filename
            return size, diskcache.core.MODE_BINARY, filename, sqlite3.Binary(value.meta)
        return super().store(value, read, key)

    def fetch(self, mode: int, filename: str, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_BINARY and value is not None:
            return Row(bytes(value), filename)
        return super().fetch(mode, filename, value, read)


def index_key(key: str) -> str:
    return "i\0" + key


def variant_key(key: str, variant: str) -> str:
    return f"v\0{key}\0{variant}"


class RowCodec:
    """Rows' metadata in and out (msgpack), the check that a row's body file is whole, and
    the variant index rows (read, written, pruned of variants found broken)."""

    def __init__(self, data_dir: str) -> None:
        self._data_dir = data_dir
        self.encode = msgspec.msgpack.Encoder().encode
        self._entry = msgspec.msgpack.Decoder(Entry)
        self.names = msgspec.msgpack.Decoder(list[str])

    def decode(self, row: object) -> Entry | None:
        if not isinstance(row, Row):
            return None
        try:
            return self._entry.decode(row.meta)
        except msgspec.DecodeError:
            return None

    def checked(self, row: object) -> Entry | None:
        """The row's entry if its metadata decodes and its body file is whole."""
        entry = self.decode(row)
        if entry is None or not isinstance(row, Row):
            return None
        try:
            size = os.stat(os.path.join(self._data_dir, row.filename)).st_size
        except FileNotFoundError:
            return None
        return entry if size == entry.body_size else None

    def read_index(self, cache: Any, key: str) -> list[str]:
        """The variant names of ``key``; a corrupt index row is dropped (a miss)."""
        raw = cache.get(index_key(key))
        if raw is None:
            return []
        try:
            return self.names.decode(raw)
        except (msgspec.DecodeError, TypeError):
            log.warning("dropping corrupt variant index of %r", key)
            cache.delete(index_key(key))
            return []

    def write_index(self, cache: Any, key: str, names: list[str]) -> None:
        """Store the variant names of ``key``; none left removes its index row."""
        if names:
            cache.set(index_key(key), self.encode(names), tag="i")
        else:
            cache.delete(index_key(key))

    def prune(self, cache: Any, key: str, gone: list[str]) -> None:
        """Drop variants found missing or broken, re-checked under the write lock."""
        with cache.transact():
            names = self.read_index(cache, key)
            for name in gone:
                vkey = variant_key(key, name)
                if self.checked(cache.get(vkey)) is None:
                    cache.delete(vkey)
                    if name in names:
                        names.remove(name)
            self.write_index(cache, key, names)

    def every_entry(self, cache: Any) -> list[Entry]:
        """Every variant row's entry, read straight from SQLite (a ``get`` would touch
        each row's access time and scramble the LRU order)."""
        entries: list[Entry] = []
        disk = cache.disk
        rows = cache._sql("SELECT key, raw, mode, filename, value FROM Cache").fetchall()
        for db_key, raw, mode, filename, value in rows:
            key = disk.get(db_key, raw)
            if not isinstance(key, str) or not key.startswith("v\0"):
                continue
            entry = self.decode(disk.fetch(mode, filename, value, False))
            if entry is not None:
                entries.append(entry)
        return entries
