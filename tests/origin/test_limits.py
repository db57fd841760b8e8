"""Timeouts (connect, first byte, idle mid-body) with small configured values, and the pool's
limits (``origin.max_connections``, ``max_connections_per_host``, ``keepalive_timeout``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from multidict import CIMultiDict

from edge.errors import UpstreamTimeout
from edge.origin.client import OriginClient
from tests.origin.conftest import BASE, Origin, OriginFactory, client, keep_alive, ok, read_all


async def test_first_byte_timeout(make_origin: OriginFactory, pools: Any) -> None:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await origin.next_request(reader, 1)
        await asyncio.sleep(5)

    origin = await make_origin(handler)
    pool = pools()
    c = client(origin, pool, first_byte_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="did not answer within 0.2s"):
        await c.fetch("GET", "/", CIMultiDict())
    assert time.monotonic() - started < 1.0
    await asyncio.sleep(0)
    assert pool.stats()["open"] == 0


async def test_read_timeout_mid_body(make_origin: OriginFactory, pools: Any) -> None:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await origin.next_request(reader, 1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(5)

    origin = await make_origin(handler)
    resp = await client(origin, pools(), read_timeout=0.2).fetch("GET", "/", CIMultiDict())
    got = []
    with pytest.raises(UpstreamTimeout, match="idle for more than 0.2s"):
        async for chunk in resp.chunks():
            got.append(chunk)
    assert got == [b"half"]


async def test_connect_timeout_covers_the_tls_handshake(
    make_origin: OriginFactory, pools: Any
) -> None:
    async def silent(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await asyncio.sleep(5)  # accepts, never speaks TLS

    origin = await make_origin(silent)
    pool = pools(connect_timeout=0.2)
    c = OriginClient(BASE, pool, url=f"https://127.0.0.1:{origin.port}")
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="cannot connect"):
        await c.fetch("GET", "/", CIMultiDict())
    assert time.monotonic() - started < 1.0


async def test_max_connections_bounds_concurrent_requests(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok(b"slow"), delay=0.05))
    pool = pools(max_connections=2)
    c = client(origin, pool)

    async def one() -> bytes:
        return await read_all(await c.fetch("GET", "/", CIMultiDict()))

    assert await asyncio.gather(*(one() for _ in range(8))) == [b"slow"] * 8
    assert origin.peak <= 2
    assert origin.connections == 2  # the waiters were handed the kept-alive connections


async def test_max_connections_per_host(make_origin: OriginFactory, pools: Any) -> None:
    a = await make_origin(keep_alive(ok(b"a"), delay=0.05))
    b = await make_origin(keep_alive(ok(b"b"), delay=0.05))
    pool = pools(max_connections=0, max_connections_per_host=1)
    ca, cb = client(a, pool), client(b, pool)

    async def one(c: Any) -> bytes:
        return await read_all(await c.fetch("GET", "/", CIMultiDict()))

    results = await asyncio.gather(*(one(c) for c in (ca, cb, ca, cb, ca, cb)))
    assert sorted(results) == [b"a"] * 3 + [b"b"] * 3
    assert a.peak == 1 and b.peak == 1


async def test_waiting_for_a_connection_is_bounded_by_the_first_byte_timeout(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok(b"slow"), delay=0.5))
    pool = pools(max_connections=1)
    c = client(origin, pool, first_byte_timeout=0.2)
    slow = asyncio.ensure_future(client(origin, pool).fetch("GET", "/", CIMultiDict()))
    await asyncio.sleep(0.05)
    with pytest.raises(UpstreamTimeout, match="no origin connection free"):
        await c.fetch("GET", "/", CIMultiDict())
    assert await read_all(await slow) == b"slow"


async def test_a_full_pool_makes_room_by_closing_another_hosts_idle_connection(
    make_origin: OriginFactory, pools: Any
) -> None:
    a = await make_origin(keep_alive(ok(b"a")))
    b = await make_origin(keep_alive(ok(b"b")))
    pool = pools(max_connections=1)
    assert await read_all(await client(a, pool).fetch("GET", "/", CIMultiDict())) == b"a"
    assert await read_all(await client(b, pool).fetch("GET", "/", CIMultiDict())) == b"b"
    assert pool.stats()["open"] == 1


async def test_idle_connections_close_after_the_keepalive_timeout(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok()))
    pool = pools(keepalive_timeout=0.1)
    c = client(origin, pool)
    await read_all(await c.fetch("GET", "/", CIMultiDict()))
    assert pool.stats()["idle"] == 1
    await asyncio.sleep(0.3)
    assert pool.stats() | {"opened": 0, "reused": 0} == {
        "open": 0,
        "idle": 0,
        "opened": 0,
        "reused": 0,
    }
    await read_all(await c.fetch("GET", "/", CIMultiDict()))
    assert origin.connections == 2


async def test_a_cancelled_fetch_gives_its_connection_up(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(ok(b"late"), delay=0.3))
    pool = pools(max_connections=1)
    c = client(origin, pool)
    task = asyncio.ensure_future(c.fetch("GET", "/", CIMultiDict()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert pool.stats()["open"] == 0  # never reused: its answer is still on the way
    assert await read_all(await c.fetch("GET", "/", CIMultiDict())) == b"late"


async def test_closing_the_pool_breaks_off_what_is_in_flight(
    make_origin: OriginFactory, pools: Any
) -> None:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        await origin.next_request(reader, 1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(5)

    origin = await make_origin(handler)
    pool = pools()
    resp = await client(origin, pool).fetch("GET", "/", CIMultiDict())
    await pool.close()
    with pytest.raises(Exception, match="broke off"):
        await read_all(resp)


async def test_a_fetch_cancelled_after_its_answer_arrived_leaves_the_connection_alone(
    make_origin: OriginFactory, pools: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is in and the connection handed on; the first request is cancelled
    before it resumes: the connection now carries the next request, and stays."""
    origin = await make_origin(keep_alive(ok(b"x"), delay=0.05))
    pool = pools(max_connections=1)
    c = client(origin, pool)
    first = asyncio.ensure_future(c.fetch("GET", "/1", CIMultiDict()))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(c.fetch("GET", "/2", CIMultiDict()))  # waits for the one
    release = pool.release

    def release_then_cancel(conn: Any, reusable: bool) -> None:
        release(conn, reusable)
        first.cancel()  # before the first fetch resumes from its (done) head

    monkeypatch.setattr(pool, "release", release_then_cancel)
    with pytest.raises(asyncio.CancelledError):
        await first
    monkeypatch.setattr(pool, "release", release)
    assert await read_all(await second) == b"x"
    assert origin.connections == 1
