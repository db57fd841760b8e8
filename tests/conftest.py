"""Shared fixtures: a real origin stub and a real edge node on 127.0.0.1, one fake clock.

``make_edge`` (and ``edge``) run every test that uses them on both proxy fronts:
``http1`` (the real protocol server on port 0) and ``aiohttp`` (the fallback).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import hypothesis  # (imported early: CPython 3.11.7 trips on a lazy import at exit)
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from edge.clock import FakeClock
from edge.config import Config
from edge.fronts.h1_server import H1Front
from edge.runtime.access_log import AccessLog
from edge.runtime.node import Node, open_node
from edge.runtime.server import handler_kwargs, make_proxy
from origin_stub.app import make_app as make_origin_app

# Property tests assert what holds, never how fast: a per-example deadline only turns a loaded
# CI machine into a flaky run, so it is off; examples stay bounded by max_examples per test.
hypothesis.settings.register_profile(
    "edge",
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("edge")

START = 1_769_817_600.0  # 2026-01-31T00:00:00Z, a month after the stub's Last-Modified


FRONTS = ("http1", "aiohttp")

#: Test clients send no Accept-Encoding unless a test does (aiohttp's default would ask
#: for gzip and br, and edge compression would answer coded bytes): identity clients.
IDENTITY_CLIENT = ("Accept-Encoding",)


class FrontClient:
    """A client for the http1 front with the surface tests use of aiohttp's ``TestClient``."""

    def __init__(self, front: H1Front) -> None:
        self.front = front
        self.port = front.port
        self.host = "127.0.0.1"
        self._root = URL(f"http://127.0.0.1:{self.port}")
        self.session = aiohttp.ClientSession(
            auto_decompress=False,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            skip_auto_headers=IDENTITY_CLIENT,
        )

    def make_url(self, path: str) -> URL:
        url = URL(path)
        assert not url.absolute
        return self._root.join(url)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.session.request(method, self.make_url(path), **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def head(self, path: str, **kw: Any) -> Any:
        return self.request("HEAD", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    async def close(self) -> None:
        await self.session.close()
        await self.front.stop(0.5)


async def start_front(
    front: str,
    node: Node,
    cfg: Config,
    aiohttp_client: Any,
    aiohttp_raw_server: Any,
    access: AccessLog | None = None,
) -> Any:
    """The proxy port on ``front``, and a client for it (closed by the caller's fixture)."""
    if front == "http1":
        h1 = H1Front(node, access=access)
        await h1.start("127.0.0.1", 0)
        return FrontClient(h1)
    # the production handler settings (aiohttp's TestServer(...) would drop them)
    proxy = make_proxy(node, access)
    server = await aiohttp_raw_server(proxy, **handler_kwargs(cfg, proxy))
    return await aiohttp_client(server, auto_decompress=False, skip_auto_headers=IDENTITY_CLIENT)


@dataclass
class Edge:
    """An edge node in front of an origin stub, both in this process."""

    client: Any  # aiohttp's TestClient (aiohttp front) or FrontClient (http1 front)
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
        await self.node.engine.fills.drain()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly when the browser tests did not run (no Chromium on this machine)."""
    skipped = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if "browser test skipped" in str(getattr(r, "longrepr", ""))
    ]
    if skipped:
        reason = str(skipped[0].longrepr[-1]).removeprefix("Skipped: ")
        terminalreporter.write_line(f"{len(skipped)} {reason}", yellow=True, bold=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def origin(aiohttp_server: Any, clock: FakeClock) -> TestServer:
    server: TestServer = await aiohttp_server(make_origin_app(clock=clock.now))
    return server


EdgeFactory = Callable[..., Any]


@pytest.fixture(params=FRONTS)
def front(request: pytest.FixtureRequest) -> str:
    """The proxy front under test (every test using ``make_edge`` runs on each)."""
    name: str = request.param
    return name


@pytest.fixture
async def make_edge(
    aiohttp_client: Any,
    aiohttp_raw_server: Any,
    origin: TestServer,
    clock: FakeClock,
    tmp_path: Any,
    front: str,
) -> AsyncIterator[EdgeFactory]:
    stack: list[Any] = []
    clients: list[FrontClient] = []

    async def factory(cfg: Config | None = None, **origin_kw: Any) -> Edge:
        base = cfg or Config()
        cfg = replace(
            base,
            origin=replace(base.origin, url=str(origin.make_url("")).rstrip("/"), **origin_kw),
            proxy=replace(base.proxy, front=front),
            cache=replace(base.cache, dir=str(tmp_path / f"cache{len(stack)}")),
        )
        ctx = open_node(cfg, clock=clock)
        node = await ctx.__aenter__()
        stack.append(ctx)
        client = await start_front(front, node, cfg, aiohttp_client, aiohttp_raw_server)
        if isinstance(client, FrontClient):
            clients.append(client)
        return Edge(client, node, origin, clock)

    yield factory
    for c in clients:
        await c.close()
    for ctx in reversed(stack):
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def edge(make_edge: EdgeFactory) -> Edge:
    e: Edge = await make_edge()
    return e
