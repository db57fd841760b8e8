"""The socket side of an http1 connection: writes with flow control, read pausing, one timer.

Write flow control (asyncio has no drain for a bare Protocol, and uvloop's
transports none either): ``pause_writing``/``resume_writing`` drive an event
that writers wait on; ``connection_lost`` sets it too, so a writer waiting on
a client that left wakes up and raises instead of waiting forever. While
writing is paused a second timer handle runs: a client that takes no bytes for
``send_timeout()`` is aborted (``send_stalled``), so a stopped reader holds
neither a fill's reader nor more than the transport's buffer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from edge.fronts.h1_settings import Cancellable, Timers

PIPELINE, BODY = 1, 2  # reasons to stop reading the socket
IDLE, HEAD, BODY_IDLE = 1, 2, 3  # what the connection's one timer is for


class Transported(asyncio.Protocol):
    """A protocol's transport, its flow-control state and its one timer."""

    __slots__ = (
        "timers",
        "transport",
        "lost",
        "_read_off",
        "_write_paused",
        "_drained",
        "_stall",
        "_timer",
        "_timer_kind",
        "_timer_at",
        "_deadline",
    )

    def __init__(self, timers: Timers) -> None:
        self.timers = timers
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._read_off = 0
        self._write_paused = False
        self._drained: asyncio.Event | None = None
        self._stall: Cancellable | None = None  # armed while writing is paused
        self._timer: Cancellable | None = None
        self._timer_kind = 0
        self._timer_at = 0.0  # when the pending handle fires
        self._deadline = 0.0  # when the armed kind is due

    # -- asyncio.Protocol flow control ------------------------------------------------
    def pause_writing(self) -> None:
        self._write_paused = True
        if self._drained is not None:
            self._drained.clear()
        if self._stall is None and not self.lost:
            self._stall = self.timers.call_later(self.send_timeout(), self._stall_due)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._cancel_stall()
        if self._drained is not None:
            self._drained.set()

    def released(self) -> None:
        """The connection is gone: no timer, and every waiting writer wakes up."""
        self.lost = True
        self.cancel_timer()
        self._cancel_stall()
        if self._drained is not None:
            self._drained.set()

    def _cancel_stall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stall_due(self) -> None:
        self._stall = None
        if self._write_paused and not self.lost:
            self.send_stalled()

    def send_timeout(self) -> float:
        """How long the client may take no bytes while writing is paused."""
        return 60.0

    def send_stalled(self) -> None:
        """The client took nothing for ``send_timeout()``: abort (a waiting writer raises)."""
        self.abort()

    # -- writing (edge.fronts.h1_send.Wire) -----------------------------------------------
    def write(self, data: bytes) -> None:
        if not self.lost and self.transport is not None:
            self.transport.write(data)

    def writelines(self, data: Iterable[bytes]) -> None:
        if not self.lost and self.transport is not None:
            self.transport.writelines(data)

    async def drain(self) -> None:
        if self.lost:
            raise ConnectionResetError("client went away")
        if not self._write_paused:
            return
        if self._drained is None:
            self._drained = asyncio.Event()
        while self._write_paused and not self.lost:
            self._drained.clear()
            await self._drained.wait()
        if self.lost:
            raise ConnectionResetError("client went away")

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- reading and the timer -----------------------------------------------------------
    def pause(self, reason: int) -> None:
        was = self._read_off
        self._read_off |= reason
        if not was and self.transport is not None and not self.lost:
            self.transport.pause_reading()

    def resume(self, reason: int) -> None:
        was = self._read_off
        self._read_off &= ~reason
        if was and not self._read_off and self.transport is not None and not self.lost:
            self.transport.resume_reading()

    def arm(self, kind: int, delay: float) -> None:
        """Run ``on_timer`` for ``kind`` in ``delay`` seconds (replacing any earlier arming).

        Lazy: a handle already due no later than the new deadline is kept, and when
        it fires early it re-arms for the rest. Requests on a keep-alive connection
        then move a number, not a timer handle (three per request otherwise).
        """
        deadline = self.timers.time() + delay
        self._timer_kind = kind
        self._deadline = deadline
        if self._timer is not None:
            if self._timer_at <= deadline:
                return
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.timers.call_later(delay, self._fire)

    def disarm(self) -> None:
        self._timer_kind = 0  # a pending handle finds nothing to do

    def _fire(self) -> None:
        self._timer = None
        if self._timer_kind == 0 or self.lost:
            return
        left = self._deadline - self.timers.time()
        if left > 0:
            self._timer_at = self._deadline
            self._timer = self.timers.call_later(left, self._fire)
            return
        self.on_timer()

    def cancel_timer(self) -> None:
        self._timer_kind = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_timer(self) -> None:
        """The deadline set by ``arm`` passed; ``_timer_kind`` says what it was for."""
