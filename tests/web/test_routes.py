"""Origin pools, routes and cache rules through the proxy (issue 12 items 1-2).

Three origin stubs in this process: ``www1`` and ``www2`` (pool ``www``, weights 2:1)
and ``api1`` (pool ``api``); routes by Host and path prefix pick the pool and the cache
rules. The http1 front only: the routing is the flow's, the front plays no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from edge.clock import FakeClock
from edge.config import Config
from edge.config.load import config_from_dict
from origin_stub.app import make_app as make_origin_app
from tests.conftest import Edge, EdgeFactory
from tests.support.processes import free_port

pytestmark = pytest.mark.parametrize("front", ["http1"])

WWW = {"Host": "www.example.com"}
API = {"Host": "api.example.com"}


@dataclass
class Origins:
    servers: dict[str, TestServer]

    def url(self, name: str) -> str:
        return str(self.servers[name].make_url("")).rstrip("/")

    async def count(self, name: str, path: str) -> int:
        async with aiohttp.ClientSession() as s:
            stats_url = self.servers[name].make_url("/__origin/stats")
            async with s.get(stats_url) as r:
                counts: dict[str, int] = (await r.json())["counts"]
        return counts.get(path, 0)

    async def counts(self, path: str) -> dict[str, int]:
        return {name: await self.count(name, path) for name in self.servers}


@pytest.fixture
async def origins(aiohttp_server: Any, clock: FakeClock) -> Origins:
    servers = {}
    for name in ("www1", "www2", "api1"):
        servers[name] = await aiohttp_server(make_origin_app(clock=clock.now))
    return Origins(servers)


def routed(origins: Origins, **www_cache: Any) -> Config:
    return config_from_dict(
        {
            "origins": [
                {
                    "name": "www",
                    "servers": [
                        {"url": origins.url("www1"), "weight": 2},
                        {"url": origins.url("www2")},
                    ],
                },
                {"name": "api", "servers": [{"url": origins.url("api1")}]},
            ],
            "routes": [
                {"hosts": ["api.example.com"], "pool": "api", "cache": {"query": {"mode": "sort"}}},
                {
                    "hosts": ["*.example.com"],
                    "paths": ["/static/"],
                    "pool": "www",
                    "cache": {"ttl": "1d"},
                },
                {
                    "hosts": ["www.example.com"],
                    "paths": ["/api/"],
                    "pool": "www",
                    "cache": {"never_cache": True},
                },
                {
                    "hosts": ["www.example.com", "*.example.com"],
                    "pool": "www",
                    "cache": {"default_ttl": "60s", "query": {"drop": ["utm_*"]}, **www_cache},
                },
            ],
        }
    )


async def status_of(edge: Edge, path: str, **headers: str) -> tuple[int, str, str]:
    resp = await edge.get(path, headers=headers)
    text = await resp.text()
    return resp.status, resp.headers.get("Cache-Status", ""), text


async def test_two_pools_behind_two_host_routes(make_edge: EdgeFactory, origins: Origins) -> None:
    edge = await make_edge(routed(origins))
    status, cs, text = await status_of(edge, "/api/items", **API)
    assert status == 200 and "fwd=uri-miss" in cs and '"name": "items"' in text
    assert await origins.counts("/api/items") == {"www1": 0, "www2": 0, "api1": 1}
    for _ in range(6):  # uncacheable: each goes to the pool, 2:1 by weight
        assert (await status_of(edge, "/no-store", **WWW))[0] == 200
    assert await origins.counts("/no-store") == {"www1": 4, "www2": 2, "api1": 0}
    # a host no route names: origin.url, the one pool of a config without routes
    await status_of(edge, "/no-store", Host="other.test")
    assert await edge.origin_count("/no-store") == 1


async def test_per_path_ttl_rule_and_its_cache_status(
    make_edge: EdgeFactory, origins: Origins
) -> None:
    edge = await make_edge(routed(origins))
    _, cs, _ = await status_of(edge, "/static/app.js", Host="cdn.example.com")
    assert "stored" in cs and "detail=rule-ttl" in cs  # max-age=31536000 made one day
    _, cs, _ = await status_of(edge, "/static/app.js", Host="cdn.example.com")
    assert "hit" in cs and "ttl=86400" in cs
    _, cs, _ = await status_of(edge, "/static/app.js", Host="other.test")
    _, cs, _ = await status_of(edge, "/static/app.js", Host="other.test")
    assert "ttl=31536000" in cs  # outside the route: as the origin said


async def test_default_ttl_replaces_no_freshness(make_edge: EdgeFactory, origins: Origins) -> None:
    edge = await make_edge(routed(origins))
    _, cs, _ = await status_of(edge, "/script?etag=a", **WWW)
    assert "stored" in cs and "detail=rule-default-ttl" in cs
    edge.clock.advance(30)
    _, cs, _ = await status_of(edge, "/script?etag=a", **WWW)
    assert cs.startswith("edge; hit") and "ttl=30" in cs


async def test_query_rules_share_one_key(make_edge: EdgeFactory, origins: Origins) -> None:
    edge = await make_edge(routed(origins))
    first = "/script?cc=max-age%3D60&utm_source=news&id=1"
    _, cs, _ = await status_of(edge, first, **WWW)
    assert "fwd=uri-miss" in cs
    _, cs, _ = await status_of(edge, "/script?cc=max-age%3D60&id=1&utm_medium=mail", **WWW)
    assert cs == "edge; hit; ttl=60; detail=memory"  # the hot path, keyed without utm_*
    _, cs, _ = await status_of(edge, "/script?cc=max-age%3D60&id=2", **WWW)
    assert "fwd=uri-miss" in cs  # other parameters are other objects
    # the api route sorts its query: one object for both orders
    await status_of(edge, "/api/q?b=1&a=2", **API)
    _, cs, _ = await status_of(edge, "/api/q?a=2&b=1", **API)
    assert cs.startswith("edge; hit")
    assert await origins.count("api1", "/api/q?b=1&a=2") == 1  # as the client sent it
    assert await origins.count("api1", "/api/q?a=2&b=1") == 0
    # a purge names the URL as clients send it: the rule finds its object
    removed = await edge.node.invalidator.purge(
        urls=["http://www.example.com/script?cc=max-age%3D60&id=1&utm_source=x"]
    )
    assert removed == 1


async def test_client_no_cache_is_ignored_inside_a_route_only(
    make_edge: EdgeFactory, origins: Origins
) -> None:
    edge = await make_edge(routed(origins))
    for host in ("www.example.com", "other.test"):
        await status_of(edge, "/script?cc=max-age%3D600", Host=host)
        _, cs, _ = await status_of(edge, "/script?cc=max-age%3D600", Host=host, Pragma="no-cache")
        assert cs.startswith("edge; hit") == (host == "www.example.com"), (host, cs)
        _, cs, _ = await status_of(
            edge, "/script?cc=max-age%3D600", Host=host, **{"Cache-Control": "max-age=0"}
        )
        assert cs.startswith("edge; hit") == (host == "www.example.com"), (host, cs)


async def test_never_cache_passes_every_request(make_edge: EdgeFactory, origins: Origins) -> None:
    edge = await make_edge(routed(origins))
    for _ in range(2):
        _, cs, _ = await status_of(edge, "/api/thing", **WWW)
        assert cs == "edge; fwd=bypass; fwd-status=200; detail=rule-never-cache"
    assert sum((await origins.counts("/api/thing")).values()) == 2


async def test_extra_vary_field_keys_variants(make_edge: EdgeFactory, origins: Origins) -> None:
    edge = await make_edge(routed(origins, vary=["X-Device"]))
    path = "/script?cc=max-age%3D60"
    await status_of(edge, path, **WWW, **{"X-Device": "phone"})
    _, cs, _ = await status_of(edge, path, **WWW, **{"X-Device": "desk"})
    assert "fwd=vary-miss" in cs
    _, cs, _ = await status_of(edge, path, **WWW, **{"X-Device": "phone"})
    assert cs.startswith("edge; hit")


async def test_no_server_up_is_a_generic_502_and_stale_where_allowed(
    make_edge: EdgeFactory, origins: Origins
) -> None:
    cfg = config_from_dict(
        {
            "origins": [
                {"name": "flaky", "servers": [{"url": origins.url("www1")}], "down_for": "30s"}
            ],
            "routes": [
                {"hosts": ["flaky.test"], "pool": "flaky", "cache": {"stale_if_error": "1h"}}
            ],
        }
    )
    edge = await make_edge(cfg)
    short = "/script?cc=max-age%3D10"
    assert "stored" in (await status_of(edge, short, Host="flaky.test"))[1]
    async with aiohttp.ClientSession() as s:
        down = origins.servers["www1"].make_url("/__origin/down?mode=reset")
        async with s.post(down) as r:
            assert r.status == 200
    status, _, text = await status_of(edge, "/static/x.js", Host="flaky.test")
    assert status == 502 and text.startswith("502 Bad Gateway\nrequest id: ")
    port = str(origins.servers["www1"].port)
    assert port not in text and "127.0.0.1" not in text  # nothing about the backends
    pool = edge.node.engine.routing.pools["flaky"]
    assert not pool.is_up(pool.servers[0])
    status, _, _ = await status_of(edge, "/static/y.js", Host="flaky.test")
    assert status == 502 and await origins.count("www1", "/static/y.js") == 0  # not even tried
    edge.clock.advance(20)  # the stored response is stale; the rule allows it on errors
    status, cs, _ = await status_of(edge, short, Host="flaky.test")
    assert status == 200 and "fwd=stale" in cs and "detail=stale-if-error" in cs


async def test_the_active_probe_takes_a_dead_server_out(
    make_edge: EdgeFactory, origins: Origins
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    health = {"path": "/__origin/stats", "interval": "5s", "fall": 1, "rise": 1}
    cfg = config_from_dict(
        {
            "origins": [
                {
                    "name": "www",
                    "servers": [{"url": origins.url("www1")}, {"url": dead}],
                    "health": health,
                }
            ],
            "routes": [{"hosts": ["www.example.com"], "pool": "www"}],
        }
    )
    edge = await make_edge(cfg)
    edge.clock.advance(5)  # the probe's next round is due on the node's clock
    assert await edge.node.engine.routing.check_health() == 2
    pool = edge.node.engine.routing.pools["www"]
    assert [pool.is_up(s) for s in pool.servers] == [True, False]
    for _ in range(4):
        assert (await status_of(edge, "/no-store", **WWW))[0] == 200
    assert await origins.count("www1", "/no-store") == 4
    assert pool.servers[1].state.requests == 0  # never sent a request: the probe said down
    assert "health probe" in str(pool.servers[1].state.last_error)
