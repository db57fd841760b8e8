"""Shared fixtures: a real origin stub and a real edge node on 127.0.0.1, one fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import hypothesis  # noqa: F401  (imported early: CPython 3.11.7 trips on a lazy import at exit)
import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from edge.clock import FakeClock
from edge.config import Config
from edge.runtime.node import Node, open_node
from edge.runtime.server import handler_kwargs, make_proxy
from origin_stub.app import make_app as make_origin_app

START = 1_769_817_600.0  # 2026-01-31T00:00:00Z, a month after the stub's Last-Modified


@dataclass
class Edge:
    """An edge node in front of an origin stub, both in this process."""

    client: TestClient[Any, Any]
    node: Node
    origin: TestServer
    clock: FakeClock

    async def get(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.client.get(path, **kw)

    async def origin_count(self, path: str) -> int:
        async with aiohttp.ClientSession() as s:
            async with s.get(self.origin.make_url("/__origin/stats")) as r:
                counts: dict[str, int] = (await r.json())["counts"]
        return counts.get(path, 0) or counts.get(URL(path).raw_path_qs, 0)

    async def origin_post(self, path: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(self.origin.make_url(path)) as r:
                assert r.status < 400

    async def settle(self) -> None:
        """Wait for background fills (stale-while-revalidate) to end."""
        await self.node.engine.fetcher.drain()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def origin(aiohttp_server: Any, clock: FakeClock) -> TestServer:
    server: TestServer = await aiohttp_server(make_origin_app(clock=clock.now))
    return server


EdgeFactory = Callable[..., Any]


@pytest.fixture
async def make_edge(
    aiohttp_client: Any,
    aiohttp_raw_server: Any,
    origin: TestServer,
    clock: FakeClock,
    tmp_path: Any,
) -> AsyncIterator[EdgeFactory]:
    stack: list[Any] = []

    async def factory(cfg: Config | None = None, **origin_kw: Any) -> Edge:
        base = cfg or Config()
        cfg = replace(
            base,
            origin=replace(base.origin, url=str(origin.make_url("")).rstrip("/"), **origin_kw),
            cache=replace(base.cache, dir=str(tmp_path / f"cache{len(stack)}")),
        )
        ctx = open_node(cfg, clock=clock)
        node = await ctx.__aenter__()
        stack.append(ctx)
        app = make_proxy(node)
        # the production handler settings (aiohttp's TestServer(...) would drop them)
        server = await aiohttp_raw_server(app, **handler_kwargs(cfg))
        client = await aiohttp_client(server, auto_decompress=False)
        return Edge(client, node, origin, clock)

    yield factory
    for ctx in reversed(stack):
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def edge(make_edge: EdgeFactory) -> Edge:
    e: Edge = await make_edge()
    return e
