"""One HTTP/2 request stream answered through the engine, and its response rendered as frames.

The same flow as HTTP/1.1 (``edge.fronts.answer``: PURGE, ``engine.handle``, error answers),
the same delivery step's :class:`ProxyResponse`, rendered here instead of as HTTP/1.1
bytes: HEADERS with the fields of ``edge.fronts.h2_wire``, then DATA frames as the flow
control windows allow (RFC 9113 §5.2), waiting for WINDOW_UPDATE and for the transport to
drain, so a slow reader holds one chunk of a body at a time, never the body.

A body that breaks off after the HEADERS went out, or does not match its length, resets
the stream with INTERNAL_ERROR: the client must not take a truncated body for a whole one,
and the other streams of the connection carry on.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from h2.errors import ErrorCodes

from edge.errors import EdgeError
from edge.fronts.answer import answer
from edge.fronts.h1_send import declared_length
from edge.fronts.h1_settings import Cancellable
from edge.fronts.h2_wire import NOT_ON_H2, H2Request, response_fields, status_field
from edge.models import BytesBody, FileBody, ProxyResponse, StreamBody

if TYPE_CHECKING:
    from edge.fronts.h2 import H2Conn

log = logging.getLogger("edge.proxy")

FILE_CHUNK = 256 * 1024


class StreamGone(ConnectionResetError):
    """The client reset the stream, or the connection is ending."""


class H2Stream:
    """A request stream in progress; it owns the request body (``edge.fronts.h1_body``)."""

    __slots__ = ("sid", "req", "conn", "task", "unacked", "window", "stall", "gone")

    def __init__(self, sid: int, req: H2Request, conn: H2Conn) -> None:
        self.sid = sid
        self.req = req
        self.conn = conn
        self.task: asyncio.Task[None] | None = None
        self.unacked = 0  # body bytes received and not yet handed back to the window
        self.window: asyncio.Event | None = None  # set when the send window may have grown
        # while the stream waits for its window: proxy.timeouts.send, then it is reset
        self.stall: Cancellable | None = None
        self.gone = False

    # -- the body's owner: the receive window opens as the engine reads --------------
    def body_paused(self, paused: bool) -> None:
        if not paused:
            self.conn.acknowledge(self)

    def body_wanted(self) -> None:
        pass  # no 100-continue on HTTP/2: a client sends its DATA when it likes

    def body_waiting(self, waiting: bool) -> None:
        pass  # an idle body is bounded by the connection's idle timer

    def wake(self) -> None:
        if self.window is not None:
            self.window.set()

    def expect_window(self) -> asyncio.Event:
        """Cleared before a send: a WINDOW_UPDATE arriving after it sets it, never lost."""
        window = self.window
        if window is None:
            window = self.window = asyncio.Event()
        else:
            window.clear()
        return window


class H2Interim:
    """The flow's interim sink for a stream: 1xx responses as HEADERS before the final one."""

    __slots__ = ("conn", "sid", "open")

    def __init__(self, conn: H2Conn, sid: int) -> None:
        self.conn = conn
        self.sid = sid
        self.open = True

    def __call__(self, status: int, fields: list[tuple[str, str]]) -> None:
        if self.open and 100 < status < 200:
            out = [status_field(status)]
            for name, value in fields:
                lower = name.lower()
                if lower not in NOT_ON_H2:
                    out.append((lower.encode("latin-1"), value.encode("latin-1", "replace")))
            try:
                self.conn.send_headers(self.sid, out, end=False)
            except StreamGone:
                self.open = False

    def close(self) -> None:
        self.open = False


async def serve(conn: H2Conn, stream: H2Stream, refusal: ProxyResponse | None) -> None:
    """Answer one stream (``refusal``: an answer made without the engine); then log it."""
    head_only = stream.req.method == "HEAD"

    def framed(resp: ProxyResponse) -> Awaitable[int]:
        return send(conn, stream, resp, head_only=head_only)

    interim = H2Interim(conn, stream.sid) if refusal is None else None
    try:
        await answer(conn.front, conn, stream.req, refusal, interim, framed)
    finally:
        conn.stream_done(stream)


async def send_rest(conn: H2Conn, stream: H2Stream, body: bytes, sent: int) -> None:
    """The rest of a hot-path body the windows did not take at once."""
    try:
        await conn.send_data(stream, body[sent:], end=True)
    except ConnectionResetError:
        pass
    finally:
        conn.stream_done(stream)


async def send(conn: H2Conn, stream: H2Stream, resp: ProxyResponse, *, head_only: bool) -> int:
    """Write ``resp`` on the stream; the body bytes sent. StreamGone when it is gone."""
    body = resp.body
    status = resp.status
    no_body = head_only or status in (204, 304) or status < 200
    date = conn.front.date_value()
    sid = stream.sid
    if isinstance(body, BytesBody):
        data = body.data
        length = declared_length(resp) if no_body else len(data)
        fields = response_fields(status, resp.headers, length=length, date=date)
        conn.send_headers(sid, fields, end=no_body or not data)
        if no_body or not data:
            return 0
        await conn.send_data(stream, data, end=True)
        return len(data)
    if isinstance(body, StreamBody):
        return await _send_stream(conn, stream, resp, body, no_body, date)
    if isinstance(body, FileBody):
        return await _send_file(conn, stream, resp, body, no_body, date)
    raise TypeError(f"unknown body source {type(body).__name__}")


async def _send_stream(
    conn: H2Conn,
    stream: H2Stream,
    resp: ProxyResponse,
    body: StreamBody,
    no_body: bool,
    date: bytes,
) -> int:
    chunks = body.chunks
    sid = stream.sid
    sent = 0
    head_out = False
    try:
        if no_body:
            async for _ in chunks:  # HEAD/304/204: nothing to send; release the upstream
                pass
            fields = response_fields(
                resp.status, resp.headers, length=declared_length(resp), date=date
            )
            conn.send_headers(sid, fields, end=True)
            return 0
        length = body.length
        fields = response_fields(resp.status, resp.headers, length=length, date=date)
        async for chunk in chunks:
            if not chunk:
                continue
            sent += len(chunk)
            if length is not None and sent > length:
                raise EdgeError(f"body longer than its Content-Length {length}")
            if not head_out:
                conn.send_headers(sid, fields, end=False)
                head_out = True
            await conn.send_data(stream, chunk, end=False)
        if length is not None and sent != length:
            raise EdgeError(f"body of {sent} bytes, Content-Length said {length}")
        if head_out:
            conn.end_stream(sid)
        else:
            conn.send_headers(sid, fields, end=True)
        return sent
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as exc:
        if not head_out:
            raise  # nothing sent yet: the caller answers with an error instead
        why = exc.message if isinstance(exc, EdgeError) else repr(exc)
        log.warning("resetting an HTTP/2 stream mid-body: %s", why)
        conn.reset(sid, ErrorCodes.INTERNAL_ERROR)
        return sent
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _send_file(
    conn: H2Conn, stream: H2Stream, resp: ProxyResponse, body: FileBody, no_body: bool, date: bytes
) -> int:
    """A stored file in pread chunks (a thread each): sendfile cannot frame DATA."""
    sid = stream.sid
    try:
        length = declared_length(resp) if no_body else body.length
        fields = response_fields(resp.status, resp.headers, length=length, date=date)
        empty = no_body or not body.length
        conn.send_headers(sid, fields, end=empty)
        if empty:
            return 0
        fd = body.file.fileno()
        pos, end = body.offset, body.offset + body.length
        while pos < end:
            chunk = await asyncio.to_thread(os.pread, fd, min(FILE_CHUNK, end - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            await conn.send_data(stream, chunk, end=pos >= end)
        if pos != end:  # the file is shorter than its entry: never a clean end
            log.error("stored body short: sent %d of %d bytes", pos - body.offset, body.length)
            conn.reset(sid, ErrorCodes.INTERNAL_ERROR)
        return pos - body.offset
    finally:
        body.file.close()
