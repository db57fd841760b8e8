"""One response as it arrives from an origin: its head, then its body, with back-pressure.

:class:`Exchange` is what :class:`~edge.origin.connection.OriginConnection` fills and the
caller reads (it implements :class:`~edge.origin.client.ResponseBody`). The body is
buffered up to :data:`HIGH_WATER` bytes; above that the socket is not read until the reader
takes what is there, so a slow client holds the origin back instead of edge's memory
growing. An idle gap longer than ``origin.read_timeout`` while the reader waits ends the
body with :class:`~edge.errors.UpstreamTimeout`; a body that breaks off ends with
:class:`~edge.errors.UpstreamBodyError`, never as a clean short body (RFC 9112 §6.3 rule 5).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Protocol

from multidict import CIMultiDict

from edge.errors import UpstreamBodyError, UpstreamConnectError, UpstreamError, UpstreamTimeout
from edge.policy.headers import HOP_BY_HOP

HIGH_WATER = 256 * 1024  # buffered body bytes above which the socket is not read
HOP = frozenset(name.encode("ascii") for name in HOP_BY_HOP)  # RFC 9110 §7.6.1, as bytes


InterimSink = Callable[[int, list[tuple[str, str]]], None]  # (status, fields) of a 1xx


class StaleConnection(UpstreamConnectError):
    """A reused connection closed before any byte of the answer: the origin had timed it out.

    RFC 9112 §9.3.1: a request without a body to an idempotent method may be retried.
    """


class Receiver(Protocol):
    """The connection an exchange arrives on, as the exchange sees it."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def fail(self, error: UpstreamError) -> None: ...


class Exchange:
    """One response as it arrives: its head (awaited with ``head``), then its body.

    Implements :class:`~edge.origin.client.ResponseBody`. The body is buffered up to
    :data:`HIGH_WATER`, then the socket is paused until the reader takes it (back-pressure).
    """

    __slots__ = (
        "conn",
        "head",
        "status",
        "reason",
        "headers",
        "content_length",
        "received",
        "_loop",
        "_pieces",
        "_size",
        "_done",
        "_error",
        "_waiter",
        "_read_timeout",
    )

    def __init__(
        self, conn: Receiver, loop: asyncio.AbstractEventLoop, read_timeout: float
    ) -> None:
        self.conn: Receiver | None = conn  # None once the response is in (or failed)
        self.head: asyncio.Future[None] = loop.create_future()
        self.status = 0
        self.reason = ""
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.content_length: int | None = None
        self.received = 0
        self._loop = loop
        self._pieces: deque[bytes] = deque()
        self._size = 0
        self._done = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._read_timeout = read_timeout

    # -- the connection's side -------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._pieces.append(data)
        self._size += len(data)
        self.received += len(data)
        conn = self.conn
        if self._size > HIGH_WATER and conn is not None:
            conn.pause_reading()
        self._wake()

    def finish(self) -> None:
        self.conn = None
        self._done = True
        self._wake()

    def fail(self, exc: UpstreamError) -> None:
        if self._done or self._error is not None:
            return
        self.conn = None
        head = self.head
        if not head.done():
            head.set_exception(exc)
            head.exception()  # retrieved: the fetch may have gone (its client left)
        self._error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the reader's side (ResponseBody) ----------------------------------------------
    async def chunks(self) -> AsyncGenerator[bytes, None]:
        pieces = self._pieces
        try:
            while True:
                if pieces:
                    chunk = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
                    pieces.clear()
                    self._size = 0
                    conn = self.conn
                    if conn is not None:
                        conn.resume_reading()
                    yield chunk
                elif self._error is not None:
                    raise self._error
                elif self._done:
                    return
                else:
                    await self._wait()
        finally:
            if not self._done:
                self.close()

    def arrived(self) -> bytes | None:
        """The whole body, taken at once, when all of it is in already; else None."""
        if not self._done or self._error is not None:
            return None
        pieces = self._pieces
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        self._size = 0
        return data

    async def _wait(self) -> None:
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(self._read_timeout, self._idle_timeout)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _idle_timeout(self) -> None:
        conn = self.conn
        error = UpstreamTimeout(
            f"origin idle for more than {self._read_timeout:g}s mid-body"
            f" after {self.received} bytes"
        )
        if conn is not None:
            conn.fail(error)
        else:
            self.fail(error)

    def close(self) -> None:
        """Drop the rest unread: a connection still receiving it is closed, never reused."""
        conn = self.conn
        if conn is not None and not self._done:
            conn.fail(UpstreamBodyError("response body dropped unread"))
        self._pieces.clear()
        self._size = 0


def final_fields(
    fields: list[tuple[bytes, bytes]],
) -> tuple[CIMultiDict[str], bytes | None, bytes | None]:
    """The response's end-to-end fields (RFC 9110 §7.6.1), its Content-Length and its
    Transfer-Encoding (lower-cased; llhttp allows only one of them)."""
    length: bytes | None = None
    coding: bytes | None = None
    named: set[bytes] | None = None
    kept: list[tuple[bytes, bytes]] = []
    for name, value in fields:
        lname = name.lower()
        if lname in HOP:
            if lname == b"transfer-encoding":
                coding = value.lower() if coding is None else coding + b"," + value.lower()
            elif lname == b"connection":
                named = named or set()
                named.update(t.strip() for t in value.lower().split(b","))
            continue
        if lname == b"content-length":
            length = value
        kept.append((name, value))
    if named:
        kept = [(n, v) for n, v in kept if n.lower() not in named]
    headers = CIMultiDict([(n.decode("latin-1"), v.decode("latin-1")) for n, v in kept])
    return headers, length, coding
