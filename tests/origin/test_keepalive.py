"""Connections are reused only after a response read completely and cleanly (RFC 9112 §9.3);
anything the origin sends beyond its response, or while idle, discards the connection
(RFC 9112 §6.3: never processed, cached or forwarded as a response; issue 14)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from multidict import CIMultiDict

from edge.errors import UpstreamConnectError
from tests.origin.conftest import (
    Origin,
    OriginFactory,
    client,
    keep_alive,
    ok,
    read_all,
    settle,
)


async def get(c: Any, target: str = "/x", method: str = "GET") -> tuple[int, bytes]:
    resp = await c.fetch(method, target, CIMultiDict({"Host": "site.test"}))
    return resp.status, await read_all(resp)


async def test_sequential_requests_share_one_connection(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok(b"one")))
    pool = pools()
    c = client(origin, pool)
    for _ in range(5):
        assert await get(c) == (200, b"one")
    assert origin.connections == 1
    assert pool.stats()["reused"] == 4
    assert pool.stats()["idle"] == 1


async def test_request_head_is_host_first_then_the_fields_as_given(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok()))
    c = client(origin, pools())
    headers = CIMultiDict([("X-A", "1"), ("Host", "site.test"), ("x-a", "2"), ("Accept", "*/*")])
    headers["Content-Length"] = "5"  # no body is sent: the framing must not promise one
    resp = await c.fetch("GET", "/p?q=1", headers)
    await read_all(resp)
    _, req = origin.requests[0]
    assert req.raw_head == (
        b"GET /p?q=1 HTTP/1.1\r\nHost: site.test\r\nX-A: 1\r\nx-a: 2\r\nAccept: */*\r\n\r\n"
    )


async def test_a_second_unsolicited_response_discards_the_connection(
    make_origin: OriginFactory, pools: Any
) -> None:
    poison = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Poison: 1\r\n\r\npoison"

    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        conn_no = origin.connections
        while (req := await origin.next_request(reader, conn_no)) is not None:
            writer.write(ok(f"real {req.target}".encode()) + (poison if conn_no == 1 else b""))
            await writer.drain()

    origin = await make_origin(handler)
    pool = pools()
    c = client(origin, pool)
    assert await get(c, "/a") == (200, b"real /a")
    await settle()
    assert await get(c, "/b") == (200, b"real /b")  # never the poison
    assert [n for n, _ in origin.requests] == [1, 2]
    assert pool.stats()["reused"] == 0


async def test_bytes_while_idle_discard_the_connection(
    make_origin: OriginFactory, pools: Any
) -> None:
    late = asyncio.Event()

    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        conn_no = origin.connections
        while (req := await origin.next_request(reader, conn_no)) is not None:
            writer.write(ok(req.target.encode()))
            await writer.drain()
            if conn_no == 1:
                await asyncio.sleep(0.05)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npoison")
                await writer.drain()
                late.set()

    origin = await make_origin(handler)
    pool = pools()
    c = client(origin, pool)
    assert await get(c, "/a") == (200, b"/a")
    await late.wait()
    await asyncio.sleep(0.05)
    assert pool.stats()["idle"] == 0  # read while idle: closed at once
    assert await get(c, "/b") == (200, b"/b")
    assert [n for n, _ in origin.requests] == [1, 2]


async def test_unread_bytes_in_the_socket_are_found_before_reuse(
    make_origin: OriginFactory, pools: Any
) -> None:
    """Bytes the loop has not read yet are caught by a poll before a request is sent."""
    origin = await make_origin(keep_alive(ok(b"a")))
    pool = pools()
    c = client(origin, pool)
    assert await get(c) == (200, b"a")
    (conn,) = next(iter(pool._idle.values()))
    assert conn.transport is not None
    conn.transport.pause_reading()  # the loop will not see what arrives now
    origin.writers[0].write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npoison")
    await asyncio.sleep(0.05)
    assert pool.stats()["idle"] == 1
    assert await get(c) == (200, b"a")
    assert origin.connections == 2


async def test_connection_close_is_not_reused(make_origin: OriginFactory, pools: Any) -> None:
    origin = await make_origin(keep_alive(ok(b"x", "Connection: close\r\n")))
    pool = pools()
    c = client(origin, pool)
    assert await get(c) == (200, b"x")
    assert await get(c) == (200, b"x")
    assert origin.connections == 2
    assert pool.stats()["open"] <= 1


async def test_http10_response_is_not_reused(make_origin: OriginFactory, pools: Any) -> None:
    origin = await make_origin(keep_alive(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"))
    c = client(origin, pools())
    assert await get(c) == (200, b"x")
    assert await get(c) == (200, b"x")
    assert origin.connections == 2


async def test_a_body_left_unread_closes_the_connection(
    make_origin: OriginFactory, pools: Any
) -> None:
    big = b"y" * (1 << 20)
    origin = await make_origin(keep_alive(ok(big)))
    pool = pools()
    c = client(origin, pool)
    resp = await c.fetch("GET", "/big", CIMultiDict())
    resp.close()
    await settle()
    assert await get(c, "/big") == (200, big)
    assert origin.connections == 2


async def test_stale_kept_alive_connection_is_retried_once_for_a_get(
    make_origin: OriginFactory, pools: Any
) -> None:
    """The origin closes a kept-alive connection as the request arrives (RFC 9112 §9.3.1)."""

    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        conn_no = origin.connections
        n = 0
        while await origin.next_request(reader, conn_no) is not None:
            n += 1
            if conn_no == 1 and n == 2:
                return  # close without answering the second request
            writer.write(ok(b"fine"))
            await writer.drain()

    origin = await make_origin(handler)
    c = client(origin, pools())
    assert await get(c) == (200, b"fine")
    assert await get(c) == (200, b"fine")
    assert origin.connections == 2


async def test_stale_connection_is_not_retried_for_a_post(
    make_origin: OriginFactory, pools: Any
) -> None:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        conn_no = origin.connections
        n = 0
        while await origin.next_request(reader, conn_no) is not None:
            n += 1
            if n == 2:
                return
            writer.write(ok(b"fine"))
            await writer.drain()

    origin = await make_origin(handler)
    c = client(origin, pools())
    assert await get(c) == (200, b"fine")

    async def body() -> Any:
        yield b"data"

    with pytest.raises(UpstreamConnectError):
        await c.fetch("POST", "/x", CIMultiDict({"Content-Length": "4"}), body())
    assert origin.connections == 1


async def test_refused_connection_is_a_connect_error(pools: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from edge.origin.client import OriginClient
    from tests.origin.conftest import BASE

    c = OriginClient(BASE, pools(), url=f"http://127.0.0.1:{port}")
    with pytest.raises(UpstreamConnectError, match="cannot connect"):
        await c.fetch("GET", "/", CIMultiDict())
