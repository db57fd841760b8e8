"""Raw origins on 127.0.0.1 that send exactly the bytes a test scripts, and a pool for them.

Every test here runs on uvloop (what ``edge serve`` runs) and on asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from edge.config import OriginConfig
from edge.origin.client import OriginClient, OriginResponse
from edge.origin.pool import ConnectionPool


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    import uvloop

    return {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes
    chunked: bool

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request off the wire (Content-Length or chunked body); None at EOF."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = raw[:-4].decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
    req = Request(method, target, headers, b"", raw, False)
    length = req.header("Content-Length")
    if length is not None:
        req.body = await reader.readexactly(int(length))
    elif (req.header("Transfer-Encoding") or "").lower() == "chunked":
        req.chunked = True
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        req.body = b"".join(parts)
    return req


Handler = Callable[["Origin", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Origin:
    """A scripted server: ``handler`` runs once per connection."""

    handler: Handler
    port: int = 0
    connections: int = 0  # accepted, all time
    open_now: int = 0
    peak: int = 0  # most connections open at once
    requests: list[tuple[int, Request]] = field(default_factory=list)  # (connection no., req)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)  # one per connection
    tasks: list[Any] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def next_request(self, reader: asyncio.StreamReader, conn_no: int) -> Request | None:
        req = await read_request(reader)
        if req is not None:
            self.requests.append((conn_no, req))
        return req

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.tasks.append(asyncio.current_task())
        self.writers.append(writer)
        self.open_now += 1
        self.peak = max(self.peak, self.open_now)
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a cancelled handler ends normally: Python 3.11 logs a cancelled one
        finally:
            self.open_now -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def keep_alive(*answers: bytes, delay: float = 0.0) -> Handler:
    """Answer each request on a connection with the next of ``answers`` (the last repeats)."""

    async def handler(origin: Origin, reader: asyncio.StreamReader, writer: Any) -> None:
        conn_no = origin.connections
        n = 0
        while await origin.next_request(reader, conn_no) is not None:
            if delay:
                await asyncio.sleep(delay)
            writer.write(answers[min(n, len(answers) - 1)])
            await writer.drain()
            n += 1

    return handler


def ok(body: bytes = b"hello", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


OriginFactory = Callable[[Handler], Awaitable[Origin]]


@pytest.fixture
async def make_origin() -> AsyncIterator[OriginFactory]:
    started: list[Origin] = []

    async def start(handler: Handler) -> Origin:
        origin = Origin(handler)
        origin.server = await asyncio.start_server(origin._serve, "127.0.0.1", 0)
        origin.port = origin.server.sockets[0].getsockname()[1]
        started.append(origin)
        return origin

    yield start
    for origin in started:
        assert origin.server is not None
        origin.server.close()
        for task in origin.tasks:
            task.cancel()
    await asyncio.gather(*(t for o in started for t in o.tasks), return_exceptions=True)


BASE = OriginConfig(
    connect_timeout=1.0, first_byte_timeout=1.0, read_timeout=1.0, keepalive_timeout=5.0
)


@pytest.fixture
async def pools() -> AsyncIterator[Callable[..., ConnectionPool]]:
    made: list[ConnectionPool] = []

    def make(cfg: OriginConfig = BASE, **kw: Any) -> ConnectionPool:
        pool = ConnectionPool(replace(cfg, **kw) if kw else cfg)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        await pool.close()


def client(
    origin: Origin, pool: ConnectionPool, cfg: OriginConfig = BASE, **kw: Any
) -> OriginClient:
    return OriginClient(replace(cfg, **kw) if kw else cfg, pool, url=origin.url)


async def read_all(resp: OriginResponse) -> bytes:
    return b"".join([chunk async for chunk in resp.chunks()])


async def settle() -> None:
    """Let the loop run the callbacks a close or a release scheduled."""
    for _ in range(5):
        await asyncio.sleep(0)
