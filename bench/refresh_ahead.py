"""Refresh-ahead against plain stale-while-revalidate and against neither, on a Zipf trace.

``python -m bench refresh_ahead [--keys N] [--alpha A] [--rate R] [--seconds S]
[--max-age T] [--latency L] [--out DIR]``

Every request goes through the real engine (``RequestFlow`` over a memory tier and
real fills) on a simulated clock (:class:`edge.clock.FakeClock`): requests arrive as a
Poisson process of ``rate`` per simulated second, keys drawn from a Zipf law, every
key with ``max-age=T`` and an ETag. The origin is simulated too: each request to it
is answered ``latency`` simulated seconds later (a 304 to a conditional request, a
200 otherwise), while other requests keep arriving, so a miss lasts as long as it
would in front of a slow origin and concurrent misses collapse. Three
configurations, same trace:

- **neither**: ``max-age=T``; an expired entry is revalidated while the client waits;
- **stale-while-revalidate**: ``max-age=T, stale-while-revalidate=3T``; the first request
  after expiry is answered stale and revalidates in the background;
- **refresh-ahead**: ``max-age=T`` and ``cache.refresh_ahead`` (fraction 0.1,
  min_hits 2): a popular entry is revalidated in its last 10 %;
- the same with ``fraction 0.2, min_hits 1`` (refresh earlier, on any hit);
- **both**: stale-while-revalidate and refresh-ahead.

Counted per request of the top 1 % of keys (and of all keys): *misses* (the client
waited for the origin: a miss, a revalidation, a collapsed wait) and *stale* answers.
Simulated time makes the figures independent of this machine's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import heapq
import itertools
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from multidict import CIMultiDict, CIMultiDictProxy

from edge.cache.fills import Fills
from edge.cache.flow import RequestFlow, cache_key_function
from edge.cache.forwarding import Forwarding
from edge.cache.refresh import RefreshAhead
from edge.clock import FakeClock
from edge.models import BytesBody, ProxyRequest, StreamBody
from edge.origin.client import InterimSink, OriginResponse
from edge.policy.options import PolicyOptions
from edge.runtime.stats import Stats
from edge.store.memory import MemoryTier
from edge.store.tiered import TieredStore

START = 1_769_817_600.0
BODY = b"x" * 512
SETTLE = 40  # event-loop turns after an origin answer, for fills to store and answer


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        yield self._data

    def close(self) -> None:
        return None


class SimulatedOrigin:
    """Answers each request ``latency`` simulated seconds after it was sent."""

    def __init__(self, clock: FakeClock, latency: float, cache_control: str) -> None:
        self.clock = clock
        self.latency = latency
        self.cache_control = cache_control
        self.pending: list[tuple[float, int, asyncio.Future[None]]] = []
        self.requests = 0
        self._seq = itertools.count()

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
        self.requests += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.pending, (self.clock.now() + self.latency, next(self._seq), done))
        await done
        fields = CIMultiDict({"Cache-Control": self.cache_control, "ETag": '"v1"'})
        if headers.get("If-None-Match") == '"v1"':
            return OriginResponse(304, "Not Modified", fields, 0, _Body(b""))
        fields["Content-Length"] = str(len(BODY))
        return OriginResponse(200, "OK", fields, len(BODY), _Body(BODY))


@dataclass
class Counts:
    requests: int = 0
    hits: int = 0
    misses: int = 0
    stale: int = 0

    def add(self, kind: str) -> None:
        self.requests += 1
        setattr(self, kind, getattr(self, kind) + 1)


@dataclass
class Result:
    name: str
    top: Counts
    all: Counts
    origin_requests: int
    refreshes: int


def zipf_sampler(keys: int, alpha: float, rng: random.Random) -> list[float]:
    weights = [1.0 / (rank**alpha) for rank in range(1, keys + 1)]
    total = sum(weights)
    return list(itertools.accumulate(w / total for w in weights))


async def run_one(
    name: str, swr: bool, fraction: float, min_hits: int, args: argparse.Namespace
) -> Result:
    clock = FakeClock(START)
    cc = f"max-age={args.max_age:g}"
    if swr:
        cc += f", stale-while-revalidate={3 * args.max_age:g}"
    origin = SimulatedOrigin(clock, args.latency, cc)
    stats = Stats()
    store = TieredStore(MemoryTier(1 << 30, 1 << 20), None)
    fwd = Forwarding(name="edge")
    opts = PolicyOptions()
    fills = Fills(
        origin=origin,
        forwarding=fwd,
        store=store,
        clock=clock,
        opts=opts,
        stats=stats,
        spool_dir=lambda: None,
        mem_limit=1 << 20,
        hit_for_miss=120.0,
        max_background=64,
    )
    flow = RequestFlow(
        store=store,
        shortcut=store,
        origin=origin,
        forwarding=fwd,
        clock=clock,
        stats=stats,
        fills=fills,
        name="edge",
        key_for=cache_key_function(lambda path: 0),
        cache_ready=None,
        invalidate_groups=None,
        opts=opts,
        refresh=RefreshAhead(fraction, min_hits),
    )
    rng = random.Random(args.seed)
    cdf = zipf_sampler(args.keys, args.alpha, rng)
    top_n = max(1, args.keys // 100)
    top, every = Counts(), Counts()
    empty = CIMultiDictProxy(CIMultiDict[str]())

    async def one(rank: int) -> None:
        req = ProxyRequest("GET", f"/k{rank}", "http", "example.com", empty, "127.0.0.1")
        resp = await flow.handle(req, None)
        body = resp.body
        if isinstance(body, StreamBody):
            async for _ in body.chunks:
                pass
        else:
            assert isinstance(body, BytesBody)
        status = resp.cache_status
        kind = "misses"
        if "; hit" in status:
            kind = "stale" if "stale-while-revalidate" in status else "hits"
        every.add(kind)
        if rank < top_n:
            top.add(kind)

    async def settle() -> None:
        for _ in range(SETTLE):
            await asyncio.sleep(0)

    tasks: set[asyncio.Task[None]] = set()
    t = START
    for _ in range(int(args.rate * args.seconds)):
        t += rng.expovariate(args.rate)
        while origin.pending and origin.pending[0][0] <= t:
            when, _, done = heapq.heappop(origin.pending)
            clock.advance(max(0.0, when - clock.now()))
            done.set_result(None)
            await settle()
        clock.advance(t - clock.now())
        rank = bisect.bisect_left(cdf, rng.random())
        task = asyncio.get_running_loop().create_task(one(min(rank, args.keys - 1)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(0)
    for _ in range(10_000):  # bounded: the last answers
        if not origin.pending:
            break
        when, _, done = heapq.heappop(origin.pending)
        clock.advance(max(0.0, when - clock.now()))
        done.set_result(None)
        await settle()
    await asyncio.gather(*tasks)
    await fills.drain()
    return Result(name, top, every, origin.requests, stats.refresh_ahead)


def table(results: list[Result]) -> str:
    lines = [
        "| configuration | top-1 % requests | misses | stale | misses + stale | "
        "all keys: misses + stale | origin requests |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        top, every = r.top, r.all
        bad = (top.misses + top.stale) / top.requests if top.requests else 0.0
        all_bad = (every.misses + every.stale) / every.requests if every.requests else 0.0
        lines.append(
            f"| {r.name} | {top.requests:,} | {top.misses:,} | {top.stale:,} | "
            f"{bad:.2%} | {all_bad:.2%} | {r.origin_requests:,} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench refresh_ahead")
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--rate", type=float, default=500.0, help="requests per simulated second")
    ap.add_argument("--seconds", type=float, default=120.0, help="simulated seconds")
    ap.add_argument("--max-age", type=float, default=10.0)
    ap.add_argument("--latency", type=float, default=0.1, help="origin latency, seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="bench/results/refresh_ahead")
    args = ap.parse_args()
    configs = [
        ("neither", False, 0.0, 2),
        ("stale-while-revalidate", True, 0.0, 2),
        ("refresh-ahead (defaults: fraction 0.1, min_hits 2)", False, 0.1, 2),
        ("refresh-ahead (fraction 0.2, min_hits 1)", False, 0.2, 1),
        ("stale-while-revalidate and refresh-ahead (defaults)", True, 0.1, 2),
    ]
    results = [asyncio.run(run_one(name, swr, f, m, args)) for name, swr, f, m in configs]
    report = table(results)
    setup = (
        f"{args.keys:,} keys, Zipf alpha {args.alpha}, {args.rate:g} requests per simulated "
        f"second for {args.seconds:g} s, max-age={args.max_age:g}, origin latency "
        f"{args.latency * 1000:g} ms, seed {args.seed}"
    )
    print(setup)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(f"# Refresh-ahead\n\n{setup}\n\n{report}\n")
    data = {"setup": vars(args), "results": [asdict(r) for r in results]}
    (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
