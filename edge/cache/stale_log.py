"""The log line for a stale answer given because the origin failed (RFC 9111 §4.2.4).

An outage must show in the log, but one line per request would flood it: each URL
gets at most one line per interval, and the next line counts what was left out.
"""

from __future__ import annotations

import logging

from edge.clock import Clock

log = logging.getLogger("edge.stale")

_MAX_URLS = 10_000


class StaleLog:
    def __init__(self, clock: Clock, interval: float = 60.0) -> None:
        self._clock = clock
        self._interval = interval
        self._last: dict[str, float] = {}
        self._unlogged = 0

    def note(self, url: str, status: int | None) -> None:
        """A stale answer for ``url``; ``status`` is the origin's (None: no answer at all)."""
        now = self._clock.monotonic()
        last = self._last.get(url)
        if last is not None and now - last < self._interval:
            self._unlogged += 1
            return
        if len(self._last) >= _MAX_URLS:
            self._last.clear()
        self._last[url] = now
        why = f"the origin answered {status}" if status is not None else "the origin failed"
        more = f" ({self._unlogged} more stale answers since)" if self._unlogged else ""
        self._unlogged = 0
        log.warning("serving stale %s: %s (stale-if-error)%s", url, why, more)
