"""HTTP/2 tests: the http1 front (which hands HTTP/2 connections to edge.fronts.h2) in this
process, on uvloop as ``edge serve`` runs it, in front of the origin stub.

``make_edge``/``edge`` here build the same :class:`tests.conftest.Edge` as the suite's
other fronts, with an HTTP/2 client (httpx, h2c by prior knowledge) behind the surface the
web tests use; a module that imports web tests runs them over HTTP/2 (the third front).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from edge.clock import FakeClock
from edge.config import Config, Http2Config
from edge.fronts.h1_server import H1Front
from edge.runtime.node import Node, open_node
from tests.conftest import Edge
from tests.tls.conftest import certs, leaf, make_tls_edge  # noqa: F401  (fixtures)


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    import uvloop

    return {"uvloop": uvloop.new_event_loop}


def h2_config(base: Config | None = None, **http2: Any) -> Config:
    cfg = base or Config()
    return replace(cfg, proxy=replace(cfg.proxy, http2=replace(Http2Config(), **http2)))


def h2c_client(port: int) -> httpx.AsyncClient:
    """httpx speaking HTTP/2 only (prior knowledge on plaintext), asking for no coding."""
    client = httpx.AsyncClient(
        http1=False, http2=True, base_url=f"http://127.0.0.1:{port}", timeout=10
    )
    client.headers.pop("Accept-Encoding", None)  # identity: edge compression stays out
    return client


class H2Response:
    """An httpx response with the surface of aiohttp's that the web tests read."""

    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.http_version = resp.http_version
        self.headers = CIMultiDictProxy(CIMultiDict[str](resp.headers.multi_items()))

    async def read(self) -> bytes:
        return self._resp.content

    async def text(self) -> str:
        return self._resp.text

    async def json(self) -> Any:
        return self._resp.json()

    def release(self) -> None:
        pass

    @property
    def content(self) -> _Content:
        return _Content(self._resp.content)


class _Content:
    """The body, read in pieces as aiohttp's ``StreamReader`` gives it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), size):
            yield self.data[i : i + size]


class _Call:
    """Awaitable, and an async context manager, like aiohttp's request call."""

    def __init__(self, client: H2Client, method: str, path: str, kw: dict[str, Any]) -> None:
        self.client, self.method, self.path, self.kw = client, method, path, kw

    def __await__(self) -> Generator[Any, None, H2Response]:
        return self.client.send(self.method, self.path, **self.kw).__await__()

    async def __aenter__(self) -> H2Response:
        return await self.client.send(self.method, self.path, **self.kw)

    async def __aexit__(self, *exc: object) -> None:
        pass


class H2Client:
    """HTTP/2 by prior knowledge to a front on 127.0.0.1 (one connection, many streams)."""

    def __init__(self, front: H1Front) -> None:
        self.front = front
        self.port = front.port
        self.client = h2c_client(self.port)

    async def send(self, method: str, path: str, **kw: Any) -> H2Response:
        headers = kw.pop("headers", None)
        data = kw.pop("data", None)
        kw.pop("allow_redirects", None)
        if headers is not None and hasattr(headers, "items"):
            headers = list(headers.items())
        resp = await self.client.request(method, path, headers=headers, content=data, **kw)
        return H2Response(resp)

    def request(self, method: str, path: str, **kw: Any) -> _Call:
        return _Call(self, method, path, kw)

    def get(self, path: str, **kw: Any) -> _Call:
        return self.request("GET", path, **kw)

    def head(self, path: str, **kw: Any) -> _Call:
        return self.request("HEAD", path, **kw)

    def post(self, path: str, **kw: Any) -> _Call:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> _Call:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> _Call:
        return self.request("DELETE", path, **kw)

    async def close(self) -> None:
        await self.client.aclose()


@dataclass
class H2Edge:
    node: Node
    front: H1Front
    clock: FakeClock

    @property
    def port(self) -> int:
        return self.front.port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def front() -> str:
    return "h2"


@pytest.fixture
async def make_h2_edge(
    origin: TestServer, clock: FakeClock, tmp_path: Any
) -> AsyncIterator[Callable[..., Any]]:
    """A node and its proxy port (plaintext: HTTP/1.1, and HTTP/2 by prior knowledge)."""
    opened: list[tuple[Any, H1Front]] = []

    async def factory(cfg: Config | None = None, **origin_kw: Any) -> H2Edge:
        base = cfg or Config()
        cfg = replace(
            base,
            origin=replace(base.origin, url=str(origin.make_url("")).rstrip("/"), **origin_kw),
            cache=replace(base.cache, dir=str(tmp_path / f"cache{len(opened)}")),
        )
        ctx = open_node(cfg, clock=clock)
        node = await ctx.__aenter__()
        front = H1Front(node)
        opened.append((ctx, front))
        await front.start("127.0.0.1", 0)
        return H2Edge(node, front, clock)

    yield factory
    for ctx, front in reversed(opened):
        await front.stop(0.5)
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def make_edge(
    make_h2_edge: Callable[..., Any], origin: TestServer, clock: FakeClock
) -> AsyncIterator[Callable[..., Any]]:
    """The suite's ``make_edge`` on HTTP/2: the web tests' ``Edge`` with an h2 client."""
    clients: list[H2Client] = []

    async def factory(cfg: Config | None = None, **origin_kw: Any) -> Edge:
        h2edge: H2Edge = await make_h2_edge(cfg, **origin_kw)
        client = H2Client(h2edge.front)
        clients.append(client)
        return Edge(client, h2edge.node, origin, clock)

    yield factory
    for c in clients:
        await c.close()


@pytest.fixture
async def edge(make_edge: Callable[..., Any]) -> Edge:
    e: Edge = await make_edge()
    return e
