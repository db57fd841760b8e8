"""The sending side of an HTTP/2 connection: frames out through ``h2``, under flow control.

:class:`H2Writer` is the part of :class:`~edge.fronts.h2.H2Conn` that streams call:
HEADERS, DATA as far as the peer's windows (RFC 9113 §5.2) and the transport allow,
RST_STREAM, GOAWAY. Everything written goes through ``flush``, which stops once the
connection is ending (its sending side may be shut).

``proxy.timeouts.send`` bounds both waits: a stream whose window stays shut that long is
reset (``window_stalled``: the other streams go on), a transport that stays paused that
long closes the connection (``Transported.send_stalled``). Either way the stream's task
ends and lets go of its body, so the fill it was reading goes on for other clients.
"""

from __future__ import annotations

import asyncio

from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.exceptions import ProtocolError
from hyperframe.frame import GoAwayFrame

from edge.fronts.h1_settings import Timers
from edge.fronts.h1_transport import Transported
from edge.fronts.h2_stream import H2Stream, StreamGone
from edge.fronts.h2_wire import Field


class H2Writer(Transported):
    """``h2``'s output onto the transport; ``ending`` once nothing more may be sent."""

    __slots__ = ("h2", "ending")

    def __init__(self, timers: Timers, h2: H2Connection) -> None:
        super().__init__(timers)
        self.h2 = h2
        self.ending = False  # the connection is over: lingering, then closed

    def flush(self) -> None:
        if self.ending:
            return  # the sending side may be shut already
        data = self.h2.data_to_send()
        if data:
            self.write(data)

    def send_headers(self, sid: int, fields: list[Field], *, end: bool) -> None:
        if self.ending:
            raise StreamGone("the connection is ending")
        try:
            self.h2.send_headers(sid, fields, end_stream=end)
        except ProtocolError as exc:  # closed or reset meanwhile
            raise StreamGone(str(exc)) from None
        self.flush()

    def end_stream(self, sid: int) -> None:
        if self.ending:
            raise StreamGone("the connection is ending")
        try:
            self.h2.end_stream(sid)
        except ProtocolError as exc:
            raise StreamGone(str(exc)) from None
        self.flush()

    def _send_now(self, sid: int, data: bytes, pos: int, *, end: bool, flush: bool = True) -> int:
        """DATA frames from ``pos`` as far as the windows allow; the position reached.

        ``flush=False`` leaves the frames for the caller's flush: answers made while one
        read is handled leave in one write (one TLS record run, not one per stream)."""
        h2 = self.h2
        total = len(data)
        while pos < total:
            room = min(h2.local_flow_control_window(sid), h2.max_outbound_frame_size)
            if room <= 0:
                break
            n = min(room, total - pos)
            h2.send_data(
                sid, data[pos : pos + n] if n < total else data, end_stream=end and pos + n >= total
            )
            pos += n
        if flush:
            self.flush()
        return pos

    async def send_data(self, stream: H2Stream, data: bytes, *, end: bool) -> None:
        """All of ``data`` on the stream, waiting for the windows and the transport."""
        pos = 0
        while True:
            if self.ending or stream.gone or self.lost:
                raise StreamGone("the stream or its connection is gone")
            window = stream.expect_window()
            try:
                pos = self._send_now(stream.sid, data, pos, end=end)
            except ProtocolError as exc:
                raise StreamGone(str(exc)) from None
            await self.drain()
            if pos >= len(data):
                return
            await self._window_opens(stream, window)

    async def _window_opens(self, stream: H2Stream, window: asyncio.Event) -> None:
        """Wait for the client to open the window; ``send_timeout()`` of nothing resets it."""
        stream.stall = self.timers.call_later(self.send_timeout(), lambda: self._window_due(stream))
        try:
            await window.wait()
        finally:
            if stream.stall is not None:
                stream.stall.cancel()
                stream.stall = None

    def _window_due(self, stream: H2Stream) -> None:
        stream.stall = None
        if not (stream.gone or self.ending or self.lost):
            self.window_stalled(stream)

    def window_stalled(self, stream: H2Stream) -> None:
        """The client kept the stream's window shut for ``send_timeout()``: reset it."""
        self.reset(stream.sid, ErrorCodes.CANCEL)

    def reset(self, sid: int, code: ErrorCodes) -> None:
        if self.ending:
            return
        try:
            self.h2.reset_stream(sid, code)
        except ProtocolError:
            return  # already closed
        self.flush()

    def _goaway(self, code: ErrorCodes) -> None:
        """A GOAWAY written past ``h2``'s state machine, so that streams may still finish."""
        self.flush()
        frame = GoAwayFrame(0)
        frame.last_stream_id = self.h2.highest_inbound_stream_id
        frame.error_code = code
        self.write(frame.serialize())
