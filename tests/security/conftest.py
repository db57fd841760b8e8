"""The origin stub plus ``/reflect``: a cacheable page that echoes what the origin was sent.

An origin that reflects request fields into a stored response is what a cache-poisoning
attack needs; each test sends the attacker's request, then a clean one for the same URL,
and fails if the clean client sees the attacker's words.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edge.clock import FakeClock
from origin_stub.app import make_app as make_origin_app

REFLECTED = ("method", "path", "host", "body")


async def _reflect(request: web.Request) -> web.Response:
    body = await request.read()
    payload = {
        "method": request.method,
        "path": request.raw_path,
        "host": request.headers.get("Host", ""),
        "body": body.decode("latin-1"),
        "headers": {k: v for k, v in request.headers.items()},
    }
    return web.Response(
        text=json.dumps(payload),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=600"},
    )


@pytest.fixture
async def origin(aiohttp_server: Any, clock: FakeClock) -> TestServer:
    app = make_origin_app(clock=clock.now)
    app.router.add_route("*", "/reflect/{name}", _reflect)
    server: TestServer = await aiohttp_server(app)
    return server


def proxy_port(edge: Any) -> int:
    port: int = edge.client.port
    return port


async def raw(port: int, data: bytes, *, within: float = 5.0) -> bytes:
    """Send ``data`` on a new connection; everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        out = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - loop.time())
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    """The status code of the first response in ``answer`` (0 when nothing came)."""
    if not answer.startswith(b"HTTP/1."):
        return 0
    return int(answer.split(b" ", 2)[1])
