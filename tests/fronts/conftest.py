"""The http1 front on 127.0.0.1 with a manual timer source, and raw-socket helpers.

Timeouts run on :class:`ManualTimers`: a test moves time with ``rig.timers.advance``
instead of sleeping. Responses are read off the socket by a small HTTP/1.1 reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from edge.clock import FakeClock
from edge.config import Config
from edge.fronts.h1_server import H1Front
from edge.fronts.h1_settings import H1Settings, ManualTimers
from edge.runtime.node import Node, open_node

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    """Every front test on uvloop (what ``edge serve`` runs) and on asyncio's own loop."""
    import uvloop

    return {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


@dataclass
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None


async def read_answer(reader: asyncio.StreamReader, *, head_only: bool = False) -> Answer:
    """One response off the wire (Content-Length, chunked, or up to EOF)."""
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = raw[:-4].decode("latin-1").split("\r\n")
    _, code, *reason = lines[0].split(" ", 2)
    headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
    answer = Answer(int(code), reason[0] if reason else "", headers, b"", raw)
    status = answer.status
    if head_only or status in (204, 304) or status < 200:
        return answer
    length = answer.header("Content-Length")
    if length is not None:
        answer.body = await asyncio.wait_for(reader.readexactly(int(length)), 5)
    elif (answer.header("Transfer-Encoding") or "").lower() == "chunked":
        parts = []
        while True:
            size = int((await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)).strip(), 16)
            data = await asyncio.wait_for(reader.readexactly(size + 2), 5)
            if size == 0:
                break
            parts.append(data[:-2])
        answer.body = b"".join(parts)
    else:
        answer.body = await asyncio.wait_for(reader.read(), 5)
    return answer


async def closed(reader: asyncio.StreamReader, within: float = 5.0) -> bool:
    """Whether the server closes the connection (EOF, after whatever it still sends)."""
    try:
        while await asyncio.wait_for(reader.read(65536), within):
            pass
    except (ConnectionResetError, TimeoutError):
        return False
    return True


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    """Let the loop run until ``check()`` (socket events are not instantaneous)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


@dataclass
class Rig:
    node: Node
    front: H1Front
    timers: ManualTimers
    origin: TestServer
    clock: FakeClock

    @property
    def port(self) -> int:
        return self.front.port

    async def connect(self) -> Conn:
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def exchange(self, payload: bytes) -> tuple[list[Answer], bool]:
        """Send ``payload`` on a new connection; every answer until close, and whether closed."""
        reader, writer = await self.connect()
        writer.write(payload)
        answers: list[Answer] = []
        try:
            while True:
                answers.append(await read_answer(reader))
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        writer.close()
        return answers, True

    async def origin_count(self, path: str) -> int:
        async with aiohttp.ClientSession() as s:
            async with s.get(self.origin.make_url("/__origin/stats")) as r:
                counts: dict[str, int] = (await r.json())["counts"]
        return counts.get(path, 0)

    def busy_connections(self) -> int:
        return sum(1 for c in self.front.connections if c.active is not None)


RigFactory = Callable[..., Any]


@pytest.fixture
async def make_rig(
    origin: TestServer, clock: FakeClock, tmp_path: Any
) -> AsyncIterator[RigFactory]:
    stack: list[tuple[Any, H1Front]] = []

    async def factory(cfg: Config | None = None, **settings: Any) -> Rig:
        base = cfg or Config()
        cfg = replace(
            base,
            origin=replace(base.origin, url=str(origin.make_url("")).rstrip("/")),
            cache=replace(base.cache, dir=str(tmp_path / f"cache{len(stack)}")),
        )
        ctx = open_node(cfg, clock=clock)
        node = await ctx.__aenter__()
        timers = ManualTimers()
        front = H1Front(node, replace(H1Settings.from_config(cfg), **settings), timers=timers)
        await front.start("127.0.0.1", 0)
        stack.append((ctx, front))
        return Rig(node, front, timers, origin, clock)

    yield factory
    for ctx, front in reversed(stack):
        await front.stop(0.5)
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    r: Rig = await make_rig()
    return r


def get(path: str, *extra: str, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: edge.test", *extra, "", ""]
    return "\r\n".join(lines).encode("latin-1")
