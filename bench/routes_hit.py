"""What routes cost a memory hit: the hot path's answer with and without routes, side by side.

``python -m bench routes_hit [--calls N] [--rounds R]``

One node per configuration (``open_node`` on a fake clock, memory tier, an in-memory
origin never asked after the first fill), each with 64 stored 1 KiB objects; then
``HotPath.answer`` (the http1 front's memory-hit path: key, lookup, freshness, head
template) is called ``N`` times per round over those objects, the configurations
interleaved round by round (each round starting with the next one) and the best
round kept (the least disturbed by the rest of the machine). Configurations:

- **no routes**: ``origin.url`` alone (the plain key function), twice, as two nodes:
  their difference is the noise floor of the comparison;
- **routes, key alone**: four host routes with ttl rules, none touching the key;
- **query rule**: the same with ``query: {drop: [utm_*]}`` on the route hit, and
  targets carrying a query (``?id=N&utm_source=x``), the key memoised per target;
- **query rule, no memo**: the same rule applied on every call (what memoising saves).

Printed: nanoseconds per hit and the ratio to *no routes* (higher is slower).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from edge.cache.forwarding import Forwarding
from edge.cache.hot import HotPath
from edge.clock import FakeClock
from edge.config import Config
from edge.config.load import config_from_dict
from edge.models import FrozenHeaders, ProxyRequest
from edge.runtime.node import Node, open_node
from origin_stub.app import make_app as make_origin_app

HOST = "www.example.com"
OBJECTS = 64


def configs(origin: str) -> dict[str, dict[str, Any]]:
    base = {"origin": {"url": origin}, "cache": {"disk": {"enabled": False}}}
    hosts = [{"hosts": [f"h{i}.example.com"], "cache": {"ttl": "1h"}} for i in range(3)]
    plain = {**base, "routes": [*hosts, {"hosts": [HOST], "cache": {"ttl": "1h"}}]}
    query = {"hosts": [HOST], "cache": {"ttl": "1h", "query": {"drop": ["utm_*"]}}}
    return {
        "no routes": base,
        "no routes (again)": base,  # the same twice: the noise floor of the comparison
        "routes, key alone": plain,
        "query rule": {**base, "routes": [*hosts, query]},
        "query rule, no memo": {**base, "routes": [*hosts, query]},
    }


async def _node(stack: AsyncExitStack, data: dict[str, Any], root: Path, i: int) -> Node:
    cfg: Config = config_from_dict(data)
    cfg = dataclasses.replace(cfg, cache=dataclasses.replace(cfg.cache, dir=str(root / str(i))))
    return await stack.enter_async_context(open_node(cfg, clock=FakeClock()))


def _targets(name: str) -> list[str]:
    if name.startswith("query"):
        return [f"/script?size=1024&cc=max-age%3D3600&id={n}&utm_source=x" for n in range(OBJECTS)]
    return [f"/script?size=1024&cc=max-age%3D3600&id={n}" for n in range(OBJECTS)]


async def _fill(node: Node, targets: list[str]) -> None:
    fields = CIMultiDictProxy(CIMultiDict({"Host": HOST}))
    for target in targets:
        resp = await node.engine.handle(ProxyRequest("GET", target, "http", HOST, fields, ""), None)
        body = resp.body
        chunks = getattr(body, "chunks", None)
        if chunks is not None:
            async for _ in chunks:
                pass
    await node.engine.fills.drain()


def _loop(hot: HotPath, targets: list[str], calls: int) -> float:
    headers: Callable[[], FrozenHeaders] = lambda: CIMultiDictProxy(CIMultiDict())  # noqa: E731
    answer = hot.answer
    n = len(targets)
    start = time.perf_counter_ns()
    for i in range(calls):
        if answer(HOST, targets[i % n], headers, date=b"D", connection=b"") is None:
            raise RuntimeError(f"not a memory hit: {targets[i % n]}")
    return (time.perf_counter_ns() - start) / calls


async def run(calls: int, rounds: int) -> dict[str, float]:
    async with AsyncExitStack() as stack:
        server = TestServer(make_origin_app())  # the stub on a free port, in this process
        await server.start_server()
        stack.push_async_callback(server.close)
        origin = str(server.make_url("")).rstrip("/")
        root = Path(stack.enter_context(TemporaryDirectory()))
        hots: dict[str, tuple[HotPath, list[str]]] = {}
        for i, (name, data) in enumerate(configs(origin).items()):
            node = await _node(stack, data, root, i)
            targets = _targets(name)
            await _fill(node, targets)
            if name.endswith("no memo"):  # the rule applied again on every key
                routing = node.engine.routing
                base = routing._base  # noqa: SLF001 - what the memo is measured against

                def unmemoised(s: str, h: str, t: str, r: Any = routing, b: Any = base) -> str:
                    route = r.select(h, t)
                    return str(b(s, h, route.key_target(t)))

                node.engine.key_for = unmemoised
            fwd = Forwarding(name=node.cfg.name)
            hot = HotPath(node.engine, node.store, fwd, node.clock, name=node.cfg.name)
            hots[name] = (hot, targets)
        best = {name: float("inf") for name in hots}
        order = list(hots)
        for r in range(rounds):  # each round starts with another configuration
            for name in order[r % len(order) :] + order[: r % len(order)]:
                hot, targets = hots[name]
                best[name] = min(best[name], _loop(hot, targets, calls))
        return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    best = asyncio.run(run(args.calls, args.rounds))
    base = best["no routes"]
    print(f"{'configuration':24} {'ns/hit':>8} {'vs no routes':>13}")
    for name, ns in best.items():
        print(f"{name:24} {ns:8.0f} {ns / base:12.2f}x")


if __name__ == "__main__":
    main()
