"""Hostile input from raw sockets (issue 14 item 2), on both fronts.

Invalid Host values, CONNECT, asterisk-form, absolute-form naming another host, a GET or
HEAD with a body, the default request-body limit: each a clear 4xx (or a local answer),
never a 5xx, never a request that reaches an origin edge was not configured with.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edge.config import Config, RouteConfig
from tests.security.conftest import proxy_port, raw, status_of

BAD_HOSTS = (
    b"attack.test@evil.invalid",
    b"attack test",
    b"attack.test/evil",
    b"attack.t\xed\xa0\x80est",  # a lone surrogate, as UTF-8 bytes
    b"attack.test:80:80",
    b"attack.test\\evil",
    b"[::1",
    b"attack.test%2fevil",
)


@pytest.mark.parametrize("host", BAD_HOSTS, ids=[h.decode("latin-1") for h in BAD_HOSTS])
async def test_an_invalid_host_is_400(edge: Any, host: bytes) -> None:
    for request in (
        b"GET /echo HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: " + host + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
    ):
        answer = await raw(proxy_port(edge), request)
        assert status_of(answer) == 400, answer[:200]
    assert await edge.origin_count("/echo") == 0


async def test_options_asterisk_is_answered_locally(edge: Any) -> None:
    answer = await raw(
        proxy_port(edge), b"OPTIONS * HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
    )
    assert status_of(answer) == 200
    assert b"\r\nallow: " in answer.lower()
    answer = await raw(
        proxy_port(edge), b"GET * HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
    )
    assert status_of(answer) == 400


async def test_connect_is_refused_and_closed(edge: Any) -> None:
    answer = await raw(
        proxy_port(edge),
        b"CONNECT evil.invalid:443 HTTP/1.1\r\nHost: evil.invalid:443\r\n\r\n"
        b"\x16\x03\x01 tunnel bytes",
    )
    assert status_of(answer) == 400
    assert answer.count(b"HTTP/1.") == 1  # closed after it: the tunnel bytes are not read


async def test_absolute_form_never_makes_edge_an_open_proxy(edge: Any) -> None:
    """The target's authority never chooses where edge connects: only the origin does."""
    answer = await raw(
        proxy_port(edge),
        b"GET http://127.0.0.1:9/echo HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n",
    )
    assert status_of(answer) == 200  # port 9 (discard) was never asked: the origin answered
    assert await edge.origin_count("/echo") == 1


async def test_a_get_or_head_body_leaves_nobody_waiting(edge: Any) -> None:
    for method in (b"GET", b"HEAD"):
        body = b"hello" * 1000
        request = (
            method + b" /echo HTTP/1.1\r\nHost: a.test\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        then = b"GET /echo?second HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        answer = await raw(proxy_port(edge), request + then)
        assert answer.count(b"HTTP/1.1 200") == 2, answer[:300]
        assert b"hellohello" not in answer  # neither forwarded nor read as a request


async def test_request_body_default_is_one_mib(edge: Any) -> None:
    assert edge.node.cfg.proxy.max_request_body == 1 << 20
    answer = await raw(
        proxy_port(edge),
        b"POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1073741824\r\n\r\n",
    )
    assert status_of(answer) == 413
    small = b"x" * 1000
    answer = await raw(
        proxy_port(edge),
        b"POST /upload HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n"
        b"Content-Length: 1000\r\n\r\n" + small,
    )
    assert status_of(answer) == 200


async def test_a_route_limit_refuses_a_declared_length_before_reading_and_closes(
    make_edge: Any, front: str
) -> None:
    """routes[].max_request_body: 413 on the head alone, and the connection closes unread
    (the aiohttp front lingers for the rest of the upload first, as aiohttp does)."""
    route = RouteConfig(hosts=("up.test",), max_request_body=4096)
    edge = await make_edge(Config(routes=(route,)))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port(edge))
    writer.write(b"POST /upload HTTP/1.1\r\nHost: up.test\r\nContent-Length: 5000\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert status_of(head) == 413 and b"\r\nConnection: close\r\n" in head
    if front == "http1":
        await asyncio.wait_for(reader.read(), 5)  # EOF: nothing of the body was waited for
    writer.close()
    assert await edge.origin_count("/upload") == 0
    body = b"x" * 5000  # another host: the global limit (1 MiB)
    answer = await raw(
        proxy_port(edge),
        b"POST /upload HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n"
        b"Content-Length: 5000\r\n\r\n" + body,
    )
    assert status_of(answer) == 200
