"""``proxy.timeouts.send`` on the aiohttp front, on the manual timer source: a client that
stops reading is disconnected once one write has waited that long, whether the body is
streamed from a fill or sent from a disk file; the fill goes on for the others."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from edge.clock import FakeClock
from edge.config import Config
from edge.fronts.aio import ProxyFront
from edge.fronts.h1_settings import ManualTimers
from edge.runtime.node import Node, open_node
from edge.runtime.server import handler_kwargs
from tests.fronts.conftest import Answer, read_answer, until

SEND = 5.0
BIG = "/big/16MiB"  # over the memory tier's objects: a stream on a miss, a file on a hit


@dataclass
class AioRig:
    node: Node
    front: ProxyFront
    timers: ManualTimers
    port: int


@pytest.fixture
async def rig(
    aiohttp_raw_server: Any, origin: TestServer, clock: FakeClock, tmp_path: Any
) -> AsyncIterator[AioRig]:
    base = Config()
    cfg = replace(
        base,
        origin=replace(base.origin, url=str(origin.make_url("")).rstrip("/")),
        proxy=replace(base.proxy, front="aiohttp"),
        cache=replace(base.cache, dir=str(tmp_path / "cache")),
    )
    async with open_node(cfg, clock=clock) as node:
        timers = ManualTimers()
        front = ProxyFront(
            node.engine,
            name=cfg.name,
            max_request_body=cfg.proxy.max_request_body,
            meters=node.meters,
            stats=node.stats,
            send_timeout=SEND,
            timers=timers,
        )
        server = await aiohttp_raw_server(front, **handler_kwargs(cfg, front))
        yield AioRig(node, front, timers, server.port)
        await server.close()


async def _stalled_client(rig: AioRig) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client with a small receive buffer that asks for BIG and reads nothing, once the
    front's writes to it have stopped (no write begun for a while, its timer armed)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", rig.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(f"GET {BIG} HTTP/1.1\r\nHost: edge.test\r\n\r\n".encode())
    guard = rig.front.send
    while True:
        await until(lambda: rig.timers.pending == 1, within=20)
        begun = guard.writes
        await asyncio.sleep(0.2)  # the loop runs: a writer that can go on does
        if guard.writes == begun and rig.timers.pending == 1:
            return reader, writer


async def _taken(reader: asyncio.StreamReader) -> int:
    """What the client still gets, up to the end of the connection (which must come)."""
    got = 0
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
            got += len(chunk)
    except ConnectionResetError:
        pass
    return got


async def _whole(rig: AioRig) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(f"GET {BIG} HTTP/1.1\r\nHost: edge.test\r\n\r\n".encode())
    answer = await asyncio.wait_for(read_answer(reader), 30)
    writer.close()
    return answer


async def test_a_client_that_stops_reading_is_disconnected(rig: AioRig) -> None:
    stats = rig.node.stats
    for n in (1, 2):  # first a miss (a stream from the fill), then a hit (its disk file)
        reader, writer = await _stalled_client(rig)
        rig.timers.advance(SEND - 1)
        await asyncio.sleep(0.05)
        assert stats.send_timeouts == n - 1
        rig.timers.advance(1.5)
        assert await _taken(reader) < 16 << 20  # cut off: never the whole body
        assert stats.send_timeouts == n
        writer.close()
        await rig.node.engine.fills.drain()
        answer = await _whole(rig)  # the fill went on: the object is whole in the cache
        assert len(answer.body) == 16 << 20
        assert "hit" in (answer.header("Cache-Status") or "")
