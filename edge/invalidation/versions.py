"""Prefix versions for versioned invalidation, persisted to ``<cache-dir>/versions.json``.

Bumping a prefix's version changes the primary key of everything under it,
so the old entries become unreachable at once, without scanning the cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

from edge.errors import VersionPersistError

log = logging.getLogger("edge.index")


class VersionTable:
    """Prefix → version, for versioned invalidation.

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
