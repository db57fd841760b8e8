"""The disk tier's health: degrade to memory-only on a fatal error, probe, recover.

:class:`~edge.store.disk.DiskTier` mixes this in. A directory that cannot be opened or a
write failing with ENOSPC, EIO, EROFS, ENOTDIR or a permission error marks the tier
``degraded`` (an ERROR in the log, ``degraded`` and ``degraded_reason`` in its stats); at
most every ``RECOVERY_INTERVAL`` seconds of the node's clock the next call probes the
directory (a body file written and placed as a put does, the diskcache reopened) and
the tier serves again when that works.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

from edge.clock import Clock
from edge.store.disk_files import probe_directory
from edge.store.disk_held import HeldRows

log = logging.getLogger("edge.store")

RECOVERY_INTERVAL = 5.0  # seconds between two probes of a degraded disk tier


class Recovery:
    """Degraded state and the probe; the tier provides the directory and its cache."""

    directory: str
    spool_dir: str
    data_dir: str
    degraded: bool
    degraded_reason: str
    recoveries: int
    held: HeldRows
    _next_probe: float
    _probing: bool
    _clock: Clock
    _cache: Any

    def _open_cache_sync(self) -> None:
        raise NotImplementedError

    def _place_body(self, source: str, dest: str, link: bool) -> int:
        raise NotImplementedError

    def _degrade(self, what: str, exc: BaseException) -> None:
        if not self.degraded:
            log.error("disk tier degraded to memory-only: %s: %s", what, exc)
            self._next_probe = self._clock.now() + RECOVERY_INTERVAL
        self.degraded = True
        self.degraded_reason = f"{what}: {exc}"
        self.held.clear()

    # -- recovery -------------------------------------------------------

    async def _recover_if_due(self) -> None:
        """Probe a degraded tier when the interval is up (one probe at a time)."""
        now = self._clock.now()
        if self._probing or now < self._next_probe:
            return
        self._probing = True
        self._next_probe = now + RECOVERY_INTERVAL
        try:
            await asyncio.to_thread(self._probe_sync)
        except (OSError, sqlite3.Error) as exc:
            self.degraded_reason = f"still failing: {exc}"
            log.debug("disk tier still degraded: %s", exc)
        else:
            self.degraded = False
            self.degraded_reason = ""
            self.recoveries += 1
            log.warning("disk tier recovered: %s serves again", self.directory)
        finally:
            self._probing = False

    def _probe_sync(self) -> None:
        """Write a body file the way a put does, then reopen the diskcache on the directory."""
        probe_directory(self.spool_dir, self.data_dir, self._place_body)
        old, self._cache = self._cache, None
        if old is not None:
            try:
                old.close()
            except (OSError, sqlite3.Error):
                pass  # its directory may be gone: a new one is opened below
        self._open_cache_sync()
