"""The h2 front: HTTP/2 connections (RFC 9113) on the sans-I/O ``h2`` library.

A connection starts on the http1 front and is handed over (``H1Front.hand_over``) when
TLS negotiated ALPN ``h2`` (RFC 9113 §3.2) or a plaintext connection opens with the
HTTP/2 preface (prior knowledge, §3.3). From then on an :class:`H2Conn` is the socket's
protocol: bytes in go through the :class:`~edge.fronts.h2_limits.FrameGuard`, then ``h2``;
its events become streams answered through the same flow as HTTP/1.1 requests
(``edge.fronts.h2_stream``); fresh memory hits are answered at once from the hot path's
per-entry fields (``HotPath.answer_h2``), without a task.

Flow control both ways (RFC 9113 §5.2): a response is sent as the client's windows allow
and as the transport drains; a request body's window is handed back only as the engine
reads it (``H2Stream.body_paused``), so neither side is buffered whole.

Ending: on shutdown a GOAWAY (NO_ERROR) names the last stream taken, the streams in flight
finish within the grace, then the connection closes; a client over a limit gets GOAWAY
ENHANCE_YOUR_CALM at once. Either way the GOAWAY is written, the sending side shut
(plaintext), and the socket kept reading (and dropping) for a short linger before it
closes, so the client reads the GOAWAY instead of a reset that discards it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from edge.cache.hot import PLAIN_BLOCKERS, HotPath
from edge.errors import RequestTooLarge
from edge.fronts.h1_body import RequestBody
from edge.fronts.h1_transport import IDLE
from edge.fronts.h2_limits import FrameGuard
from edge.fronts.h2_send import H2Writer
from edge.fronts.h2_stream import H2Stream, StreamGone, send_rest, serve
from edge.fronts.h2_wire import (
    Field,
    H2Request,
    Malformed,
    check_trailers,
    parse_request,
    refusal_of,
)
from edge.fronts.plain import as_response

if TYPE_CHECKING:
    from edge.fronts.h1_server import H1Front

log = logging.getLogger("edge.proxy")

LINGER = 4  # the connection's one timer, beside IDLE
LINGER_SECONDS = 1.0  # reading (and dropping) after GOAWAY before the socket closes


class H2Conn(H2Writer):
    __slots__ = (
        "front",
        "limits",
        "guard",
        "peer",
        "local",
        "streams",
        "closing",
    )

    def __init__(self, front: H1Front, peer: str, local: str) -> None:
        config = H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=False,  # per stream, in parse_request: a stream error
            validate_outbound_headers=False,  # response_fields writes only valid fields
            normalize_outbound_headers=False,
        )
        super().__init__(front.timers, H2Connection(config))
        self.front = front
        self.limits = limits = front.h2_settings
        self.peer = peer
        self.local = local
        self.guard = FrameGuard(limits, front.timers)
        h2 = self.h2
        h2.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
                SettingCodes.HEADER_TABLE_SIZE: limits.hpack_table_size,
                SettingCodes.INITIAL_WINDOW_SIZE: limits.initial_window,
            },
        )
        h2.decoder.max_header_list_size = limits.max_header_list_size
        h2.decoder.max_allowed_table_size = limits.hpack_table_size
        self.streams: dict[int, H2Stream] = {}
        self.closing = False  # GOAWAY sent or received: no new streams; close when idle

    # -- start, and asyncio.Protocol ------------------------------------------------------
    def start(self, transport: asyncio.Transport, data: bytes) -> None:
        """Take the socket (already this protocol's) with what was read of it so far."""
        self.transport = transport
        self.front.connection_opened(self)
        h2 = self.h2
        h2.initiate_connection()
        # the connection's receive window: room for a few request bodies at once
        extra = 4 * self.limits.initial_window - 65535
        if extra > 0:
            h2.increment_flow_control_window(extra)
        self.flush()
        self.arm(IDLE, self.front.settings.keepalive)
        if data:
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self.ending:
            return  # lingering: read and dropped
        problem = self.guard.feed(data)
        if problem is not None:
            self.calm(problem)
            return
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as exc:  # h2 has queued a GOAWAY saying why
            log.info("HTTP/2 connection from %s ended: %s", self.peer, exc)
            self.end()
            return
        for event in events:
            self._event(event)
        self.flush()
        if not self.streams and not self.ending:
            self.arm(IDLE, self.front.settings.keepalive)  # hits answered at once count too

    def eof_received(self) -> bool | None:
        return None  # the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.released()
        gone = ConnectionResetError("client went away")
        for stream in list(self.streams.values()):
            self._drop(stream, gone)
        self.front.connection_gone(self)

    # -- events -----------------------------------------------------------------------------
    def _event(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            self._request(event.stream_id, event.headers, event.stream_ended is not None)
        elif isinstance(event, DataReceived):
            self._data(event.stream_id, event.data, event.flow_controlled_length)
        elif isinstance(event, StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None and stream.req.body is not None:
                stream.req.body.finish()
        elif isinstance(event, WindowUpdated):
            if event.stream_id:
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.wake()
            else:
                self._wake_all()
        elif isinstance(event, RemoteSettingsChanged):
            self._wake_all()  # the initial window may have grown
        elif isinstance(event, StreamReset):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                self._drop(stream, StreamGone("the client reset the stream"))
        elif isinstance(event, TrailersReceived):
            try:
                check_trailers(event.headers)
            except Malformed:
                self.reset(event.stream_id, ErrorCodes.PROTOCOL_ERROR)
        elif isinstance(event, ConnectionTerminated):
            self.closing = True
            if not self.streams:
                self.end()

    def _request(self, sid: int, headers: list[Field], ended: bool) -> None:
        if self.closing:
            self.reset(sid, ErrorCodes.REFUSED_STREAM)  # after our GOAWAY: never started
            return
        try:
            req = parse_request(headers, PLAIN_BLOCKERS)
        except Malformed as exc:
            log.debug("HTTP/2 stream %d from %s malformed: %s", sid, self.peer, exc)
            self.reset(sid, ErrorCodes.PROTOCOL_ERROR)
            return
        front = self.front
        req.started_at = self.timers.time()
        settings = front.settings
        # a body's limit is its route's (routes[].max_request_body), asked only when it has one
        limits = front.engine.routing.body_limit if not ended or req.length > 0 else None
        refusal = refusal_of(req, settings.name, settings.max_body, limits)
        if refusal is None and ended and req.plain and req.method == "GET":
            hot = front.hot
            if hot is not None and self._hot(sid, req, hot):
                return
        stream = H2Stream(sid, req, self)
        if not ended:
            req.body = RequestBody(stream, limit=req.max_body, high_water=settings.high_water)
        self.disarm()
        response = as_response(refusal) if refusal is not None else None
        self._run(stream, serve(self, stream, response))

    def _hot(self, sid: int, req: H2Request, hot: HotPath) -> bool:
        """A fresh memory hit answered now (its DATA as far as the windows allow)."""
        front = self.front
        found = hot.answer_h2(req.host, req.target, req.header_view, date=front.date_value())
        if found is None:
            return False
        h2 = self.h2
        body = found.body
        h2.send_headers(sid, found.fields, end_stream=not body)
        sent = self._send_now(sid, body, 0, end=True, flush=False) if body else 0
        front.hot_answered(self, req, len(body), found.cache_status)
        if sent < len(body):  # the windows are full: the rest from a task
            stream = H2Stream(sid, req, self)
            self._run(stream, send_rest(self, stream, body, sent))
        return True

    def _run(self, stream: H2Stream, work: Coroutine[Any, Any, None]) -> None:
        """A task for the stream; when it ends (even cancelled before it began) the stream
        is done."""
        self.streams[stream.sid] = stream
        task = stream.task = asyncio.get_running_loop().create_task(work)
        task.add_done_callback(lambda _: self.stream_done(stream))

    def _data(self, sid: int, data: bytes, flow: int) -> None:
        stream = self.streams.get(sid)
        body = stream.req.body if stream is not None else None
        if stream is None or body is None:
            self.h2.acknowledge_received_data(flow, sid)
            return
        if not body.feed(data):
            body.fail(RequestTooLarge(f"request body over {stream.req.max_body} bytes"))
            self.h2.acknowledge_received_data(flow, sid)
            return
        if body.buffered <= body.high_water:
            self.h2.acknowledge_received_data(flow + stream.unacked, sid)
            stream.unacked = 0
        else:
            stream.unacked += flow  # handed back once the engine has read the buffer down

    def acknowledge(self, stream: H2Stream) -> None:
        if stream.unacked and not self.ending:
            self.h2.acknowledge_received_data(stream.unacked, stream.sid)
            stream.unacked = 0
            self.flush()

    # -- streams ending ------------------------------------------------------------------------
    def _drop(self, stream: H2Stream, why: BaseException) -> None:
        stream.gone = True
        stream.wake()
        body = stream.req.body
        if body is not None:
            body.fail(why)
        task = stream.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def stream_done(self, stream: H2Stream) -> None:
        if self.streams.get(stream.sid) is not stream:
            return  # done already
        del self.streams[stream.sid]
        body = stream.req.body
        if not self.ending and not self.lost:
            if stream.unacked:  # the connection's window back, for the other streams
                self.h2.acknowledge_received_data(stream.unacked, stream.sid)
                stream.unacked = 0
            if body is not None and not body.complete and not stream.gone:
                # answered before the whole upload: ask the client to stop (RFC 9113 §8.1)
                self.reset(stream.sid, ErrorCodes.NO_ERROR)
            self.flush()
        if self.streams or self.ending or self.lost:
            return
        if self.closing:
            self.end()
        else:
            self.arm(IDLE, self.front.settings.keepalive)

    def _wake_all(self) -> None:
        for stream in self.streams.values():
            stream.wake()

    # -- ending the connection --------------------------------------------------------------
    def shutdown(self) -> None:
        """Graceful: GOAWAY (NO_ERROR); the streams in flight finish, then it closes."""
        if self.closing or self.ending:
            if not self.streams:
                self.end()
            return
        self.closing = True
        self._goaway(ErrorCodes.NO_ERROR)
        if not self.streams:
            self.end()

    def calm(self, why: str) -> None:
        """Over a limit: GOAWAY ENHANCE_YOUR_CALM, every stream dropped, the socket closed."""
        log.warning("HTTP/2 client %s over a limit (%s): GOAWAY and close", self.peer, why)
        self._goaway(ErrorCodes.ENHANCE_YOUR_CALM)
        self.closing = True
        gone = StreamGone("connection closed: " + why)
        for stream in list(self.streams.values()):
            self._drop(stream, gone)
        self.end()

    def end(self) -> None:
        """Stop taking frames; what is written goes out, then a bounded linger, then close."""
        if self.ending or self.lost:
            return
        self.flush()
        self.ending = True
        self._wake_all()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()  # FIN after the GOAWAY: the client reads it, then the end
        self.arm(LINGER, LINGER_SECONDS)

    def tasks(self) -> list[asyncio.Task[None]]:
        return [s.task for s in self.streams.values() if s.task is not None]

    def on_timer(self) -> None:
        kind, self._timer_kind = self._timer_kind, 0
        if self.lost:
            return
        if kind == IDLE:
            if not self.streams and not self.ending:
                self.closing = True
                self._goaway(ErrorCodes.NO_ERROR)
                self.end()
        elif kind == LINGER and self.transport is not None:
            self.transport.close()

    # -- proxy.timeouts.send (edge.fronts.h2_send) -------------------------------------------
    def send_timeout(self) -> float:
        return self.front.settings.send

    def window_stalled(self, stream: H2Stream) -> None:
        """Its window shut for ``proxy.timeouts.send``: RST_STREAM CANCEL, and the stream's
        task ends (releasing the body it reads); the other streams carry on."""
        self._send_timed_out(f"stream {stream.sid}'s window")
        super().window_stalled(stream)
        self._drop(stream, StreamGone("send timeout: the stream's window stayed shut"))

    def send_stalled(self) -> None:
        """The transport stayed paused for ``proxy.timeouts.send``: the connection closes
        (aborted: what is buffered is not waited for), dropping every stream."""
        self._send_timed_out("the connection")
        super().send_stalled()

    def _send_timed_out(self, what: str) -> None:
        self.front.stats.send_timeouts += 1
        log.info(
            "HTTP/2 client %s took no bytes on %s for %gs (proxy.timeouts.send): %s",
            self.peer,
            what,
            self.front.settings.send,
            "disconnected" if what == "the connection" else "stream reset",
        )

    def abort(self) -> None:
        for stream in list(self.streams.values()):
            self._drop(stream, StreamGone("shutdown"))
        super().abort()
