"""TLS tests: throwaway certificates, an edge whose proxy port speaks TLS, https origins.

Everything runs on uvloop, as ``edge serve`` does (its TLS is its own code, not asyncio's).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from edge.clock import FakeClock
from edge.config import Config, HostPort, SniCertConfig, TlsConfig
from edge.fronts.tls import ServerTls
from edge.runtime.node import Node, open_node
from edge.runtime.server import ProxyListener, listening_tls
from tests.support.certs import Certs, Leaf
from tests.support.processes import free_port


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    import uvloop

    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    root = tmp_path / "certs"
    root.mkdir()
    return Certs(root)


@pytest.fixture
def leaf(certs: Certs) -> Leaf:
    return certs.leaf("edge.test", "localhost", "127.0.0.1")


def tls_config(leaf: Leaf, *sni: tuple[tuple[str, ...], Leaf]) -> TlsConfig:
    return TlsConfig(
        cert=str(leaf.cert),
        key=str(leaf.key),
        sni=tuple(SniCertConfig(names, str(x.cert), str(x.key)) for names, x in sni),
    )


@dataclass
class TlsEdge:
    node: Node
    listener: ProxyListener
    tls: ServerTls | None
    port: int

    def url(self, path: str) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"


TlsEdgeFactory = Callable[..., Any]


@pytest.fixture
async def make_tls_edge(
    origin: TestServer, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[TlsEdgeFactory]:
    opened: list[tuple[Any, ProxyListener]] = []

    async def factory(
        tls: TlsConfig | None,
        *,
        front: str = "http1",
        cfg: Config | None = None,
        origin_url: str | None = None,
    ) -> TlsEdge:
        base = cfg or Config()
        port = free_port()
        cfg = replace(
            base,
            origin=replace(base.origin, url=origin_url or str(origin.make_url("")).rstrip("/")),
            proxy=replace(base.proxy, front=front, tls=tls, listen=HostPort("127.0.0.1", port)),
            cache=replace(base.cache, dir=str(tmp_path / f"cache{len(opened)}")),
        )
        proxy_tls, _ = listening_tls(cfg)
        ctx = open_node(cfg, clock=clock)
        node = await ctx.__aenter__()
        listener = ProxyListener(node, proxy_tls)
        opened.append((ctx, listener))
        await listener.start()
        return TlsEdge(node, listener, proxy_tls, port)

    yield factory
    for ctx, listener in reversed(opened):
        await listener.stop()
        await ctx.__aexit__(None, None, None)


async def tls_connect(
    port: int, ctx: Any, server_hostname: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=server_hostname), 10
    )
