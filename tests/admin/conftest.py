"""A real node, origin stub, proxy and admin app, wired the way the admin issue proposes.

PROPOSED WIRING (until the lead moves it into node.py / engine.py / front.py):

* the store is ``IndexedStore(inner, CacheIndex())``;
* the engine gets ``version_for=versions.version_for``;
* the engine's ``invalidate_after`` also applies RFC 9875 ``Cache-Group-Invalidation``
  through ``Invalidator.invalidate_groups`` (:class:`WiredEngine` below);
* the proxy front answers ``PURGE`` with ``handle_purge_method`` when
  ``proxy.purge_method`` is on (:func:`purge_method_middleware` below).
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
from multidict import CIMultiDict

from edge.clock import FakeClock
from edge.config import AdminConfig, Config
from edge.engine import CacheEngine
from edge.index import CacheIndex, IndexedStore, VersionTable
from edge.invalidation import Invalidator
from edge.metrics import make_registry, store_stats_of
from edge.models import ProxyRequest
from edge.node import Node, open_node
from edge.policy.tags import group_invalidations
from edge.store.simple import SimpleMemoryStore
from edge.web.admin import handle_purge_method, make_admin_app
from edge.web.front import make_proxy_app
from origin_stub.app import make_app as make_origin_app

TOKEN = "admin-test-token-0123456789"
START = 1_769_817_600.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WiredEngine(CacheEngine):
    """CacheEngine plus the proposed group-invalidation hook in ``invalidate_after``."""

    invalidator: Invalidator | None = None

    async def invalidate_after(
        self, req: ProxyRequest, status: int, headers: CIMultiDict[str]
    ) -> int:
        removed = await super().invalidate_after(req, status, headers)
        groups = group_invalidations(headers)
        if groups and 200 <= status < 400 and self.invalidator is not None:
            origin = f"{req.scheme}://{req.host}"
            removed += await self.invalidator.invalidate_groups(groups, origin=origin)
        return removed


async def group_post(request: web.Request) -> web.Response:
    """An origin route for unsafe requests that names groups to invalidate."""
    await request.read()
    headers = {"Cache-Control": "no-store"}
    if "groups" in request.query:
        headers["Cache-Group-Invalidation"] = request.query["groups"]
    return web.Response(text="ok\n", headers=headers)


@dataclass
class Rig:
    proxy: TestClient[Any, Any]
    admin: TestClient[Any, Any]
    origin: TestServer
    node: Node
    engine: WiredEngine
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
        await self.engine.fetcher.drain()  # the fill has stored (or not) by now
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


def purge_method_middleware(node: Node, invalidator: Invalidator) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "PURGE":
            return await handle_purge_method(request, node, invalidator)
        return await handler(request)

    return middleware


@pytest.fixture
async def rig(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[Rig]:
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
    index = CacheIndex()
    store = IndexedStore(SimpleMemoryStore(), index)
    versions = await VersionTable.open(str(tmp_path))
    async with open_node(cfg, clock=clock, store=store) as node:
        old = node.engine
        engine = WiredEngine(
            store=store,
            origin=old.origin,
            forwarding=old.fwd,
            clock=clock,
            opts=old.opts,
            stats=node.stats,
            fetcher=old.fetcher,
            version_for=versions.version_for,
        )
        node.engine = engine
        invalidator = Invalidator(store, index, engine.key_for, clock=clock)
        engine.invalidator = invalidator
        proxy_app = make_proxy_app(engine, name=cfg.name, max_request_body=1 << 20)
        proxy_app.middlewares.append(purge_method_middleware(node, invalidator))
        proxy = await aiohttp_client(proxy_app)
        registry = make_registry(node.stats, store_stats_of(store))
        admin = await aiohttp_client(make_admin_app(node, invalidator, versions, registry))
        yield Rig(proxy, admin, origin, node, engine, index, versions, invalidator, clock, tmp_path)
