"""Request bodies (RFC 9112 §6): Content-Length when known, chunked when not, streamed with
back-pressure; an early answer stops the upload; a body that breaks its length is not sent
as if it were whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from multidict import CIMultiDict

from edge.errors import ClientRequestError, RequestTooLarge, UpstreamError
from tests.origin.conftest import Origin, OriginFactory, client, keep_alive, ok, read_all


async def stream(*parts: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        if pause:
            await asyncio.sleep(pause)
        yield part


async def test_known_length_goes_with_content_length(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok(b"done")))
    c = client(origin, pools())
    headers = CIMultiDict({"Content-Length": "11", "Content-Type": "text/plain"})
    resp = await c.fetch("POST", "/up", headers, stream(b"hello", b" ", b"world"))
    assert await read_all(resp) == b"done"
    _, req = origin.requests[0]
    assert req.header("Content-Length") == "11" and not req.chunked
    assert req.body == b"hello world"
    await read_all(await c.fetch("GET", "/", CIMultiDict()))
    assert origin.connections == 1  # a whole upload and a whole answer: reused


async def test_unknown_length_goes_chunked(make_origin: OriginFactory, pools: Any) -> None:
    origin = await make_origin(keep_alive(ok(b"done")))
    c = client(origin, pools())
    resp = await c.fetch(
        "PUT", "/up", CIMultiDict(), stream(b"a" * 10, b"", b"b" * 70000, pause=0.01)
    )
    assert await read_all(resp) == b"done"
    _, req = origin.requests[0]
    assert req.chunked and req.header("Content-Length") is None
    assert req.body == b"a" * 10 + b"b" * 70000


async def test_post_without_body_says_content_length_zero(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok()))
    await read_all(await client(origin, pools()).fetch("POST", "/", CIMultiDict()))
    _, req = origin.requests[0]
    assert req.header("Content-Length") == "0"


async def test_a_body_shorter_than_its_length_is_an_error(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok()))
    with pytest.raises(UpstreamError, match="Content-Length said 10"):
        await client(origin, pools()).fetch(
            "POST", "/", CIMultiDict({"Content-Length": "10"}), stream(b"short")
        )


async def test_a_body_longer_than_its_length_is_refused(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok()))
    with pytest.raises(ClientRequestError, match="longer than its Content-Length"):
        await client(origin, pools()).fetch(
            "POST", "/", CIMultiDict({"Content-Length": "2"}), stream(b"toolong")
        )


async def test_the_clients_body_error_passes_through(
    make_origin: OriginFactory, pools: Any
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"some"
        raise RequestTooLarge("request body over 4 bytes")

    origin = await make_origin(keep_alive(ok()))
    with pytest.raises(RequestTooLarge):
        await client(origin, pools()).fetch("POST", "/", CIMultiDict(), broken())


async def test_an_early_answer_stops_the_upload(make_origin: OriginFactory, pools: Any) -> None:
    """The origin answers 413 after the head and stops reading (RFC 9112 §9.5)."""

    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig")
        await writer.drain()
        await asyncio.sleep(2)

    async def endless() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.01)
            yield b"x" * 65536

    origin = await make_origin(handler)
    pool = pools()
    resp = await client(origin, pool).fetch("POST", "/", CIMultiDict(), endless())
    assert resp.status == 413
    assert await read_all(resp) == b"big"
    assert pool.stats()["open"] == 0


async def test_upload_back_pressure(make_origin: OriginFactory, pools: Any) -> None:
    """An origin that reads nothing holds the upload back: the body is not read ahead."""
    produced = 0

    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.5)  # reads nothing meanwhile
        writer.write(ok(b"late"))
        await writer.drain()
        await asyncio.sleep(1)

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        while produced < (512 << 20):
            produced += 1 << 16
            yield b"x" * (1 << 16)

    origin = await make_origin(handler)
    resp = await client(origin, pools(), read_timeout=2.0).fetch(
        "POST", "/", CIMultiDict(), endless()
    )
    assert resp.status == 200
    assert produced < (64 << 20)  # the socket buffers, not the whole body
    assert await read_all(resp) == b"late"
