"""The origin client: HTTP/1.1 over httptools on a keep-alive pool, behind ``Upstream``.

Built for a proxy, not a browser: no cookie jar, no decompression (bytes pass through as the
origin sent them), no redirects followed, no default request fields added; the fields go as
the proxy gave them, with ``Host`` first and the framing edge chose (:mod:`.request`).
Responses stream (:mod:`.connection`) with back-pressure; connections are kept alive and
reused only when that is safe (:mod:`.pool`). Errors are edge's own at this boundary:
:class:`UpstreamConnectError` (refused, reset, DNS, TLS, closed before answering),
:class:`UpstreamTimeout` (connect, first byte, idle mid-body), :class:`UpstreamBodyError`
(broke off), :class:`UpstreamError` (a malformed response).

Timeouts (``origin.*``): ``connect_timeout`` for the TCP and TLS handshakes;
``first_byte_timeout`` from the start of a request without a body (waiting for a free
connection included) to its response head, or from the end of an upload to the head;
``read_timeout`` for every idle gap of the body, and of the upload's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from multidict import CIMultiDict

from edge.config import OriginConfig
from edge.errors import UpstreamBodyError, UpstreamConnectError
from edge.origin.connection import OriginConnection
from edge.origin.exchange import Exchange, InterimSink, StaleConnection
from edge.origin.pool import ConnectionPool, Key
from edge.origin.request import declared_length, request_head, send_body

__all__ = ["InterimSink", "OriginClient", "OriginResponse", "ResponseBody", "Upstream"]

#: RFC 9110 §9.2.2; without a body such a request may be sent again (RFC 9112 §9.3.1)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class ResponseBody(Protocol):
    """Where an origin response's body comes from: the wire, or a test's fake upstream."""

    def chunks(self) -> AsyncGenerator[bytes, None]:
        """The bytes as they arrive; raises an UpstreamError if they break off."""
        ...

    def close(self) -> None:
        """Drop the rest unread (the connection is not reused)."""
        ...


@dataclass(slots=True)
class OriginResponse:
    """Status and headers from the origin; the body is read with :meth:`chunks`."""

    status: int
    reason: str
    headers: CIMultiDict[str]  # hop-by-hop fields already removed
    content_length: int | None
    body: ResponseBody
    # seconds from sending the request to this head, when measured (edge.telemetry.upstream)
    elapsed: float | None = None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body, chunk by chunk; raises an UpstreamError if it breaks off.

        A body shorter than its Content-Length is an error, never a clean end; the wire
        client never yields more than it (RFC 9112 §6.3), a fake upstream might.
        """
        received = 0
        async with contextlib.aclosing(self.body.chunks()) as chunks:
            async for chunk in chunks:
                received += len(chunk)
                yield chunk
        if self.content_length is not None and received != self.content_length:
            raise UpstreamBodyError(
                f"origin body had {received} bytes, Content-Length said {self.content_length}"
            )

    def arrived(self) -> bytes | None:
        """The whole body if it has arrived already (a small response often comes with its
        head), taken at once instead of read with :meth:`chunks`; else None."""
        body = self.body
        return body.arrived() if isinstance(body, Exchange) else None

    def close(self) -> None:
        """Drop the connection without reading the rest (nobody wants the body)."""
        self.body.close()


class Upstream(Protocol):
    """What the engine fetches from: an :class:`OriginClient`, or a set of parents.

    ``key`` names the object (the unversioned cache key): a parent set routes on it; a
    single origin ignores it. ``on_interim`` receives each 1xx interim response (RFC 9110
    §15.2: status and fields) before the final one is returned; its fields are never part
    of the final response.
    """

    async def fetch(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None = None,
        *,
        key: str | None = None,
        on_interim: InterimSink | None = None,
    ) -> OriginResponse: ...


def origin_key(url: str) -> tuple[Key, str, str]:
    """(pool key, path prefix, authority for Host) of an ``http(s)://host[:port][/prefix]``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == default else f"{shown}:{port}"
    return (scheme, host, port), parts.path.rstrip("/"), authority


class OriginClient:
    """Sends requests to one base URL: the origin, or one parent (shield).

    ``host`` replaces the client's Host header (``origin.preserve_host: false``); requests
    to a parent keep the client's Host so every tier keys alike.
    """

    def __init__(
        self,
        cfg: OriginConfig,
        pool: ConnectionPool,
        *,
        url: str | None = None,
        host: str | None = None,
    ) -> None:
        self._cfg = cfg
        self._pool = pool
        self._url = (url or cfg.url).rstrip("/")
        self._key, self._prefix, self._authority = origin_key(self._url)
        self._host = host

    async def fetch(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None = None,
        *,
        key: str | None = None,  # which object: parents route on it; one origin ignores it
        on_interim: InterimSink | None = None,
    ) -> OriginResponse:
        cfg = self._cfg
        host = self._host or headers.get("Host") or self._authority
        length = declared_length(headers) if body is not None else None
        head = request_head(
            method, self._prefix + target, host, headers, body=body is not None, length=length
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.first_byte_timeout
        retry = body is None and method in _IDEMPOTENT
        fresh = False
        while True:
            budget = deadline - loop.time() if body is None else cfg.first_byte_timeout
            conn = await self._pool.acquire(self._key, within=budget, fresh=fresh)
            ex = conn.begin(
                head_only=method == "HEAD", on_interim=on_interim, read_timeout=cfg.read_timeout
            )
            try:
                conn.write(head)
                if body is not None:
                    await _upload(conn, ex, body, length)
                    deadline = loop.time() + cfg.first_byte_timeout
                await _head_of(conn, ex, deadline - loop.time(), cfg.first_byte_timeout)
            except StaleConnection:
                if retry and not fresh:
                    fresh = True  # RFC 9112 §9.3.1: once, on a new connection
                    continue
                raise UpstreamConnectError(
                    f"origin closed the connection before answering: {method} {self._url}{target}"
                ) from None
            except BaseException:
                conn.abandon(ex)
                raise
            return OriginResponse(ex.status, ex.reason, ex.headers, ex.content_length, ex)

    def busy(self) -> int:
        """Connections to this client's server opening or in an exchange, node-wide."""
        return self._pool.busy(self._key)

    def __repr__(self) -> str:
        return f"OriginClient({self._url!r})"


async def _head_of(conn: OriginConnection, ex: Exchange, seconds: float, limit: float) -> None:
    """Wait for the final response head, at most ``seconds`` (what is left of ``limit``)."""
    head = ex.head
    if not head.done():
        timer = conn.loop.call_later(max(seconds, 0.0), conn.head_timeout, ex, limit)
        try:
            await head
        finally:
            timer.cancel()
    head.result()


async def _upload(
    conn: OriginConnection, ex: Exchange, body: AsyncIterator[bytes], length: int | None
) -> None:
    """Send the request body while watching for an early answer (RFC 9112 §9.5 notes that a
    server may answer before the request is complete: the rest is then not sent, and the
    connection is not reused)."""
    conn.upload_done = False
    task = asyncio.get_running_loop().create_task(send_body(conn, body, length))
    try:
        await asyncio.wait((task, ex.head), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    if not task.done():  # an answer came first (or the exchange failed): stop sending
        task.cancel()
        task.add_done_callback(_retrieve)
        return
    error = task.exception()
    if error is not None and not _answered(
        ex
    ):  # an answer that came before the write failed is the one to give
        raise error


def _answered(ex: Exchange) -> bool:
    head = ex.head
    return head.done() and not head.cancelled() and head.exception() is None


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
