"""A flow on an in-memory upstream and a memory-only store, on a fake clock (tests/cache)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from multidict import CIMultiDict, CIMultiDictProxy

from edge.cache.fills import Fills
from edge.cache.flow import RequestFlow, cache_key_function
from edge.cache.forwarding import Forwarding
from edge.clock import FakeClock
from edge.models import BytesBody, ProxyRequest, ProxyResponse, StreamBody
from edge.policy.options import PolicyOptions
from edge.runtime.stats import Stats
from edge.store.memory import MemoryTier
from edge.store.tiered import TieredStore
from tests.cache.fakes import FakeUpstream, Script

START = 1_769_817_600.0
DATE = "Sat, 31 Jan 2026 00:00:00 GMT"


class Rig:
    def __init__(self, opts: PolicyOptions | None = None) -> None:
        self.clock = FakeClock(START)
        self.upstream = FakeUpstream()
        self.stats = Stats()
        self.store = store = TieredStore(MemoryTier(1 << 20, 1 << 16), None)
        fwd = Forwarding(name="edge")
        self.fills = Fills(
            origin=self.upstream,
            forwarding=fwd,
            store=store,
            clock=self.clock,
            opts=opts or PolicyOptions(),
            stats=self.stats,
            spool_dir=lambda: None,
            mem_limit=1 << 16,
            hit_for_miss=10.0,
            max_background=8,
        )
        self.flow = RequestFlow(
            store=store,
            shortcut=store,
            origin=self.upstream,
            forwarding=fwd,
            clock=self.clock,
            stats=self.stats,
            fills=self.fills,
            name="edge",
            key_for=cache_key_function(lambda path: 0),
            cache_ready=None,
            invalidate_groups=None,
            opts=opts or PolicyOptions(),
        )

    async def get(
        self, target: str, method: str = "GET", **headers: str
    ) -> tuple[ProxyResponse, bytes]:
        """Send a request, read the whole answer, and wait until every fill has ended."""
        resp = await self.send(target, method, **headers)
        body = await read(resp)
        await self.fills.drain()
        return resp, body

    async def send(self, target: str, method: str = "GET", **headers: str) -> ProxyResponse:
        """The answer's head: its body is still to be read (and may still be arriving)."""
        fields = CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()})
        req = ProxyRequest(
            method=method,
            target=target,
            scheme="http",
            host="example.com",
            headers=CIMultiDictProxy(fields),
            client_ip="127.0.0.1",
        )
        return await self.flow.handle(req, None)


async def read(resp: ProxyResponse) -> bytes:
    body = resp.body
    if isinstance(body, BytesBody):
        return body.data
    assert isinstance(body, StreamBody)
    chunks: AsyncIterator[bytes] = body.chunks
    return b"".join([c async for c in chunks])


def cached(max_age: int = 60, **extra: str) -> Script:
    headers = {"Cache-Control": f"max-age={max_age}", "Date": DATE, "ETag": '"v1"', **extra}
    return Script(headers=headers, chunks=(b"hello ", b"world"))


def status_of(resp: ProxyResponse) -> str:
    return resp.headers.getall("Cache-Status")[-1]
