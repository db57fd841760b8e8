"""How many client connections one process holds open on the proxy port (``proxy.max_connections``).

A few thousand sockets that never send a request would otherwise exhaust the
process's file descriptors, and with them the origin connections and cache files
every other client needs. Above the limit a new connection gets a fixed ``503``
with ``Retry-After`` (nothing is read from it) and is closed at once; it is counted
in ``/stats`` (``connections_refused``) and ``/metrics``.

The limit is per process (each worker has its own) and never more than the
descriptors the process may open leave room for: ``RLIMIT_NOFILE`` less what the
origin pool and the cache files need (:data:`RESERVED_FDS`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from edge.config import Config
from edge.fronts.plain import status_line
from edge.policy.cache_status import cache_status
from edge.runtime.stats import Stats

log = logging.getLogger("edge.proxy")

#: descriptors kept for everything but client connections, beside origin.max_connections:
#: the listeners, the disk tier (SQLite, body files being read), spool files, logs
RESERVED_FDS = 256


def closing_answer(status: int, text: str, name: str, detail: str, *extra: str) -> bytes:
    """A whole answer written before anything is read, after which the connection closes."""
    body = text.encode("utf-8")
    fields = [
        f"HTTP/1.1 {status_line(status)}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        f"Cache-Status: {cache_status(name, hit=False, fwd='uri-miss', detail=detail)}",
        *extra,
        "Connection: close",
    ]
    return ("\r\n".join(fields) + "\r\n\r\n").encode("latin-1") + body


def refusal(name: str) -> bytes:
    """What a connection over the limit is sent before it closes (nothing is read from it)."""
    return closing_answer(503, "too many connections\n", name, "connection-limit", "Retry-After: 1")


def connection_limit(cfg: Config, nofile: int | None = None) -> int:
    """``proxy.max_connections``, lowered to what ``RLIMIT_NOFILE`` (soft) leaves room for."""
    wanted = cfg.proxy.max_connections
    if nofile is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        nofile = soft if soft != resource.RLIM_INFINITY else 1 << 20
    room = max(1, nofile - cfg.origin.max_connections - RESERVED_FDS)
    if wanted > room:
        log.warning(
            "proxy.max_connections %d is more than RLIMIT_NOFILE %d leaves room for: "
            "limiting client connections to %d (raise the process's open-files limit)",
            wanted,
            nofile,
            room,
        )
        return room
    return wanted


class LimitedServer(web.Server):
    """aiohttp's low-level server (the aiohttp front) with ``proxy.max_connections`` and a
    deadline for the first request's head.

    aiohttp arms its keep-alive timer when a connection opens and when a response ends,
    and a partial head does not re-arm it, so a head is bounded by
    ``proxy.timeouts.keepalive`` at most; here a connection that has not sent a whole
    first request head within ``proxy.timeouts.head`` of opening is answered 408 and
    closed too (nginx's ``client_header_timeout``). Later heads on a kept-alive
    connection stay bounded by the keep-alive timeout. The open-connection gauge, the
    refusals and the head timeouts are counted in the node's Stats, as the http1 front does.
    """

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        limit: int,
        head_timeout: float,
        stats: Stats,
        name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(self._handle, **kwargs)
        self._handler = handler
        self._limit = limit
        self._head_timeout = head_timeout
        self._stats = stats
        self._refusal = refusal(name)
        self._late = closing_answer(
            408, "request head not received in time\n", name, "client-error"
        )
        self._open: set[RequestHandler] = set()
        self._heads: dict[RequestHandler, asyncio.TimerHandle] = {}

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        timer = self._heads.pop(request.protocol, None)
        if timer is not None:
            timer.cancel()
        return await self._handler(request)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self._open) >= self._limit:
            self._stats.connections_refused += 1
            transport.write(self._refusal)
            transport.close()  # connection_lost follows; nothing is read
            return
        self._open.add(handler)
        self._stats.connections_open = len(self._open)
        loop = asyncio.get_running_loop()
        self._heads[handler] = loop.call_later(
            self._head_timeout, self._head_due, handler, transport
        )

    def _head_due(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        if self._heads.pop(handler, None) is not None and not transport.is_closing():
            self._stats.head_timeouts += 1
            transport.write(self._late)
            transport.close()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._open.discard(handler)
        timer = self._heads.pop(handler, None)
        if timer is not None:
            timer.cancel()
        self._stats.connections_open = len(self._open)
