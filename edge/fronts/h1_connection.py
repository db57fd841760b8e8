"""The http1 front's connection: an ``asyncio.Protocol`` over httptools (llhttp).

One :class:`Connection` per client socket, a complete HTTP/1.1 server side
(RFC 9112). This module is its reading side; answering what is read, in order
(pipelining, persistence, the hot path's batched writes), is its base's,
:class:`~edge.fronts.h1_dispatch.Dispatching`.

- framing (§6): llhttp runs strict (no lenient flag), so Content-Length with
  Transfer-Encoding, two Content-Lengths, bad chunk sizes, obs-fold (§5.2),
  NUL or bare CR in a field, an invalid method or target are refused with 400
  and the connection closes; such a request never reaches the engine;
- limits: request line (414), header bytes and count (431), body (413); llhttp
  has no size limit of its own, so head bytes are counted as they arrive;
- timeouts on one timer handle: an absolute deadline for a request's head from
  its first byte (408; a client dribbling a byte a second cannot hold the
  connection), keep-alive idle, body idle (408);
- write flow control (edge.fronts.h1_transport): ``pause_writing``/``resume_writing``
  drive an event that ``connection_lost`` also releases, so nothing waits on a client
  that left; a client that takes no bytes for ``proxy.timeouts.send`` is aborted;
- ``proxy.max_connections`` (edge.fronts.limits): a connection over the limit is
  sent a 503 and closed before anything is read from it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import httptools

from edge.cache.hot import PLAIN_BLOCKERS
from edge.errors import ClientRequestError, RequestTooLarge
from edge.fronts.h1_body import RequestBody
from edge.fronts.h1_dispatch import Dispatching
from edge.fronts.h1_request import ParsedRequest, RequestTimeout
from edge.fronts.h1_transport import BODY, BODY_IDLE, HEAD, IDLE, PIPELINE
from edge.fronts.plain import PlainAnswer, plain_answer

if TYPE_CHECKING:
    from edge.fronts.h1_server import H1Front


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; ``answer`` says why."""

    def __init__(self, answer: PlainAnswer) -> None:
        super().__init__(answer.text)
        self.answer = answer


class Connection(Dispatching):
    __slots__ = (
        "parser",
        "_head_raw",
        "_url",
        "_url_len",
        "_headers",
        "_header_bytes",
        "_plain",
        "sniffing",
        "early",
    )

    def __init__(self, front: H1Front) -> None:
        super().__init__(front)
        self.parser = httptools.HttpRequestParser(self)
        self._head_raw = 0
        self._url: list[bytes] = []
        self._url_len = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._plain = True
        self.sniffing = front.sniffs  # plaintext: the first bytes may be the HTTP/2 preface
        self.early = b""

    # -- asyncio.Protocol ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else ""
        local = transport.get_extra_info("sockname")
        self.local = f"{local[0]}:{local[1]}" if isinstance(local, tuple) else "localhost"
        front = self.front
        if len(front.connections) >= front.max_connections:
            front.refuse(self)
            return
        front.connection_opened(self)
        front.accepted.value += 1
        if front.stopping:
            transport.close()
            return
        if self.front.negotiated_h2(transport):  # ALPN h2: an HTTP/2 connection from here
            self.front.hand_over(self, b"")
            return
        self.arm(IDLE, self.front.settings.keepalive)

    def connection_lost(self, exc: Exception | None) -> None:
        self.released()  # a writer waiting for the client wakes and sees it gone
        gone = ConnectionResetError("client went away")
        if self.parsing is not None and self.parsing.body is not None:
            self.parsing.body.fail(gone)
        for req in self.queue:
            if req.body is not None:
                req.body.fail(gone)
        self.front.connection_gone(self)

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        if self.sniffing:
            data = self.front.sniff(self, data)
            if not data:
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade and CONNECT are not proxied (Upgrade is hop-by-hop): the request is
            # answered as a plain one, and the connection closes after it
            self.broken = True
            self.pause(PIPELINE)
            if self.queue:
                self.queue[-1].keep_alive = False
            else:
                self.closing = True
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._fail(refused.answer)
            else:  # a bug in a callback: the request is not served half-parsed
                self.front.log_internal(refused or exc)
                self._fail(plain_answer(400, "malformed request\n", *self._who))
        except httptools.HttpParserError as exc:
            self._fail(plain_answer(400, f"malformed request: {exc}\n", *self._who))
        else:
            if self._head_open:
                self._count_tail(data)
        self._dispatch()

    def _count_tail(self, data: bytes) -> None:
        """Bound the field llhttp is still buffering: it has no size limit of its own.

        Complete fields are counted by ``on_header``; the unfinished one is what
        follows the last LF seen, growing by every chunk without one.
        """
        lf = data.rfind(b"\n")
        self._head_raw = len(data) - lf - 1 if lf >= 0 else self._head_raw + len(data)
        limits = self.front.settings
        allowed = limits.header_bytes + (0 if self._headers else limits.request_line)
        if self._header_bytes + self._head_raw > allowed:
            self._fail(plain_answer(431, "request header section too large\n", *self._who))

    @property
    def _who(self) -> tuple[str, str]:
        return self.front.settings.name, "client-error"

    # -- httptools callbacks -----------------------------------------------------------
    def on_message_begin(self) -> None:
        self._head_open = True
        self._head_raw = 0
        self._url = []
        self._url_len = 0
        self._headers = []
        self._header_bytes = 0
        self._plain = True
        self.arm(HEAD, self.front.settings.head_timeout)  # absolute, from the first byte

    def on_url(self, piece: bytes) -> None:
        self._url_len += len(piece)
        if self._url_len > self.front.settings.request_line:
            raise _Refused(plain_answer(414, "request target too long\n", *self._who))
        self._url.append(piece)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._header_bytes += len(name) + len(value) + 4
        limits = self.front.settings
        if self._header_bytes > limits.header_bytes or len(self._headers) > limits.header_count:
            raise _Refused(plain_answer(431, "request header fields too large\n", *self._who))
        if self._plain and name.lower() in PLAIN_BLOCKERS:
            self._plain = False

    def on_headers_complete(self) -> None:
        self._head_open = False
        self.disarm()
        parser = self.parser
        url = b"".join(self._url)
        req = ParsedRequest(
            method=parser.get_method().decode("ascii"),
            raw_target=url.decode("latin-1"),
            version=parser.get_http_version(),
            keep_alive=parser.should_keep_alive(),
            raw_headers=self._headers,
            plain=self._plain,
            started_at=self.front.timers.time(),
        )
        problem = req.check(self.front.settings, self.local, self.front.engine.routing.body_limit)
        if problem is not None:
            raise _Refused(problem)  # it never reaches the engine
        self.queue.append(req)
        if req.has_body:
            req.body = RequestBody(
                self, limit=req.max_body, high_water=self.front.settings.high_water
            )
        self.parsing = req

    def on_body(self, data: bytes) -> None:
        req = self.parsing
        if req is None or req.body is None:
            return
        if not req.body.feed(data):
            text = f"request body over {req.max_body} bytes\n"
            raise _Refused(plain_answer(413, text, self.front.settings.name, "request-too-large"))
        if self._timer_kind == BODY_IDLE:
            self.arm(BODY_IDLE, self.front.settings.body_idle)

    def on_message_complete(self) -> None:
        req = self.parsing
        if req is not None and req.body is not None:
            req.body.finish()
            if self._timer_kind == BODY_IDLE:
                self.disarm()
        self.parsing = None

    # -- the body's owner (edge.fronts.h1_body.BodyOwner) ------------------------------
    def body_paused(self, paused: bool) -> None:
        if paused:
            self.pause(BODY)
        else:
            self.resume(BODY)

    def body_wanted(self) -> None:
        req = self.parsing
        if req is not None and req.expect_continue and not self.lost:
            req.expect_continue = False
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # RFC 9110 §10.1.1

    def body_waiting(self, waiting: bool) -> None:
        if waiting:
            self.arm(BODY_IDLE, self.front.settings.body_idle)
        elif self._timer_kind == BODY_IDLE:
            self.disarm()

    # -- errors -----------------------------------------------------------------------
    def _fail(self, answer: PlainAnswer) -> None:
        """Stop parsing; answer ``answer`` in turn (or break the request in hand) and close."""
        self.broken = True
        self._head_open = False
        self.pause(PIPELINE)
        req = self.parsing
        self.parsing = None
        if req is not None and req.started:
            # the engine already has it: its upload breaks, the connection closes after
            if req.body is not None:
                exc = RequestTooLarge if answer.status == 413 else ClientRequestError
                req.body.fail(exc(answer.text.strip()))
            self.closing = True
            return
        if req is not None and req in self.queue:
            self.queue.remove(req)
        self.queue.append(ParsedRequest.refusal(answer))

    # -- timers ----------------------------------------------------------------------------
    def on_timer(self) -> None:
        kind, self._timer_kind = self._timer_kind, 0
        if self.lost:
            return
        if kind == IDLE:
            if self.idle and self.parsing is None:
                self._close()  # RFC 9112 §9.5: a server may close an idle connection
        elif kind == HEAD:
            self.front.stats.head_timeouts += 1
            self._fail(plain_answer(408, "request head not received in time\n", *self._who))
            self._dispatch()
        elif kind == BODY_IDLE:
            req = self.parsing
            if req is not None and req.body is not None and not self._read_off & BODY:
                req.body.fail(RequestTimeout("request body stalled"))
                self.broken = True
                self.closing = True
