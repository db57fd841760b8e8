"""The http1 front's connection: an ``asyncio.Protocol`` over httptools (llhttp).

One :class:`Connection` per client socket, a complete HTTP/1.1 server side
(RFC 9112):

- persistence (§9.3): keep-alive by default for 1.1, ``Connection: close`` in
  any case honoured, HTTP/1.0 closes unless it asked for keep-alive (§C.2.2);
- pipelining (§9.3.2): requests are queued as their heads arrive and answered
  strictly in order; reading pauses while one waits behind another, and the
  hot path's answers to one batch leave in one write;
- framing (§6): llhttp runs strict (no lenient flag), so Content-Length with
  Transfer-Encoding, two Content-Lengths, bad chunk sizes, obs-fold (§5.2),
  NUL or bare CR in a field, an invalid method or target are refused with 400
  and the connection closes; such a request never reaches the engine;
- limits: request line (414), header bytes and count (431), body (413); llhttp
  has no size limit of its own, so head bytes are counted as they arrive;
- timeouts on one timer handle: an absolute deadline for a request's head from
  its first byte (408; a client dribbling a byte a second cannot hold the
  connection), keep-alive idle, body idle (408);
- write flow control: ``pause_writing``/``resume_writing`` drive an event that
  ``connection_lost`` also releases, so nothing waits on a client that left; a client
  that takes no bytes for ``proxy.timeouts.send`` is aborted;
- ``proxy.max_connections`` (edge.fronts.limits): a connection over the limit is
  sent a 503 and closed before anything is read from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

import httptools

from edge.cache.hot import PLAIN_BLOCKERS
from edge.errors import ClientRequestError, RequestTooLarge
from edge.fronts import h1_wire as wire
from edge.fronts.h1_body import RequestBody
from edge.fronts.h1_files import ShortFile, file_rest, send_file_now
from edge.fronts.h1_request import ParsedRequest, RequestTimeout
from edge.fronts.h1_transport import BODY, BODY_IDLE, HEAD, IDLE, PIPELINE, Transported
from edge.fronts.plain import PlainAnswer, plain_answer
from edge.models import FileBody

log = logging.getLogger("edge.proxy")

COPY_MAX = 16 * 1024  # a batch of answers up to this size is joined into one buffer

if TYPE_CHECKING:
    from edge.fronts.h1_server import H1Front


# a batch of hot answers is written once it holds a body this large or this many parts, so
# the loop sees pause_writing before it renders more for a client that is not reading
FLUSH_BODY = 64 * 1024
FLUSH_PARTS = 64


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; ``answer`` says why."""

    def __init__(self, answer: PlainAnswer) -> None:
        super().__init__(answer.text)
        self.answer = answer


class Connection(Transported):
    __slots__ = (
        "front",
        "parser",
        "peer",
        "local",
        "queue",
        "parsing",
        "active",
        "out",
        "closing",
        "broken",
        "_head_open",
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
        self.front = front
        super().__init__(front.timers)
        self.parser = httptools.HttpRequestParser(self)
        self.peer = ""
        self.local = ""
        self.queue: deque[ParsedRequest] = deque()  # heads waiting for their answer, in order
        self.parsing: ParsedRequest | None = None  # the message whose body is being read
        self.active: asyncio.Task[None] | None = None  # the request being answered
        self.out: list[bytes] = []  # hot answers of this batch, written together
        self.closing = False  # close once the request in hand is answered
        self.broken = False  # parsing stopped: an error answer is queued
        self._head_open = False
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

    # -- answering, in order ------------------------------------------------------------
    def _dispatch(self) -> None:
        """Answer what is queued: hot hits at once, the rest one at a time through a task."""
        queue = self.queue
        front = self.front
        hot = front.hot
        # a client that does not read stops the hot answers too: they wait for resume_writing
        while self.active is None and queue and not self.lost and not self._write_paused:
            req = queue[0]
            if req.refused is not None:
                queue.clear()
                self._send_refusal(req)
                return
            if hot is not None and req.plain and req.method == "GET" and not req.has_body:
                close = not req.keep_alive or self.closing or front.stopping
                found = hot.answer(
                    req.host,
                    req.target,
                    req.header_view,
                    date=front.date_line(),
                    connection=self.connection_line(req, close),
                )
                if found is not None:
                    queue.popleft()
                    out = self.out
                    out.append(found.head)
                    out.append(found.body)
                    if found.file is not None:  # a disk-tier hit: the head, then the file
                        front.hot_answered(self, req, found.file.length, found.cache_status, True)
                        self._flush()
                        if self._file_now(found.file, close):
                            continue
                        if self.active is None:
                            return  # closed after it, or aborted
                        break  # the rest goes out from a task, which dispatches after
                    if len(found.body) >= FLUSH_BODY or len(out) >= FLUSH_PARTS:
                        self._flush()  # written now: a client that reads nothing pauses us
                    front.hot_answered(self, req, len(found.body), found.cache_status)
                    if close:
                        self._flush()
                        self._close()
                        return
                    continue
            queue.popleft()
            self._flush()
            req.started = True
            self.active = asyncio.get_running_loop().create_task(self._serve(req))
        self._flush()
        if queue:
            self.pause(PIPELINE)
        elif self.active is None:
            if not self.broken:
                self.resume(PIPELINE)
            if not self._head_open and self.parsing is None and not self.lost:
                if front.stopping or self.closing:
                    self._close()
                else:
                    self.arm(IDLE, front.settings.keepalive)

    def _file_now(self, body: FileBody, close: bool) -> bool:
        """Send a hot disk hit's file; False when a task sends the rest (or it failed)."""
        try:
            rest = send_file_now(cast(asyncio.Transport, self.transport), body)
        except (ConnectionResetError, ShortFile) as exc:
            log.warning("aborting a disk-tier hit: %s", exc)
            self.abort()
            self.broken = True
            return False
        if rest is not None:
            work = file_rest(self, rest, close)
            self.active = asyncio.get_running_loop().create_task(self._then(work))
            return False
        if close:
            self._close()
        return not close

    async def _serve(self, req: ParsedRequest) -> None:
        await self._then(self.front.serve(self, req))

    async def _then(self, work: Coroutine[Any, Any, bool]) -> None:
        """Run the answer in hand (``work`` says whether to close after); then go on."""
        close = True
        try:
            close = await work
        finally:
            self.active = None
            if self.lost:
                pass
            elif close:
                self._close()
            else:
                self._dispatch()

    def must_close(self, req: ParsedRequest, status: int, delimited: bool) -> bool:
        """Whether this answer ends the connection (said in its Connection line)."""
        return (
            not req.keep_alive
            or self.closing
            or self.front.stopping
            or status in (400, 408, 413, 414, 431, 505)
            or (req.body is not None and not req.body.complete)
            or delimited
        )

    @staticmethod
    def connection_line(req: ParsedRequest, close: bool) -> bytes:
        if close:
            return wire.CONNECTION_CLOSE
        return wire.CONNECTION_KEEP_ALIVE if req.version == "1.0" else b""

    def _send_refusal(self, req: ParsedRequest) -> None:
        answer = req.refused
        assert answer is not None
        body = answer.text.encode("utf-8")
        head = wire.head(
            answer.status,
            "",
            answer.headers,
            length=len(body),
            chunked=False,
            date=self.front.date_line(),
            connection=wire.CONNECTION_CLOSE,
        )
        self.out.append(head + body)
        self._flush()
        self.front.finished(self, req, answer.status, len(body), answer.headers["Cache-Status"])
        self._close()

    # -- writing ------------------------------------------------------------------------
    def _flush(self) -> None:
        out = self.out
        if out:
            if len(out) == 2 and len(out[1]) <= COPY_MAX:
                self.write(out[0] + out[1])  # a small answer: one buffer, one send
            elif sum(map(len, out)) <= COPY_MAX:
                self.write(b"".join(out))
            else:  # large bodies are not copied: the transport sends the buffers as they are
                self.writelines(out)
            out.clear()

    def _close(self) -> None:
        self.cancel_timer()
        self.broken = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()  # sends what is buffered, then closes

    # -- shutdown and timers ---------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop: an idle connection closes now, a busy one after the answer in hand."""
        self.closing = True
        if self.active is None and not self.queue and not self._head_open and not self.parsing:
            self._close()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [self.active] if self.active is not None else []

    @property
    def idle(self) -> bool:
        return self.active is None and not self.queue and not self._head_open

    def send_timeout(self) -> float:
        return self.front.settings.send

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.queue and self.active is None and not self.lost:
            self._dispatch()  # the pipelined requests that waited for the client to read

    def send_stalled(self) -> None:
        self.front.send_timed_out(self)
        super().send_stalled()

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
