"""ParentSet: ring-chosen parents, passive and active health, origin last, uploads never replayed.

Every upstream is a real aiohttp server on 127.0.0.1; a "dead" parent is a port nobody listens
on. Time for ``down_for`` is a FakeClock.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cluster_helpers import until
from multidict import CIMultiDict

from edge.clock import FakeClock
from edge.cluster.parents import ParentSet, ParentSpec
from edge.cluster.ring import HashRing
from edge.config import OriginConfig
from edge.errors import UpstreamConnectError
from edge.origin.client import OriginClient, OriginResponse, Upstream
from edge.origin.pool import ConnectionPool

ServerFactory = Callable[..., Awaitable[TestServer]]


@dataclass
class Upstreams:
    """Named recording servers; each answers with its name and counts what it saw."""

    seen: dict[str, list[tuple[str, str, bytes]]] = field(default_factory=dict)
    healthy: dict[str, bool] = field(default_factory=dict)

    def app(
        self, name: str, *, drop_after_body: bool = False, hang: bool = False
    ) -> web.Application:
        self.seen[name] = []
        self.healthy.setdefault(name, True)

        async def handle(request: web.Request) -> web.StreamResponse:
            if request.path == "/healthz":
                return web.Response(status=200 if self.healthy[name] else 503)
            body = await request.read()
            self.seen[name].append((request.method, request.path_qs, body))
            if hang:
                await asyncio.sleep(30)
            if drop_after_body:
                assert request.transport is not None
                request.transport.close()
            return web.Response(text=name, headers={"X-Served-By": name})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url(port: int | None) -> str:
    assert port is not None
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    p = ConnectionPool(origin_cfg("http://127.0.0.1"))
    yield p
    await p.close()


def origin_cfg(base: str) -> OriginConfig:
    return OriginConfig(url=base, connect_timeout=1.0, first_byte_timeout=0.5, read_timeout=1.0)


def make_set(
    specs: list[ParentSpec],
    origin_url: str,
    pool: ConnectionPool,
    clock: FakeClock,
    **kw: Any,
) -> ParentSet:
    def client(spec: ParentSpec) -> Upstream:
        return OriginClient(origin_cfg(spec.url), pool)

    return ParentSet(
        specs, client, clock, OriginClient(origin_cfg(origin_url), pool), down_for=10.0, **kw
    )


async def served_by(up: Upstream, key: str, method: str = "GET", body: bytes | None = None) -> str:
    async def stream() -> AsyncIterator[bytes]:
        assert body is not None
        yield body

    resp: OriginResponse = await up.fetch(
        method, f"/obj?k={key}", CIMultiDict(), stream() if body is not None else None, key=key
    )
    chunks = [c async for c in resp.chunks()]
    assert resp.status == 200
    return b"".join(chunks).decode()


def key_owned_by(ring: HashRing, name: str) -> str:
    for i in range(10_000):
        key = f"v0|http://example.com/{i}"
        if ring.owner(key) == name:
            return key
    raise AssertionError(f"no key owned by {name}")


@pytest.fixture
def ups() -> Upstreams:
    return Upstreams()


@pytest.fixture
async def three(aiohttp_server: ServerFactory, ups: Upstreams) -> dict[str, TestServer]:
    servers = {name: await aiohttp_server(ups.app(name)) for name in ("p1", "p2", "p3", "origin")}
    return servers


def specs_for(servers: dict[str, TestServer], names: list[str]) -> list[ParentSpec]:
    return [ParentSpec(n, url(servers[n].port), url(servers[n].port)) for n in names]


async def test_each_key_goes_to_its_ring_owner(
    three: dict[str, TestServer], session: aiohttp.ClientSession, pool: ConnectionPool
) -> None:
    names = ["p1", "p2", "p3"]
    ps = make_set(specs_for(three, names), url(three["origin"].port), pool, FakeClock())
    ring = HashRing(names)
    keys = [f"v0|http://example.com/{i}" for i in range(30)]
    for key in keys:
        assert await served_by(ps, key) == ring.owner(key)
    assert len({ring.owner(k) for k in keys}) == 3  # the keys really were spread


async def test_failover_to_next_parent_then_recovery(
    aiohttp_server: ServerFactory,
    three: dict[str, TestServer],
    ups: Upstreams,
    session: aiohttp.ClientSession,
    pool: ConnectionPool,
) -> None:
    clock = FakeClock()
    dead = closed_port()
    specs = [ParentSpec("dead", url(dead)), *specs_for(three, ["p1", "p2"])]
    ps = make_set(specs, url(three["origin"].port), pool, clock)
    ring = HashRing(["dead", "p1", "p2"])
    key = key_owned_by(ring, "dead")
    second = ring.preference(key)[1]

    assert await served_by(ps, key) == second
    assert ps.status()["dead"] == {
        "url": url(dead),
        "up": False,
        "down_for": 10.0,
        "failures": 1,
        "last_error": ps.status()["dead"]["last_error"],  # type: ignore[index]
    }
    assert await served_by(ps, key) == second  # skipped while down: no second failure
    assert ps.status()["dead"]["failures"] == 1  # type: ignore[index]

    revived = await aiohttp_server(ups.app("dead"), port=dead)
    clock.advance(9.9)
    assert await served_by(ps, key) == second  # still within down_for
    clock.advance(0.2)
    assert await served_by(ps, key) == "dead"  # tried again, and it answers
    assert ps.is_up("dead")
    await revived.close()


async def test_timeout_marks_down_too(
    aiohttp_server: ServerFactory,
    three: dict[str, TestServer],
    ups: Upstreams,
    session: aiohttp.ClientSession,
    pool: ConnectionPool,
) -> None:
    slow = await aiohttp_server(ups.app("slow", hang=True))
    specs = [ParentSpec("slow", url(slow.port)), *specs_for(three, ["p1"])]
    ps = make_set(specs, url(three["origin"].port), pool, FakeClock())
    key = key_owned_by(HashRing(["slow", "p1"]), "slow")
    assert await served_by(ps, key) == "p1"
    assert not ps.is_up("slow")


async def test_origin_when_every_parent_is_down(
    three: dict[str, TestServer], session: aiohttp.ClientSession, pool: ConnectionPool
) -> None:
    specs = [ParentSpec(f"d{i}", url(closed_port())) for i in range(3)]
    ps = make_set(specs, url(three["origin"].port), pool, FakeClock())
    assert await served_by(ps, "k1") == "origin"
    assert not any(ps.is_up(f"d{i}") for i in range(3))
    assert await served_by(ps, "k2") == "origin"


async def test_unsent_upload_fails_over_with_its_body(
    three: dict[str, TestServer],
    ups: Upstreams,
    session: aiohttp.ClientSession,
    pool: ConnectionPool,
) -> None:
    specs = [ParentSpec("dead", url(closed_port()))]
    ps = make_set(specs, url(three["origin"].port), pool, FakeClock())
    assert await served_by(ps, "k", method="POST", body=b"payload") == "origin"
    assert ups.seen["origin"] == [("POST", "/obj?k=k", b"payload")]


async def test_started_upload_is_not_replayed(
    aiohttp_server: ServerFactory,
    three: dict[str, TestServer],
    ups: Upstreams,
    session: aiohttp.ClientSession,
    pool: ConnectionPool,
) -> None:
    dropper = await aiohttp_server(ups.app("dropper", drop_after_body=True))
    specs = [ParentSpec("dropper", url(dropper.port)), *specs_for(three, ["p1"])]
    ps = make_set(specs, url(three["origin"].port), pool, FakeClock())
    key = key_owned_by(HashRing(["dropper", "p1"]), "dropper")
    with pytest.raises(UpstreamConnectError):
        await served_by(ps, key, method="PUT", body=b"x" * 1000)
    assert [m for m, _, _ in ups.seen["dropper"]] == ["PUT"]
    assert ups.seen["p1"] == [] and ups.seen["origin"] == []
    assert not ps.is_up("dropper")


async def test_active_probe_marks_down_and_up(
    three: dict[str, TestServer],
    ups: Upstreams,
    session: aiohttp.ClientSession,
    pool: ConnectionPool,
) -> None:
    clock = FakeClock()
    specs = [*specs_for(three, ["p1", "p2"]), ParentSpec("nowhere", url(1), url(closed_port()))]
    ps = make_set(specs, url(three["origin"].port), pool, clock, probe_timeout=1.0)
    ups.healthy["p2"] = False
    await ps.probe_once(session)
    assert (ps.is_up("p1"), ps.is_up("p2"), ps.is_up("nowhere")) == (True, False, False)
    ups.healthy["p2"] = True
    await ps.probe_once(session)  # well before down_for: the probe says it is back
    assert ps.is_up("p2")


async def test_probe_task_runs_and_is_cancelled_on_close(
    three: dict[str, TestServer],
    ups: Upstreams,
    session: aiohttp.ClientSession,
    pool: ConnectionPool,
) -> None:
    ps = make_set(specs_for(three, ["p1"]), url(three["origin"].port), pool, FakeClock())
    ups.healthy["p1"] = False
    ps.start_probe(session, interval=0.02)
    with pytest.raises(RuntimeError):
        ps.start_probe(session, interval=0.02)
    await until(lambda: not ps.is_up("p1"), within=5, what="the probe marks p1 down")
    await ps.close()
    ups.healthy["p1"] = True
    assert not ps.is_up("p1")  # nothing probes any more
