"""Interim responses through a whole edge, on both fronts (issue 11: interim-*):
the 103 reaches the client that caused the origin request, before the final head; it is
never stored, never mixed into the final response, never sent to a collapsed follower or
an HTTP/1.0 client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from edge.clock import FakeClock
from edge.config import Config
from edge.runtime.node import open_node
from tests.conftest import FRONTS, START, start_front
from tests.origin.conftest import Origin, OriginFactory

HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nX-My-Header: test\r\n\r\n"


def answering(cache_control: str, delay: float = 0.0) -> Any:
    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        conn_no = origin.connections
        while await origin.next_request(reader, conn_no) is not None:
            writer.write(HINTS)
            await writer.drain()
            await asyncio.sleep(delay)
            body = b"final body"
            writer.write(
                b"HTTP/1.1 200 OK\r\nCache-Control: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (cache_control.encode(), len(body), body)
            )
            await writer.drain()

    return handler


Proxy = Callable[[Origin], Awaitable[int]]


@pytest.fixture(params=FRONTS)
async def proxy(
    request: pytest.FixtureRequest, tmp_path: Path, aiohttp_client: Any, aiohttp_raw_server: Any
) -> AsyncIterator[Proxy]:
    front = request.param
    closers: list[Any] = []

    async def start(origin: Origin) -> int:
        base = Config()
        cfg = replace(
            base,
            origin=replace(base.origin, url=origin.url),
            proxy=replace(base.proxy, front=front),
            cache=replace(base.cache, dir=str(tmp_path / "cache")),
        )
        ctx = open_node(cfg, clock=FakeClock(START))
        node = await ctx.__aenter__()
        closers.append(ctx)
        client = await start_front(front, node, cfg, aiohttp_client, aiohttp_raw_server)
        closers.append(client)
        return int(client.port if front == "http1" else client.server.port)

    yield start
    for item in reversed(closers):
        if hasattr(item, "__aexit__"):
            await item.__aexit__(None, None, None)
        else:
            await item.close()


async def exchange(port: int, path: str, version: str = "1.1") -> list[bytes]:
    """The heads (and final body) the client receives, in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/{version}\r\nHost: site.test\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    parts = raw.split(b"\r\n\r\n")
    return parts


async def test_103_reaches_the_client_first_and_is_never_stored(
    make_origin: OriginFactory, proxy: Proxy
) -> None:
    origin = await make_origin(answering("max-age=600"))
    port = await proxy(origin)
    first = await exchange(port, "/page")
    assert first[0].startswith(b"HTTP/1.1 103 Early Hints\r\n")
    assert b"Link: </s.css>; rel=preload" in first[0]
    assert first[1].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"x-my-header" not in first[1].lower()  # never mixed into the final response
    assert first[2] == b"final body"
    await asyncio.sleep(0.05)  # the fill commits
    second = await exchange(port, "/page")
    assert second[0].startswith(b"HTTP/1.1 200 OK\r\n")  # a hit: no interim, no hint fields
    assert b"hit" in second[0] and b"x-my-header" not in second[0].lower()
    assert len(origin.requests) == 1


async def test_103_on_a_pass(make_origin: OriginFactory, proxy: Proxy) -> None:
    origin = await make_origin(answering("no-store"))
    port = await proxy(origin)
    for _ in range(2):
        parts = await exchange(port, "/private")
        assert parts[0].startswith(b"HTTP/1.1 103 ")
        assert parts[1].startswith(b"HTTP/1.1 200 OK\r\n")


async def test_no_interim_to_an_http10_client(make_origin: OriginFactory, proxy: Proxy) -> None:
    origin = await make_origin(answering("no-store"))
    port = await proxy(origin)
    parts = await exchange(port, "/old", version="1.0")
    assert parts[0].split(b"\r\n")[0] in (b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK")
    assert b"103" not in b"".join(parts[:-1])


async def test_collapsed_followers_get_no_interim(make_origin: OriginFactory, proxy: Proxy) -> None:
    origin = await make_origin(answering("max-age=600", delay=0.2))
    port = await proxy(origin)
    starter = asyncio.ensure_future(exchange(port, "/herd"))
    await asyncio.sleep(0.05)  # the starter's fill is waiting for the final response
    followers = await asyncio.gather(*(exchange(port, "/herd") for _ in range(3)))
    first = await starter
    assert first[0].startswith(b"HTTP/1.1 103 ")
    for parts in followers:
        assert parts[0].startswith(b"HTTP/1.1 200 OK\r\n")
        assert parts[-1] == b"final body"
    assert len(origin.requests) == 1
