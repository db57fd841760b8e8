"""Collapsing across workers, in one process: two workers' flows, each with a
:class:`~edge.runtime.worker_routing.WorkerRoute` as its fills' upstream and a
:class:`~edge.runtime.worker_relay.FillRelay` on its own fill socket, before one
in-memory origin (edge.runtime.worker_routing, worker_relay, worker_wire)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from edge.cache.fills import Fills
from edge.cache.flow import RequestFlow, cache_key_function
from edge.cache.forwarding import Forwarding
from edge.clock import SystemClock
from edge.config import OriginConfig
from edge.errors import UpstreamBodyError, UpstreamTimeout
from edge.invalidation.tombstones import Tombstones
from edge.models import ProxyRequest, ProxyResponse, StreamBody
from edge.origin.client import InterimSink, OriginResponse
from edge.policy.keys import primary_key, url_of_key
from edge.policy.options import PolicyOptions
from edge.runtime.stats import Stats
from edge.runtime.worker_relay import FillRelay
from edge.runtime.worker_routing import WorkerRoute
from edge.runtime.worker_wire import Owners, unforward
from edge.runtime.workers import WorkerRole, socket_paths
from edge.store.memory import MemoryTier
from edge.store.tiered import TieredStore
from tests.cache.rig import read

pytestmark = pytest.mark.timeout(30)
HOST = "example.com"
BODY = [b"first part, ", b"second part, ", b"the end"]


@dataclass
class Sent:
    target: str
    headers: CIMultiDict[str]


@dataclass
class Feed:
    """A body the test releases chunk by chunk; every response to it follows the same feed."""

    chunks: list[bytes] = field(default_factory=list)
    done: bool = False
    broken: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self._notify()

    def complete(self) -> None:
        for chunk in BODY:
            self.push(chunk)
        self.end()

    def end(self, *, broken: bool = False) -> None:
        self.done, self.broken = True, broken
        self._notify()

    def _notify(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()


@dataclass
class _FeedBody:
    feed: Feed

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        sent = 0
        while True:
            while sent < len(self.feed.chunks):
                sent += 1
                yield self.feed.chunks[sent - 1]
            if self.feed.done:
                if self.feed.broken:
                    raise UpstreamBodyError("origin broke off")
                return
            await self.feed.changed.wait()

    def close(self) -> None:
        pass


class Origin:
    """Answers every GET with the feed's body once ``head`` is set; records each request."""

    def __init__(self, cc: str = "max-age=60") -> None:
        self.sent: list[Sent] = []
        self.head = asyncio.Event()
        self.feed = Feed()
        self.cc = cc
        self.fail: Exception | None = None

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
        self.sent.append(Sent(target, CIMultiDict(headers)))
        if self.fail is not None:
            raise self.fail
        await self.head.wait()
        fields = CIMultiDict(
            {"Cache-Control": self.cc, "Surrogate-Key": "t1 t2", "Content-Length": "32"}
        )
        return OriginResponse(200, "OK", fields, 32, _FeedBody(self.feed))


class Worker:
    def __init__(self, index: int, directory: str, origin: Origin) -> None:
        self.role = WorkerRole(
            index, 2, socket_paths(directory, 2), socket_paths(directory, 2, "f")
        )
        self.stats = Stats()
        self.tombstones = Tombstones()
        self.versions: dict[str, int] = {}
        self.store = store = TieredStore(MemoryTier(1 << 20, 1 << 16), None)
        fwd = Forwarding(name="edge")
        timeouts = OriginConfig(first_byte_timeout=5.0, read_timeout=5.0)
        self.route = WorkerRoute(
            self.role,
            origin,
            stats=self.stats,
            tombstones=self.tombstones,
            version_for=self.version_for,
            timeouts=timeouts,
        )
        clock = SystemClock()
        fills = Fills(
            origin=self.route,
            forwarding=fwd,
            store=store,
            clock=clock,
            opts=PolicyOptions(),
            stats=self.stats,
            spool_dir=lambda: None,
            mem_limit=1 << 16,
            hit_for_miss=10.0,
            max_background=8,
        )
        self.flow = RequestFlow(
            store=store,
            shortcut=store,
            origin=origin,
            forwarding=fwd,
            clock=clock,
            stats=self.stats,
            fills=fills,
            opts=PolicyOptions(),
            name="edge",
            key_for=cache_key_function(self.version_for),
            cache_ready=None,
            invalidate_groups=None,
        )
        self.relay = FillRelay(self.flow, self.role, self.version_for)

    def version_for(self, path: str) -> int:
        return self.versions.get(path, 0)

    async def send(self, target: str, client_ip: str = "10.0.0.7") -> ProxyResponse:
        fields = CIMultiDict({"Host": HOST, "X-Forwarded-For": "192.0.2.1"})
        req = ProxyRequest("GET", target, "http", HOST, CIMultiDictProxy(fields), client_ip)
        return await self.flow.handle(req, None)


@pytest.fixture
def directory() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="wr-")  # short: Unix socket paths fit in 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def pair(
    directory: str, origin: Origin, *, up: tuple[int, ...] = (0, 1)
) -> AsyncIterator[tuple[Worker, Worker]]:
    workers = (Worker(0, directory, origin), Worker(1, directory, origin))
    for i in up:
        await workers[i].relay.start()
    try:
        yield workers
    finally:
        for w in workers:
            await w.relay.close()
            await w.flow.fills.close()


def owned_by(index: int, prefix: str = "/obj") -> str:
    """A target whose key worker ``index`` owns."""
    owners = Owners(2)
    for n in range(1000):
        target = f"{prefix}{n}"
        if owners.of(url_of_key(primary_key("http", HOST, target))) == index:
            return target
    raise AssertionError("no such target")


async def until(check: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.005)


def total(workers: tuple[Worker, Worker], name: str) -> int:
    return sum(getattr(w.stats, name) for w in workers)


async def test_a_herd_on_both_workers_makes_one_origin_request_and_streams(directory: str) -> None:
    origin = Origin()
    async with pair(directory, origin) as workers:
        target = owned_by(0)
        # the non-owner's clients come first: its fill asks the owner, which starts the fill
        herd = [asyncio.create_task(workers[i % 2].send(target)) for i in (1, 0) * 20]
        await until(lambda: origin.sent, "the origin was never asked")
        origin.head.set()
        answers = await asyncio.gather(*herd)
        assert len(origin.sent) == 1
        origin.feed.push(BODY[0])
        # a follower in the other worker has the first bytes while the origin still sends
        follower = answers[0]
        assert follower.status == 200
        assert isinstance(follower.body, StreamBody)
        chunks = follower.body.chunks
        assert await anext(chunks) == BODY[0]
        for chunk in BODY[1:]:
            origin.feed.push(chunk)
        origin.feed.end()
        assert BODY[0] + b"".join([c async for c in chunks]) == b"".join(BODY)
        assert [await read(a) for a in answers[1:]] == [b"".join(BODY)] * (len(answers) - 1)
        assert len(origin.sent) == 1
        await workers[1].flow.fills.drain()
        assert total(workers, "origin_requests") == 1
        assert workers[0].stats.origin_requests == 1
        assert workers[1].stats.relayed == 1
        assert total(workers, "origin_errors") == 0


async def test_the_origin_sees_the_client_fields_as_without_workers(directory: str) -> None:
    origin = Origin()
    origin.head.set()
    origin.feed.complete()
    async with pair(directory, origin) as (_owner, other):
        await read(await other.send(owned_by(0), client_ip="10.0.0.9"))
        direct = Forwarding(name="edge").upstream(
            ProxyRequest(
                "GET",
                "/x",
                "http",
                HOST,
                CIMultiDictProxy(CIMultiDict({"Host": HOST, "X-Forwarded-For": "192.0.2.1"})),
                "10.0.0.9",
            )
        )
        assert dict(origin.sent[0].headers) == dict(direct)


async def test_answers_keep_the_origin_fields_for_the_asking_worker(directory: str) -> None:
    origin = Origin()
    origin.head.set()
    origin.feed.complete()
    async with pair(directory, origin) as (_owner, other):
        target = owned_by(0)
        resp = await other.send(target)
        assert await read(resp) == b"".join(BODY)
        await other.flow.fills.drain()
        # stored by the asking worker with the owner's fields: its tags are purgeable there
        entries = other.store.lookup_sync(primary_key("http", HOST, target))
        assert entries is not None and len(entries) == 1
        entry = entries[0]
        assert entry.tags == ("t1", "t2")
        assert "Server" not in CIMultiDict(entry.headers)


async def test_own_keys_and_revalidations_go_upstream_directly(directory: str) -> None:
    origin = Origin()
    origin.head.set()
    origin.feed.complete()
    async with pair(directory, origin) as (owner, other):
        target = owned_by(0)
        key = url_of_key(primary_key("http", HOST, target))
        (await owner.route.fetch("GET", target, CIMultiDict(), key=key)).close()
        validators = CIMultiDict({"If-None-Match": '"v1"'})
        (await other.route.fetch("GET", target, validators, key=key)).close()
        assert other.stats.relayed == 0
        assert len(origin.sent) == 2


async def test_an_owner_that_is_down_means_the_origin(directory: str) -> None:
    origin = Origin()
    origin.head.set()
    origin.feed.complete()
    async with pair(directory, origin, up=(1,)) as (_owner, other):  # worker 0 restarting
        resp = await other.send(owned_by(0))
        assert resp.status == 200
        await read(resp)
        await other.flow.fills.drain()
        assert other.stats.origin_requests == 1 and other.stats.relayed == 0


async def test_an_owner_that_dies_before_answering_means_the_origin(directory: str) -> None:
    origin = Origin()
    async with pair(directory, origin) as (owner, other):
        target = owned_by(0)
        waiting = asyncio.create_task(other.send(target))
        await until(lambda: origin.sent, "the owner never asked the origin")
        await owner.relay.close()  # cuts the ask: as if the owner process died
        origin.head.set()
        origin.feed.complete()
        resp = await waiting
        assert resp.status == 200
        assert len(origin.sent) == 2  # the owner's (lost) and this worker's own


async def test_a_body_the_owner_breaks_off_breaks_off_here(directory: str) -> None:
    origin = Origin()
    origin.head.set()
    async with pair(directory, origin) as (_owner, other):
        resp = await other.send(owned_by(0))
        origin.feed.push(BODY[0])
        origin.feed.end(broken=True)
        with pytest.raises(UpstreamBodyError):
            await read(resp)


async def test_a_version_mismatch_is_fetched_directly(directory: str) -> None:
    origin = Origin()
    origin.head.set()
    origin.feed.complete()
    async with pair(directory, origin) as (_owner, other):
        target = owned_by(0)
        other.versions[target] = 1  # a bump that reached worker 1 but not worker 0 yet
        await read(await other.send(target))
        await other.flow.fills.drain()
        assert other.stats.relayed == 0 and other.stats.origin_requests == 1


async def test_a_fill_begun_before_a_purge_here_is_not_taken_from_the_owner(
    directory: str,
) -> None:
    origin = Origin()
    origin.head.set()
    async with pair(directory, origin) as (owner, other):
        target = owned_by(0)
        first = await owner.send(target)  # the owner's fill is under way
        other.tombstones.purged(SystemClock().now(), tags=["t2"])  # purged here already
        second = asyncio.create_task(other.send(target))
        await until(lambda: len(origin.sent) == 2, "the worker did not fetch it itself")
        origin.feed.complete()
        await read(first)
        await read(await second)
        assert other.stats.relayed == 0


async def test_an_owner_error_is_raised_here_and_counted_once(directory: str) -> None:
    origin = Origin()
    origin.fail = UpstreamTimeout("origin did not answer in time")
    async with pair(directory, origin) as workers:
        with pytest.raises(UpstreamTimeout):
            await workers[1].send(owned_by(0))
        assert len(origin.sent) == 1
        assert workers[1].stats.relayed == 1
        assert total(workers, "origin_requests") == 1
        assert total(workers, "origin_errors") == 1


def test_unforward_is_the_inverse_of_forwarding() -> None:
    cases = [
        ({"Host": "a.test"}, "10.0.0.1", (1, 1), True),
        ({"Host": "a.test", "X-Forwarded-For": "1.1.1.1, 2.2.2.2"}, "10.0.0.2", (1, 0), True),
        ({"Host": "a.test", "Via": "1.1 other, 1.0 x", "CDN-Loop": "cdn"}, "::1", (1, 1), True),
        ({}, "10.0.0.3", (1, 0), False),  # HTTP/1.0 without Host; Via turned off
    ]
    for fields, ip, version, via in cases:
        fwd = Forwarding(name="edge", via=via)
        req = ProxyRequest(
            "GET", "/p?q=1", "https", "a.test", CIMultiDictProxy(CIMultiDict(fields)), ip, version
        )
        sent = fwd.upstream(req)
        again = unforward(req.target, sent, fwd)
        assert (again.client_ip, again.scheme, again.host) == (ip, "https", "a.test")
        assert sorted(fwd.upstream(again).items()) == sorted(sent.items())  # order aside
