"""Small response helpers shared by the route modules."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

__all__ = ["drain_body", "has_body", "send_chunks"]

_EMPTY_STATUSES = frozenset({204, 304})


def has_body(request: web.Request, status: int) -> bool:
    """Whether a response to this request may carry content (RFC 9110 6.4.1)."""
    return request.method != "HEAD" and status >= 200 and status not in _EMPTY_STATUSES


async def send_chunks(
    request: web.Request, response: web.StreamResponse, chunks: Iterable[bytes]
) -> web.StreamResponse:
    """Send headers, then each chunk as its own write; the writer drains as it goes."""
    await response.prepare(request)
    if has_body(request, response.status):
        for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response


async def drain_body(request: web.Request) -> int:
    """Read and discard the request body chunk by chunk; return its size."""
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
    return size
