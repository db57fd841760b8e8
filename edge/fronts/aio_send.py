"""Rendering a :class:`ProxyResponse` through aiohttp, every wait on the client bounded.

aiohttp's ``StreamResponse.write`` (and ``write_eof``) await the transport's drain: a
client that reads nothing keeps the handler waiting for ever, and with it the body it
reads (a fill's reader, an open file). Here every write that can wait runs under the
front's :class:`SendGuard`: a timer of the front's
:class:`~edge.fronts.h1_settings.Timers` (the loop's; :class:`ManualTimers` in tests) which
aborts the connection when one write has waited ``proxy.timeouts.send``. The write then
raises ``ConnectionResetError``, the body is let go of, and the fill goes on for others.

A write waits only while the client takes nothing (aiohttp drains above 64 KiB buffered),
so the bound is on a client taking no bytes, not on a slow one. A stored file goes out in
pread chunks through the response's writer: ``loop.sendfile`` does not exist on uvloop
(what ``edge serve`` runs), and where it does (asyncio's own loop) an aborted connection
under a native sendfile leaves the loop watching a closed descriptor.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

from edge.errors import EdgeError
from edge.fronts.h1_settings import Cancellable, LoopTimers, Timers
from edge.models import BytesBody, FileBody, ProxyResponse, StreamBody
from edge.runtime.stats import Stats

log = logging.getLogger("edge.proxy")

T = TypeVar("T")

# body bytes sent (aiohttp's body_length counts the head too)
BODY_BYTES = web.RequestKey("edge_body_bytes", int)
FILE_CHUNK = 256 * 1024
SMALL_BODY = 64 * 1024  # answers aiohttp writes whole without waiting (its drain limit)


class SendGuard:
    """``proxy.timeouts.send`` for the aiohttp front: a write that waits longer aborts."""

    __slots__ = ("seconds", "stats", "writes", "_timers")

    def __init__(self, seconds: float, stats: Stats, timers: Timers | None = None) -> None:
        self.seconds = seconds  # reloaded with the config (ProxyListener.apply)
        self.stats = stats
        self.writes = 0  # writes begun (tests see a stopped writer by it)
        self._timers = timers

    @property
    def timers(self) -> Timers:
        if self._timers is None:
            self._timers = LoopTimers(asyncio.get_running_loop())
        return self._timers

    def watch(self, request: web.BaseRequest) -> Watch:
        """The writes of one response (:meth:`Watch.close` when it is done)."""
        return Watch(self, request)

    def stalled(self, request: web.BaseRequest) -> bool:
        """Abort the connection of a write that waited too long; False when it is gone."""
        transport = request.transport
        if transport is None or transport.is_closing():
            return False  # gone already: the write raises on its own
        self.stats.send_timeouts += 1
        log.info(
            "client %s took no response bytes for %gs (proxy.timeouts.send): disconnected",
            request.remote,
            self.seconds,
        )
        transport.abort()
        return True


class Watch:
    """One response's writes under one lazy timer, as the http1 front's ``arm``: a write
    moves a deadline (a number, not a timer handle); the timer, when it fires early,
    re-arms for the rest, and stops while no write is waiting."""

    __slots__ = ("guard", "request", "task", "deadline", "writing", "handle", "fired")

    def __init__(self, guard: SendGuard, request: web.BaseRequest) -> None:
        self.guard = guard
        self.request = request
        self.task = asyncio.current_task()
        self.deadline = 0.0
        self.writing = False
        self.handle: Cancellable | None = None
        self.fired = False

    async def write(self, work: Awaitable[T]) -> T:
        """``work`` (a write, a drain); ``ConnectionResetError`` when it waited the
        timeout: the connection is aborted and the wait cancelled."""
        guard = self.guard
        guard.writes += 1
        timers = guard.timers
        self.deadline = timers.time() + guard.seconds
        self.writing = True
        if self.handle is None:
            self.handle = timers.call_later(guard.seconds, self._due)
        try:
            return await work
        except asyncio.CancelledError:
            if not self.fired or self.task is None:
                raise
            self.task.uncancel()
            raise ConnectionResetError("send timeout") from None
        finally:
            self.writing = False

    def _due(self) -> None:
        self.handle = None
        if not self.writing:
            return  # re-armed by the next write
        left = self.deadline - self.guard.timers.time()
        if left > 0:
            self.handle = self.guard.timers.call_later(left, self._due)
        elif self.guard.stalled(self.request) and self.task is not None:
            self.fired = True
            self.task.cancel()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


async def render(
    request: web.BaseRequest, resp: ProxyResponse, guard: SendGuard
) -> web.StreamResponse:
    body = resp.body
    no_body = request.method == "HEAD" or resp.status in (204, 304) or resp.status < 200
    if isinstance(body, BytesBody):
        small = web.Response(status=resp.status, reason=resp.reason or None, headers=resp.headers)
        if not no_body:
            small.body = body.data
        request[BODY_BYTES] = 0 if no_body else len(body.data)
        if no_body or len(body.data) <= SMALL_BODY:
            return small  # aiohttp writes it whole without waiting
        watch = guard.watch(request)  # its write may wait: bounded here
        try:
            await watch.write(small.prepare(request))
            await watch.write(small.write_eof())
        finally:
            watch.close()
        return small
    out = web.StreamResponse(status=resp.status, reason=resp.reason or None, headers=resp.headers)
    request[BODY_BYTES] = 0
    watch = guard.watch(request)
    try:
        if isinstance(body, StreamBody):
            return await _render_stream(request, out, body, no_body, watch)
        if isinstance(body, FileBody):
            return await _render_file(request, out, body, no_body, watch)
    finally:
        watch.close()
    raise TypeError(f"unknown body source {type(body).__name__}")


async def _render_stream(
    request: web.BaseRequest,
    out: web.StreamResponse,
    body: StreamBody,
    no_body: bool,
    watch: Watch,
) -> web.StreamResponse:
    chunks = body.chunks
    try:
        if no_body:
            async for _ in chunks:  # HEAD/304/204: nothing to send; release the upstream
                pass
            await out.prepare(request)
            return out
        if body.length is not None:
            out.content_length = body.length
        else:
            out.headers.popall("Content-Length", None)
            out.enable_chunked_encoding()
        await out.prepare(request)
        async for chunk in chunks:
            await watch.write(out.write(chunk))
            request[BODY_BYTES] += len(chunk)
        await watch.write(out.write_eof())
        return out
    except (ConnectionResetError, asyncio.CancelledError):
        raise  # the client went away (or was timed out), or shutdown
    except Exception as exc:
        if not out.prepared:
            raise
        # Headers are out: the only honest signal left is a broken connection.
        why = exc.message if isinstance(exc, EdgeError) else repr(exc)
        log.warning("aborting client response mid-body: %s", why)
        abort(request)
        return out
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _render_file(
    request: web.BaseRequest,
    out: web.StreamResponse,
    body: FileBody,
    no_body: bool,
    watch: Watch,
) -> web.StreamResponse:
    try:
        if not no_body:
            out.content_length = body.length
        await out.prepare(request)
        if not no_body and body.length:
            if request.transport is None:
                raise ConnectionResetError("client went away")
            sent = await _copy_file(request, out, body, watch)
            request[BODY_BYTES] = sent
            if sent != body.length:  # the file is shorter than its entry: never a clean end
                log.error("stored body short: sent %d of %d bytes; aborting", sent, body.length)
                abort(request)
                return out
        await watch.write(out.write_eof())
        return out
    finally:
        body.file.close()


async def _copy_file(
    request: web.BaseRequest, out: web.StreamResponse, body: FileBody, watch: Watch
) -> int:
    """The file region through the response's writer (no sendfile here); bytes sent."""
    fd, pos, end = body.file.fileno(), body.offset, body.offset + body.length
    while pos < end:
        chunk = await asyncio.to_thread(os.pread, fd, min(FILE_CHUNK, end - pos), pos)
        if not chunk:
            break
        pos += len(chunk)
        await watch.write(out.write(chunk))
    return pos - body.offset


def abort(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
