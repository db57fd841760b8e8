"""Origin pools (edge.origin.balance, edge.origin.health) on in-memory servers and a fake clock."""

from __future__ import annotations

import collections
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
from multidict import CIMultiDict

from edge.clock import FakeClock
from edge.errors import UpstreamConnectError, UpstreamTimeout
from edge.origin.balance import PassiveHealth, Server, ServerPool
from edge.origin.client import InterimSink, OriginResponse
from edge.origin.health import HealthProbe, ProbeSpec


class _Body:
    async def chunks(self) -> AsyncGenerator[bytes, None]:
        yield b"ok"

    def close(self) -> None:
        pass


class FakeServer:
    """An upstream that answers ``status``, or fails as told; counts what it was sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = 200
        self.fail: type[Exception] | None = None
        self.busy = 0
        self.sent: list[str] = []

    async def fetch(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None = None,
        *,
        key: str | None = None,
        on_interim: InterimSink | None = None,
    ) -> OriginResponse:
        self.sent.append(target)
        if body is not None:
            async for _ in body:
                break
        if self.fail is not None:
            raise self.fail(f"{self.name} failed")
        return OriginResponse(self.status, "", CIMultiDict(), 2, _Body())


def make_pool(
    clock: FakeClock, weights: dict[str, int], balance: str = "round-robin", **passive: object
) -> tuple[ServerPool, dict[str, FakeServer]]:
    fakes = {name: FakeServer(name) for name in weights}
    servers = [
        Server(f"http://{name}", weight, fakes[name], lambda f=fakes[name]: f.busy)
        for name, weight in weights.items()
    ]
    health = PassiveHealth(**passive)  # type: ignore[arg-type]
    return ServerPool("app", servers, clock, balance=balance, passive=health), fakes


async def spread(pool: ServerPool, n: int) -> list[str]:
    """The server each of ``n`` requests went to, in order."""
    order = []
    for _ in range(n):
        before = {s.url: s.state.requests for s in pool.servers}
        await pool.fetch("GET", "/", CIMultiDict())
        order.append(next(s.url for s in pool.servers if s.state.requests > before[s.url]))
    return order


async def test_smooth_weighted_round_robin_spreads_by_weight() -> None:
    pool, _ = make_pool(FakeClock(), {"a": 5, "b": 1, "c": 1})
    order = await spread(pool, 7)
    # nginx's sequence for 5/1/1: a a b a c a a, never five a in a row
    assert [u[7:] for u in order] == ["a", "a", "b", "a", "c", "a", "a"]
    counts = collections.Counter(await spread(pool, 700))
    assert counts == {"http://a": 500, "http://b": 100, "http://c": 100}


async def test_least_connections_picks_the_least_busy_by_weight() -> None:
    pool, fakes = make_pool(FakeClock(), {"a": 1, "b": 2}, balance="least-connections")
    fakes["a"].busy, fakes["b"].busy = 1, 4
    assert pool.pick() is pool.servers[0]  # 1/1 < 4/2
    fakes["a"].busy = 3
    assert pool.pick() is pool.servers[1]  # 3/1 > 4/2
    fakes["a"].busy, fakes["b"].busy = 0, 0
    assert {pool.pick().url, pool.pick().url} == {"http://a", "http://b"}  # type: ignore[union-attr]


async def test_connect_failure_moves_on_and_marks_down_for_a_while() -> None:
    clock = FakeClock()
    pool, fakes = make_pool(clock, {"a": 1, "b": 1}, max_fails=1, down_for=10.0)
    fakes["a"].fail = UpstreamConnectError
    for _ in range(4):
        resp = await pool.fetch("GET", "/x", CIMultiDict())
        assert resp.status == 200
    assert len(fakes["a"].sent) == 1 and len(fakes["b"].sent) == 4  # tried once, then skipped
    assert not pool.is_up(pool.servers[0])
    fakes["a"].fail = None
    clock.advance(10.0)
    assert pool.is_up(pool.servers[0])
    await spread(pool, 2)
    assert len(fakes["a"].sent) == 2


async def test_max_fails_counts_failures_in_a_row() -> None:
    clock = FakeClock()
    pool, fakes = make_pool(clock, {"a": 1}, max_fails=3, down_for=5.0)
    fakes["a"].fail = UpstreamTimeout
    for _ in range(2):
        with pytest.raises(UpstreamTimeout):  # a timeout is not sent to another server
            await pool.fetch("GET", "/", CIMultiDict())
    assert pool.is_up(pool.servers[0])
    fakes["a"].fail = None
    await pool.fetch("GET", "/", CIMultiDict())  # a good answer: the count starts again
    fakes["a"].fail = UpstreamTimeout
    for _ in range(3):
        with pytest.raises(UpstreamTimeout):
            await pool.fetch("GET", "/", CIMultiDict())
    assert not pool.is_up(pool.servers[0])


async def test_no_server_up_is_a_connect_error() -> None:
    pool, fakes = make_pool(FakeClock(), {"a": 1, "b": 1})
    for fake in fakes.values():
        fake.fail = UpstreamConnectError
    with pytest.raises(UpstreamConnectError, match="no server is up"):
        await pool.fetch("GET", "/", CIMultiDict())
    assert [len(f.sent) for f in fakes.values()] == [1, 1]
    with pytest.raises(UpstreamConnectError, match="no server is up"):
        await pool.fetch("GET", "/", CIMultiDict())
    assert [len(f.sent) for f in fakes.values()] == [1, 1]  # both down: nothing sent


async def test_fail_on_5xx_marks_down_but_answers() -> None:
    pool, fakes = make_pool(FakeClock(), {"a": 1, "b": 1}, fail_on_5xx=True)
    fakes["a"].status = 503
    statuses = [(await pool.fetch("GET", "/", CIMultiDict())).status for _ in range(4)]
    assert statuses == [503, 200, 200, 200]
    plain, plain_fakes = make_pool(FakeClock(), {"a": 1, "b": 1})
    plain_fakes["a"].status = 503
    assert [(await plain.fetch("GET", "/", CIMultiDict())).status for _ in range(4)] == [
        503,
        200,
        503,
        200,
    ]


async def test_an_upload_that_started_is_never_replayed() -> None:
    pool, fakes = make_pool(FakeClock(), {"a": 1, "b": 1})
    fakes["a"].fail = UpstreamConnectError

    async def body() -> AsyncIterator[bytes]:
        yield b"data"

    with pytest.raises(UpstreamConnectError, match="a failed"):
        await pool.fetch("POST", "/", CIMultiDict(), body())
    assert fakes["b"].sent == []


async def test_active_probe_fall_and_rise_on_the_clock() -> None:
    clock = FakeClock()
    pool, fakes = make_pool(clock, {"a": 1, "b": 1})
    spec = ProbeSpec(path="/health", interval=5.0, fall=2, rise=3, expect_status=204)
    probe = HealthProbe(pool, spec, clock, {s.url: s.url[7:] for s in pool.servers})
    fakes["a"].status = fakes["b"].status = 204
    assert await probe.check_due() == 2
    assert await probe.check_due() == 0  # not due again before the interval
    assert fakes["a"].sent == ["/health"]
    fakes["a"].status = 500
    clock.advance(5)
    await probe.check_due()
    assert pool.servers[0].state.probed_up  # one failure: fall is 2
    clock.advance(5)
    await probe.check_due()
    assert not pool.is_up(pool.servers[0])
    assert "answered 500, expected 204" in str(pool.servers[0].state.last_error)
    assert pool.pick() is pool.servers[1]
    fakes["a"].status = 204
    for _ in range(2):
        clock.advance(5)
        await probe.check_due()
    assert not pool.servers[0].state.probed_up  # two of three
    clock.advance(5)
    await probe.check_due()
    assert pool.is_up(pool.servers[0])


async def test_active_probe_counts_a_refused_connection() -> None:
    clock = FakeClock()
    pool, fakes = make_pool(clock, {"a": 1})
    probe = HealthProbe(pool, ProbeSpec(fall=1), clock, {"http://a": "a"})
    fakes["a"].fail = UpstreamConnectError
    await probe.check_due()
    assert not pool.is_up(pool.servers[0])
    with pytest.raises(UpstreamConnectError, match="no server is up"):
        await pool.fetch("GET", "/", CIMultiDict())
