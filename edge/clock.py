"""Time sources. Everything outside ``edge.policy`` takes a :class:`Clock`.

Policy code never reads a clock: ``now`` is a parameter there. Tests use
:class:`FakeClock` and move time forward explicitly instead of sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time, seconds since the epoch (HTTP dates, Age)."""
        ...

    def monotonic(self) -> float:
        """A clock that never goes back (timeouts, durations)."""
        ...


class SystemClock:
    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to: ``clock.advance(30)``."""

    __slots__ = ("_now", "_mono")

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._mono = 1000.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a FakeClock does not go back")
        self._now += seconds
        self._mono += seconds

    def set(self, wall: float) -> None:
        self._now = wall
