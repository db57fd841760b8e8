"""One keep-alive connection to an origin: an ``asyncio.Protocol`` over httptools' response parser.

A connection carries one exchange at a time (no pipelining, RFC 9112 §9.3.2) and knows exactly
when its response has ended (RFC 9112 §6.3): Content-Length, chunked (§7.1), or the close of
the connection; HEAD, 1xx, 204 and 304 have no body whatever their fields say (§6.3 rule 1).
llhttp runs strict: two Content-Lengths, Content-Length with Transfer-Encoding, bad chunk sizes,
obs-fold, bare LF or NUL in a field are a malformed response, never guessed at.

Reuse is earned: a connection goes back to the pool only when its response was read completely
and cleanly, the origin kept it alive, and the upload (if any) was sent in full. RFC 9112 §6.3:
a client MUST NOT process, cache or forward extra data as a separate response, since that is
how caches are poisoned (issue 14). So a byte that arrives while the connection is idle, or
after its response in the same read, discards the connection. A body longer than its
Content-Length is thus its first Content-Length bytes: the response stands, the connection
does not.

1xx interim responses (RFC 9110 §15.2: 100, 102, 103 Early Hints) are handed to the exchange's
``on_interim`` sink as they arrive, before the final head, and are never part of it; 101 is
refused (edge proxies no upgrades).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, cast

import httptools

from edge.errors import UpstreamBodyError, UpstreamConnectError, UpstreamError, UpstreamTimeout
from edge.origin.exchange import HOP, Exchange, InterimSink, StaleConnection, final_fields

log = logging.getLogger("edge.origin")

MAX_HEAD = 64 * 1024  # bytes of one response's header fields
MAX_HEAD_RAW = 256 * 1024  # bytes before the final head is complete (interim ones included)
MAX_FIELDS = 256
MAX_INTERIM = 16
_BODYLESS_INTERIM = (100, 102, 103)  # llhttp ends these at their head; any other 1xx must too


class Owner(Protocol):
    """The pool a connection reports to."""

    def release(self, conn: OriginConnection, reusable: bool) -> None: ...

    def gone(self, conn: OriginConnection) -> None: ...


class _Stop(Exception):
    """Raised from a parser callback to stop parsing; ``error`` fails the exchange."""

    def __init__(self, error: UpstreamError | None = None) -> None:
        super().__init__(error.message if error else "stop")
        self.error = error


class OriginConnection(asyncio.Protocol):
    """The wire and the parser; the response being received is ``ex``."""

    __slots__ = (
        "owner",
        "key",
        "loop",
        "parser",
        "transport",
        "fd",
        "ex",
        "lost",
        "reusable",
        "counted",
        "idle",
        "idle_since",
        "uses",
        "upload_done",
        "_read_timeout",
        "_read_paused",
        "_write_paused",
        "_drained",
        "_sink",
        "_head_only",
        "_final",
        "_complete",
        "_keep_alive",
        "_until_eof",
        "_got_bytes",
        "_head_raw",
        "_head_bytes",
        "_heads",
        "_head_log",
        "_interims",
        "_reason",
        "_fields",
    )

    def __init__(self, owner: Owner, key: tuple[str, str, int], loop: asyncio.AbstractEventLoop):
        self.owner = owner
        self.key = key
        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.fd = -1
        self.ex: Exchange | None = None
        self.lost = False
        self.reusable = True
        self.counted = False  # the pool counts it against its limits
        self.idle = False  # in the pool's idle set
        self.idle_since = 0.0
        self.uses = 0
        self.upload_done = True
        self._read_timeout = 30.0
        self._read_paused = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._sink: InterimSink | None = None
        self._head_only = False
        self._final = False
        self._complete = False
        self._keep_alive = False
        self._until_eof = False
        self._got_bytes = False
        self._head_raw = 0
        self._head_bytes = 0
        self._heads = 0
        self._head_log: bytearray | None = None
        self._interims = 0
        self._reason = b""
        self._fields: list[tuple[bytes, bytes]] = []

    # -- the exchange ------------------------------------------------------------------
    def begin(
        self, *, head_only: bool, on_interim: InterimSink | None, read_timeout: float
    ) -> Exchange:
        """Start receiving the answer to the request about to be written."""
        ex = self.ex = Exchange(self, self.loop, read_timeout)
        self.uses += 1
        self.upload_done = True
        self._read_timeout = read_timeout
        self._sink = on_interim
        self._head_only = head_only
        self._final = self._complete = self._keep_alive = self._until_eof = False
        self._got_bytes = False
        self._head_raw = self._heads = self._interims = 0
        self._head_log = bytearray() if head_only else None
        return ex

    def fail(self, error: UpstreamError) -> None:
        """End the exchange with ``error`` and close the connection."""
        self.reusable = False
        ex, self.ex = self.ex, None
        if ex is not None:
            ex.fail(error)
        self.close()

    def abandon(self, ex: Exchange) -> None:
        """The request of ``ex`` was given up: close the connection if it still carries it.

        Once its response is in, the connection may already serve another request.
        """
        if self.ex is ex:
            self.fail(UpstreamConnectError("request abandoned"))

    def head_timeout(self, ex: Exchange, seconds: float) -> None:
        if self.ex is ex and not ex.head.done():
            self.fail(
                UpstreamTimeout(
                    f"origin did not answer within {seconds:g}s (origin.first_byte_timeout)"
                )
            )

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()

    def _end(self, ex: Exchange) -> None:
        """The response is in: the body ends, and the connection is reused or closed."""
        self.ex = None
        self._sink = None
        ex.finish()
        if self._read_paused and not self.lost and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()
        reusable = self.reusable and self._keep_alive and self.upload_done and not self.lost
        self.reusable = reusable
        self.owner.release(self, reusable)

    # -- writing ---------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.lost or self.transport is None:
            raise UpstreamConnectError("origin closed the connection while edge was sending")
        self.transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        if self.lost or self.transport is None:
            raise UpstreamConnectError("origin closed the connection while edge was sending")
        self.transport.writelines(data)

    async def drain(self) -> None:
        if self._write_paused and not self.lost:
            try:
                async with asyncio.timeout(self._read_timeout):
                    while self._write_paused and not self.lost:
                        self._drained = self.loop.create_future()
                        await self._drained
            except TimeoutError:
                raise UpstreamTimeout(
                    f"origin read none of the request body for {self._read_timeout:g}s"
                ) from None
        if self.lost:
            raise UpstreamConnectError("origin closed the connection while edge was sending")

    def sent_all(self) -> None:
        self.upload_done = True

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    def _wake_writer(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # -- reading -----------------------------------------------------------------------------
    def pause_reading(self) -> None:
        if not self._read_paused and not self.lost and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._read_paused and not self.lost and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reusable = False
        self._wake_writer()
        ex, self.ex = self.ex, None
        if ex is not None:
            if not ex.head.done():
                if not self._got_bytes and self.uses > 1:
                    ex.fail(StaleConnection("origin closed a kept-alive connection"))
                else:
                    why = f": {exc}" if exc else ""
                    ex.fail(
                        UpstreamConnectError(f"origin closed the connection before answering{why}")
                    )
            elif self._until_eof and self._final:
                ex.finish()  # RFC 9112 §6.3 rule 8: a close-delimited body ends with the connection
            else:
                ex.fail(
                    UpstreamBodyError(
                        f"origin body broke off after {ex.received} bytes"
                        + (f" of {ex.content_length}" if ex.content_length is not None else "")
                    )
                )
        self.owner.gone(self)

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost ends what was in progress

    def data_received(self, data: bytes) -> None:
        ex = self.ex
        if ex is None or self._complete:
            # RFC 9112 §6.3: bytes while idle answer nothing; never read them as a response
            log.debug(
                "origin %s sent %d bytes while idle: connection discarded", self.key, len(data)
            )
            self.reusable = False
            self.close()
            return
        self._got_bytes = True
        if not self._final:
            self._head_raw += len(data)
            if self._head_raw > MAX_HEAD_RAW:
                self.fail(UpstreamError("origin response head too large"))
                return
        if self._head_log is not None:
            self._head_log += data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            stop = exc.__context__
            if not isinstance(stop, _Stop):
                log.error("internal error parsing an origin response", exc_info=stop or exc)
                self.fail(UpstreamError("internal error parsing the origin's response"))
                return
            if stop.error is not None:
                self.fail(stop.error)
                return
            if self._head_only and self._complete:
                self._after_head_only()
        except httptools.HttpParserUpgrade:
            self.fail(UpstreamError("origin switched protocols: not proxied"))
            return
        except httptools.HttpParserError as exc:
            if not self._complete:
                self.fail(UpstreamError(f"origin sent a malformed response: {exc}"))
                return
            self.reusable = False  # garbage after a complete response
        if self._complete and self.ex is ex:
            self._end(ex)

    def _after_head_only(self) -> None:
        """A HEAD's answer ends at its head (§6.3 rule 1), where llhttp was stopped.

        The head log holds every byte since the request; anything after the last head's
        empty line is more than the response: the connection is not reused.
        """
        log_ = self._head_log
        assert log_ is not None
        pos = 0
        for _ in range(self._heads):
            pos = log_.find(b"\r\n\r\n", pos) + 4
        if len(log_) > pos:
            self.reusable = False
        self._head_log = None
        self.parser = httptools.HttpResponseParser(self)  # the stopped one is spent

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._complete:
            self.reusable = False  # a second response nobody asked for
            raise _Stop()
        self._reason = b""
        self._fields = []
        self._head_bytes = 0

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name, value))
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD or len(self._fields) > MAX_FIELDS:
            raise _Stop(UpstreamError("origin response header section too large"))

    def on_headers_complete(self) -> None:
        self._heads += 1
        parser = self.parser
        status = parser.get_status_code()
        if status < 200:
            self._interim(status)
            return
        ex = self.ex
        assert ex is not None
        self._final = True
        self._keep_alive = parser.should_keep_alive()
        headers, length, coding = final_fields(self._fields)
        ex.status = status
        ex.reason = self._reason.decode("latin-1")
        ex.headers = headers
        if self._head_only or status == 204 or status == 304:
            ex.content_length = 0
        elif coding is not None:
            ex.content_length = None
            self._until_eof = coding.rsplit(b",", 1)[-1].strip() != b"chunked"  # §6.3 rule 4
        elif length is not None:
            ex.content_length = int(length)
        else:
            self._until_eof = True  # §6.3 rule 8: until the origin closes
        if self._until_eof:
            self._keep_alive = False
        if not ex.head.done():
            ex.head.set_result(None)
        if self._head_only:
            self._complete = True
            raise _Stop()  # llhttp would wait for the body a GET would have had

    def _interim(self, status: int) -> None:
        """RFC 9110 §15.2: an interim response, for the sink; its fields stay its own."""
        if status == 101:
            raise _Stop(UpstreamError("origin answered 101 Switching Protocols: not proxied"))
        self._interims += 1
        if self._interims > MAX_INTERIM:
            raise _Stop(UpstreamError("origin sent too many interim responses"))
        fields = self._fields
        if status not in _BODYLESS_INTERIM and any(
            n.lower() in (b"content-length", b"transfer-encoding") for n, _ in fields
        ):
            raise _Stop(UpstreamError(f"origin sent a {status} interim response with a body"))
        sink = self._sink
        if sink is not None:
            pairs = [
                (n.decode("latin-1"), v.decode("latin-1"))
                for n, v in fields
                if n.lower() not in HOP
            ]
            try:
                sink(status, pairs)
            except Exception:
                log.exception("the interim response sink failed")

    def on_body(self, data: bytes) -> None:
        ex = self.ex
        if ex is not None:
            ex.feed(data)

    def on_message_complete(self) -> None:
        if self._final:
            self._complete = True
