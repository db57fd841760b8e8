"""The origin client: one pooled ``ClientSession`` per app, errors mapped to edge's tree.

The session is built for a proxy, not a browser: no cookie jar (one client's
cookies must never reach another's request), no automatic decompression (bytes
pass through as the origin sent them), no redirects followed, and none of
aiohttp's default request headers added.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from multidict import CIMultiDict

from edge.config import OriginConfig
from edge.errors import (
    UpstreamBodyError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)
from edge.policy.headers import strip_hop_by_hop

CHUNK = 64 * 1024
_SKIP_AUTO = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


def make_session(cfg: OriginConfig) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=cfg.max_connections,
        limit_per_host=cfg.max_connections_per_host,
        keepalive_timeout=cfg.keepalive_timeout,
        enable_cleanup_closed=False,
    )
    timeout = aiohttp.ClientTimeout(
        total=None, connect=None, sock_connect=cfg.connect_timeout, sock_read=cfg.read_timeout
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=_SKIP_AUTO,
    )


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

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body, chunk by chunk; raises an UpstreamError if it breaks off.

        A body shorter (or longer) than its Content-Length is an error, never a clean end.
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

    def close(self) -> None:
        """Drop the connection without reading the rest (nobody wants the body)."""
        self.body.close()


@dataclass(slots=True)
class _WireBody:
    """An aiohttp response's body, with its errors mapped to edge's."""

    resp: aiohttp.ClientResponse
    read_timeout: float
    url: str

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        received = 0
        content = self.resp.content
        try:
            while True:
                async with asyncio.timeout(self.read_timeout):
                    chunk = await content.readany()
                if not chunk:
                    break
                received += len(chunk)
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(
                f"origin idle for more than {self.read_timeout:g}s mid-body: {self.url}"
            ) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            raise UpstreamBodyError(f"origin body broke off after {received} bytes: {exc}") from exc
        finally:
            self.resp.release()

    def close(self) -> None:
        self.resp.close()


class Upstream(Protocol):
    """What the engine fetches from: an :class:`OriginClient`, or a set of parents.

    ``key`` names the object (the unversioned cache key): a parent set routes
    on it; a single origin ignores it.
    """

    async def fetch(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None = None,
        *,
        key: str | None = None,
    ) -> OriginResponse: ...


class OriginClient:
    """Sends requests to one base URL: the origin, or one parent (shield).

    ``host`` replaces the client's Host header (``origin.preserve_host: false``);
    requests to a parent keep the client's Host so every tier keys alike.
    """

    def __init__(
        self,
        cfg: OriginConfig,
        session: aiohttp.ClientSession,
        *,
        url: str | None = None,
        host: str | None = None,
    ) -> None:
        self._cfg = cfg
        self._session = session
        self._base = (url or cfg.url).rstrip("/")
        self._host = host

    async def fetch(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None = None,
        *,
        key: str | None = None,  # which object: parents route on it; one origin ignores it
    ) -> OriginResponse:
        url = self._base + target
        cfg = self._cfg
        if self._host is not None:
            headers["Host"] = self._host
        try:
            # Time to first byte: without a request body the whole exchange up to the
            # response header must fit; with an upload, only the idle read timeout applies.
            deadline = cfg.first_byte_timeout if body is None else None
            async with asyncio.timeout(deadline):
                resp = await self._session.request(
                    method,
                    url,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    skip_auto_headers=_SKIP_AUTO,
                    compress=None,
                )
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamConnectError(f"cannot connect to origin {self._base}: {exc}") from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(f"origin did not answer in time: {method} {url}") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise UpstreamConnectError(f"origin closed the connection: {method} {url}") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"origin request failed: {method} {url}: {exc}") from exc
        resp_headers = strip_hop_by_hop(CIMultiDict(resp.headers))
        length: int | None = None
        if (
            method != "HEAD"
            and resp.status not in (204, 304)
            and "Transfer-Encoding" not in resp.headers
        ):
            cl = resp.headers.get("Content-Length")
            if cl is not None and cl.isdigit():
                length = int(cl)
        elif method == "HEAD" or resp.status in (204, 304):
            length = 0
        return OriginResponse(
            status=resp.status,
            reason=resp.reason or "",
            headers=resp_headers,
            content_length=length,
            body=_WireBody(resp, cfg.read_timeout, url),
        )
