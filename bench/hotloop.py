"""CPU time per fresh memory hit through the http1 front, in one process, no sockets.

``python -m bench hotloop`` starts a node over the origin stub, stores a 1 KiB object,
then feeds the front's :class:`~edge.fronts.h1_connection.Connection` the bytes of N requests as
``data_received`` would get them (one request per call, as wrk sends them) over a
transport that only counts what it is given. What it measures is edge's own Python
per hit (parser callbacks, hot path, template fill, the write call) without the kernel
or the event loop: process CPU time, so other load on a shared machine matters little.
A bare ``httptools`` protocol answering fixed bytes is measured the same way.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import replace
from typing import Any

import httptools
from aiohttp import web

from edge.clock import SystemClock
from edge.config import Config
from edge.fronts.h1_connection import Connection
from edge.fronts.h1_server import H1Front
from edge.runtime.node import open_node
from origin_stub.app import make_app

REQUEST = b"GET /static/hot.css HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\n\r\n"


class CountingTransport:
    """Enough of a transport for a protocol that only writes."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, data: Any) -> None:
        for d in data:
            self.written += len(d)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class Bare(asyncio.Protocol):
    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.url = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        self.url = b""
        self.transport.write(self.answer)


def _cpu_per_call(feed: Any, n: int) -> float:
    for _ in range(1000):
        feed(REQUEST)
    start = time.process_time()
    for _ in range(n):
        feed(REQUEST)
    return (time.process_time() - start) / n * 1e6


async def run(n: int) -> dict[str, float]:
    app = make_app()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cache = tempfile.mkdtemp(prefix="hotloop-")
    base = Config()
    cfg = replace(
        base,
        origin=replace(base.origin, url=f"http://127.0.0.1:{port}"),
        cache=replace(base.cache, dir=cache),
    )
    async with open_node(cfg, clock=SystemClock()) as node:
        front = H1Front(node)
        await front.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", front.port)
            for _ in range(3):  # miss, then hits once the fill has committed
                writer.write(REQUEST)
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(0.05)
            writer.close()
            conn = Connection(front)
            transport = CountingTransport()
            conn.connection_made(transport)  # type: ignore[arg-type]
            hits = node.meters.raw().stats["hits"]
            edge_us = _cpu_per_call(conn.data_received, n)
            got = node.meters.raw().stats["hits"] - hits
            assert got == n + 1000, f"{got} of {n + 1000} requests were hot hits"
            bare = Bare(b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n" + b"x" * 1024)
            bare.connection_made(CountingTransport())
            bare_us = _cpu_per_call(bare.data_received, n)
        finally:
            await front.stop(0.1)
    await runner.cleanup()
    return {"edge_us_per_hit": edge_us, "bare_us_per_request": bare_us, "ratio": bare_us / edge_us}


def main(argv: list[str] | None = None) -> int:
    n = int((argv or sys.argv[1:] or ["100000"])[0])
    import uvloop

    result = uvloop.run(run(n))
    print(json.dumps({k: round(v, 3) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
