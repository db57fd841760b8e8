"""A real node (tiered store, index, versions, invalidator), origin stub, proxy and admin app.

Built exactly as ``edge serve`` builds them: ``open_node``, the proxy port on each front
(``http1`` and ``aiohttp``, the ``front`` fixture) and ``make_admin``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.cache.flow import RequestFlow
from edge.clock import FakeClock
from edge.config import AdminConfig, Config
from edge.invalidation.purge import Invalidator
from edge.invalidation.versions import VersionTable
from edge.runtime.node import Node, open_node
from edge.runtime.server import make_admin
from edge.store.index import CacheIndex
from origin_stub.app import make_app as make_origin_app
from tests.conftest import FrontClient, start_front

TOKEN = "admin-test-token-0123456789"
START = 1_769_817_600.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def group_post(request: web.Request) -> web.Response:
    """An origin route for unsafe requests that names groups to invalidate."""
    await request.read()
    headers = {"Cache-Control": "no-store"}
    if "groups" in request.query:
        headers["Cache-Group-Invalidation"] = request.query["groups"]
    return web.Response(text="ok\n", headers=headers)


@dataclass
class Rig:
    proxy: Any  # aiohttp's TestClient (aiohttp front) or FrontClient (http1 front)
    admin: TestClient[Any, Any]
    origin: TestServer
    node: Node
    engine: RequestFlow
    index: CacheIndex
    versions: VersionTable
    invalidator: Invalidator
    clock: FakeClock
    cache_dir: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    async def get(self, path: str, **kw: Any) -> tuple[str, str]:
        """GET through the proxy: (body, Cache-Status)."""
        async with self.proxy.get(path, **kw) as r:
            answer = await r.text(), r.headers.get("Cache-Status", "")
        await self.engine.fills.drain()  # the fill has stored (or not) by now
        return answer

    async def purge(self, **body: Any) -> dict[str, Any]:
        async with self.admin.post("/purge", json=body, headers=self.auth) as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
            return answer

    async def origin_post(self, path: str) -> None:
        async with aiohttp.ClientSession() as s, s.post(self.origin.make_url(path)) as r:
            assert r.status < 400


def is_hit(cache_status: str) -> bool:
    return "hit" in [part.strip() for part in cache_status.split(";")]


@pytest.fixture
async def rig(
    aiohttp_client: Any,
    aiohttp_server: Any,
    aiohttp_raw_server: Any,
    tmp_path: Path,
    front: str,
) -> AsyncIterator[Rig]:
    clock = FakeClock(START)
    origin_app = make_origin_app(clock=clock.now)
    origin_app.router.add_post("/groups/post", group_post)
    origin: TestServer = await aiohttp_server(origin_app)
    base = Config()
    cfg = replace(
        base,
        name="edge-a",
        origin=replace(base.origin, url=str(origin.make_url("")).rstrip("/")),
        admin=AdminConfig(token=TOKEN),
        cache=replace(base.cache, dir=str(tmp_path)),
    )
    cfg = replace(cfg, proxy=replace(cfg.proxy, purge_method=True, max_request_body=1 << 20))
    async with open_node(cfg, clock=clock) as node:
        cfg = replace(cfg, proxy=replace(cfg.proxy, front=front))
        proxy = await start_front(front, node, cfg, aiohttp_client, aiohttp_raw_server)
        admin = await aiohttp_client(make_admin(node))
        yield Rig(
            proxy,
            admin,
            origin,
            node,
            node.engine,
            node.index,
            node.versions,
            node.invalidator,
            clock,
            tmp_path,
        )
        if isinstance(proxy, FrontClient):
            await proxy.close()
