"""The answering side of an http1 connection: what is queued, answered strictly in order.

:class:`Dispatching` is the base of :class:`~edge.fronts.h1_connection.Connection`
(which parses the requests and queues their heads) and holds the state both sides
share. ``_dispatch`` runs after every read:

- pipelining (RFC 9112 §9.3.2): requests are answered in the order their heads
  arrived; reading pauses while one waits behind another;
- plain fresh hits are answered at once from the hot path, and the answers to one
  batch leave in one write (``_flush``); a disk-tier hit sends its file at once
  when the socket takes it (``_file_now``), else a task sends the rest;
- anything else is answered through the engine by one task at a time (``_serve``,
  ``H1Front.serve``), which dispatches what queued behind it when done;
- a refused request (400, 408, 413, 414, 431) is answered in its turn, then the
  connection closes;
- persistence (§9.3): ``must_close`` decides, and ``connection_line`` says it in
  the answer's head.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from edge.fronts import h1_wire as wire
from edge.fronts.h1_files import ShortFile, file_rest, send_file_now
from edge.fronts.h1_request import ParsedRequest
from edge.fronts.h1_transport import IDLE, PIPELINE, Transported
from edge.models import FileBody

if TYPE_CHECKING:
    from edge.fronts.h1_server import H1Front

log = logging.getLogger("edge.proxy")

COPY_MAX = 16 * 1024  # a batch of answers up to this size is joined into one buffer

# a batch of hot answers is written once it holds a body this large or this many parts, so
# the loop sees pause_writing before it renders more for a client that is not reading
FLUSH_BODY = 64 * 1024
FLUSH_PARTS = 64


class Dispatching(Transported):
    """The queue of request heads and the answer in hand; the state both sides share."""

    __slots__ = (
        "front",
        "peer",
        "local",
        "queue",
        "parsing",
        "active",
        "out",
        "closing",
        "broken",
        "_head_open",
    )

    def __init__(self, front: H1Front) -> None:
        super().__init__(front.timers)
        self.front = front
        self.peer = ""
        self.local = ""
        self.queue: deque[ParsedRequest] = deque()  # heads waiting for their answer, in order
        self.parsing: ParsedRequest | None = None  # the message whose body is being read
        self.active: asyncio.Task[None] | None = None  # the request being answered
        self.out: list[bytes] = []  # hot answers of this batch, written together
        self.closing = False  # close once the request in hand is answered
        self.broken = False  # parsing stopped: an error answer is queued
        self._head_open = False  # a request head is arriving

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

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.queue and self.active is None and not self.lost:
            self._dispatch()  # the pipelined requests that waited for the client to read

    def send_timeout(self) -> float:
        return self.front.settings.send

    def send_stalled(self) -> None:
        self.front.send_timed_out(self)
        super().send_stalled()

    # -- shutdown -------------------------------------------------------------------------
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
