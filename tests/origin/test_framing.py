"""Response framing (RFC 9112 §6.3): Content-Length, chunked, close-delimited; bodiless
HEAD, 204 and 304; a body longer than its Content-Length; one that ends early; malformed
responses; back-pressure on a large body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from multidict import CIMultiDict

from edge.errors import UpstreamBodyError, UpstreamError
from edge.origin.exchange import HIGH_WATER
from tests.origin.conftest import Origin, OriginFactory, client, keep_alive, ok, read_all, settle

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
)


async def test_chunked_body_is_decoded_and_the_connection_reused(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(CHUNKED))
    pool = pools()
    c = client(origin, pool)
    for _ in range(2):
        resp = await c.fetch("GET", "/c", CIMultiDict())
        assert resp.content_length is None
        assert "Transfer-Encoding" not in resp.headers  # hop-by-hop (RFC 9110 §7.6.1)
        assert resp.headers["X-Kind"] == "chunked"
        assert await read_all(resp) == b"hello world"
    assert origin.connections == 1


async def test_connection_named_fields_are_removed(make_origin: OriginFactory, pools: Any) -> None:
    origin = await make_origin(
        keep_alive(ok(b"x", "Connection: X-Hop\r\nX-Hop: 1\r\nX-End: 2\r\n"))
    )
    resp = await client(origin, pools()).fetch("GET", "/", CIMultiDict())
    assert "X-Hop" not in resp.headers and "Connection" not in resp.headers
    assert resp.headers["X-End"] == "2"
    await read_all(resp)


async def test_body_longer_than_content_length_is_cut_there_and_not_reused(
    make_origin: OriginFactory, pools: Any
) -> None:
    """RFC 9112 §6.3: the response is its first Content-Length bytes; the rest is never
    read as anything, and the connection is closed."""

    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        conn_no = origin.connections
        while await origin.next_request(reader, conn_no) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345")
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(b"6789 and more")  # after the response, in a read of its own
            await writer.drain()

    origin = await make_origin(handler)
    pool = pools()
    c = client(origin, pool)
    resp = await c.fetch("GET", "/long", CIMultiDict())
    assert resp.content_length == 5
    assert await read_all(resp) == b"12345"
    await asyncio.sleep(0.05)
    resp = await c.fetch("GET", "/long", CIMultiDict())
    assert await read_all(resp) == b"12345"
    assert origin.connections == 2


async def test_extra_bytes_in_the_same_read_are_dropped(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef"))
    pool = pools()
    c = client(origin, pool)
    assert await read_all(await c.fetch("GET", "/", CIMultiDict())) == b"abc"
    await settle()
    assert pool.stats()["idle"] == 0
    assert await read_all(await c.fetch("GET", "/", CIMultiDict())) == b"abc"
    assert origin.connections == 2


async def test_early_close_mid_body_is_a_body_error(make_origin: OriginFactory, pools: Any) -> None:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await origin.next_request(reader, 1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()

    origin = await make_origin(handler)
    resp = await client(origin, pools()).fetch("GET", "/", CIMultiDict())
    with pytest.raises(UpstreamBodyError, match="broke off after 9 bytes of 100"):
        await read_all(resp)


async def test_early_close_mid_chunked_body_is_a_body_error(
    make_origin: OriginFactory, pools: Any
) -> None:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await origin.next_request(reader, 1)
        writer.write(CHUNKED[: CHUNKED.index(b"world")])
        await writer.drain()

    origin = await make_origin(handler)
    resp = await client(origin, pools()).fetch("GET", "/", CIMultiDict())
    with pytest.raises(UpstreamBodyError):
        await read_all(resp)


async def test_close_delimited_body_ends_with_the_connection(
    make_origin: OriginFactory, pools: Any
) -> None:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await origin.next_request(reader, 1)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Framing: none\r\n\r\nuntil")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b" the end")
        await writer.drain()

    origin = await make_origin(handler)
    pool = pools()
    resp = await client(origin, pool).fetch("GET", "/", CIMultiDict())
    assert resp.content_length is None
    assert await read_all(resp) == b"until the end"
    assert pool.stats()["open"] == 0


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: "e"\r\n\r\n',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["length", "chunked", "zero"],
)
async def test_head_response_ends_at_its_head_and_is_reused(
    make_origin: OriginFactory, pools: Any, answer: bytes
) -> None:
    origin = await make_origin(keep_alive(answer))
    c = client(origin, pools())
    for _ in range(3):
        resp = await c.fetch("HEAD", "/h", CIMultiDict())
        assert resp.status == 200 and resp.content_length == 0
        assert await read_all(resp) == b""
    assert origin.connections == 1


async def test_head_response_followed_by_a_body_is_not_reused(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"))
    c = client(origin, pools())
    for _ in range(2):
        resp = await c.fetch("HEAD", "/h", CIMultiDict())
        assert resp.headers["Content-Length"] == "4"
        assert await read_all(resp) == b""
    assert origin.connections == 2


@pytest.mark.parametrize("status", [204, 304])
async def test_204_and_304_have_no_body_whatever_they_say(
    make_origin: OriginFactory, pools: Any, status: int
) -> None:
    answer = f"HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n".encode()
    origin = await make_origin(keep_alive(answer, ok(b"next")))
    c = client(origin, pools())
    resp = await c.fetch("GET", "/", CIMultiDict())
    assert resp.status == status and resp.content_length == 0
    assert await read_all(resp) == b""
    assert await read_all(await c.fetch("GET", "/", CIMultiDict())) == b"next"
    assert origin.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["two-lengths", "cl-and-te", "obs-fold", "bare-lf", "not-http", "bad-chunk"],
)
async def test_malformed_response_is_an_upstream_error(
    make_origin: OriginFactory, pools: Any, answer: bytes
) -> None:
    origin = await make_origin(keep_alive(answer))
    with pytest.raises(UpstreamError):
        resp = await client(origin, pools()).fetch("GET", "/", CIMultiDict())
        await read_all(resp)


async def test_huge_response_head_is_refused(make_origin: OriginFactory, pools: Any) -> None:
    fields = "".join(f"X-{i}: {'v' * 100}\r\n" for i in range(1000))
    origin = await make_origin(keep_alive(f"HTTP/1.1 200 OK\r\n{fields}\r\n".encode()))
    with pytest.raises(UpstreamError, match="too large"):
        await client(origin, pools()).fetch("GET", "/", CIMultiDict())


async def test_a_large_body_is_read_with_back_pressure(
    make_origin: OriginFactory, pools: Any
) -> None:
    """While nobody reads the body, the socket is not read: the origin's writes block."""
    size = 64 << 20
    written = 0

    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        nonlocal written
        await origin.next_request(reader, 1)
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        block = b"z" * (1 << 16)
        while written < size:
            writer.write(block)
            await writer.drain()
            written += len(block)

    origin = await make_origin(handler)
    c = client(origin, pools(), read_timeout=5.0)
    resp = await c.fetch("GET", "/big", CIMultiDict())
    await asyncio.sleep(0.3)
    assert written < size // 2  # bounded by our buffer and the kernel's, not by the body
    ex = resp.body
    assert ex._size <= HIGH_WATER + (1 << 20)  # type: ignore[attr-defined]
    got = 0
    async for chunk in resp.chunks():
        got += len(chunk)
    assert got == size


async def test_a_body_that_came_with_its_head_is_taken_at_once(
    make_origin: OriginFactory, pools: Any
) -> None:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        conn_no = origin.connections
        while (req := await origin.next_request(reader, conn_no)) is not None:
            if req.target == "/slow":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(b"cd")
            else:
                writer.write(ok(b"all here"))
            await writer.drain()

    origin = await make_origin(handler)
    c = client(origin, pools())
    resp = await c.fetch("GET", "/fast", CIMultiDict())
    assert resp.arrived() == b"all here"
    resp = await c.fetch("GET", "/slow", CIMultiDict())
    assert resp.arrived() is None  # still arriving: it streams
    assert await read_all(resp) == b"abcd"
    assert origin.connections == 1
