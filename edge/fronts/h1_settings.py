"""The http1 front's settings and its time source.

Timeouts are timer handles (``call_later``), one per connection at a time,
never a task per connection. The time source is injectable: tests hand the
front a :class:`ManualTimers` and move time on instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from edge.config import Config

BODY_HIGH_WATER = 256 * 1024  # buffered request-body bytes above which reading pauses


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    """Monotonic time and one-shot callbacks."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


class LoopTimers:
    """The running loop's clock and timer handles (the production source)."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def time(self) -> float:
        return self._loop.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return self._loop.call_later(delay, callback)


class _ManualHandle:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualTimers:
    """Time that moves only with :meth:`advance`, which runs the callbacks that fall due."""

    __slots__ = ("_now", "_heap", "_seq")

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _ManualHandle, Callable[[], None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        handle = _ManualHandle()
        heapq.heappush(self._heap, (self._now + delay, next(self._seq), handle, callback))
        return handle

    def advance(self, seconds: float) -> None:
        until = self._now + seconds
        while self._heap and self._heap[0][0] <= until:
            when, _, handle, callback = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            if not handle.cancelled:
                callback()
        self._now = until

    @property
    def pending(self) -> int:
        return sum(1 for _, _, h, _ in self._heap if not h.cancelled)


@dataclass(frozen=True, slots=True)
class H1Settings:
    """What the front enforces, from ``proxy.*`` (see ``config/edge.yaml``)."""

    name: str = "edge"
    max_body: int = 1 << 20  # proxy.max_request_body: 413
    request_line: int = 8192  # proxy.limits.request_line: 414
    header_bytes: int = 8192  # proxy.max_header_size: 431
    header_count: int = 100  # proxy.limits.header_count: 431
    head_timeout: float = 10.0  # proxy.timeouts.head: 408
    keepalive: float = 15.0  # proxy.timeouts.keepalive
    body_idle: float = 30.0  # proxy.timeouts.body_idle: 408
    send: float = 60.0  # proxy.timeouts.send: a client taking no bytes is disconnected
    high_water: int = BODY_HIGH_WATER
    purge: bool = False  # proxy.purge_method
    hot_path: bool = True  # fresh memory hits without the flow (edge.cache.hot)

    @classmethod
    def from_config(cls, cfg: Config) -> H1Settings:
        p = cfg.proxy
        return cls(
            name=cfg.name,
            max_body=p.max_request_body,
            request_line=p.limits.request_line,
            header_bytes=p.max_header_size,
            header_count=p.limits.header_count,
            head_timeout=p.timeouts.head,
            keepalive=p.timeouts.keepalive,
            body_idle=p.timeouts.body_idle,
            send=p.timeouts.send,
            purge=p.purge_method,
        )
