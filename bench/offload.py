"""Origin offload: ``python -m bench.offload``.

The same workload (by default 2,000 GETs over 200 URLs, Zipf-distributed, every response
cacheable for a year) goes to three setups of real processes on free 127.0.0.1 ports, each with
empty caches, in front of one origin stub:

* one edge alone;
* two edges straight to the origin, requests sent to them round-robin (what a shield saves);
* two edges behind one shield (parent chosen by consistent hashing), round-robin.

It prints origin requests per 1,000 client requests, read from the origin stub's
``/__origin/stats``, and where the client's answers came from (the last Cache-Status member
that says ``hit``). No NATS: purges play no part here.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.support.http_client import admin_call, parse_cache_status, request
from tests.support.processes import (
    LocalProcess,
    Parent,
    free_port,
    node_config,
    node_process,
    origin_process,
    stop_all,
    write_config,
)

TOKEN = "bench-offload-token-0123456789"
SITE = "cdn.example.test"


def zipf_workload(requests: int, urls: int, s: float, seed: int) -> list[str]:
    """``requests`` paths over ``urls`` objects; object k (1-based) has weight 1/k**s."""
    rng = random.Random(seed)
    paths = [f"/static/offload/obj-{k:04d}.js" for k in range(1, urls + 1)]
    weights = [1.0 / k**s for k in range(1, urls + 1)]
    return rng.choices(paths, weights=weights, k=requests)


@dataclass
class Result:
    setup: str
    client_requests: int
    origin_requests: int
    served_by: Counter[str]
    errors: int

    @property
    def per_thousand(self) -> float:
        return 1000.0 * self.origin_requests / self.client_requests


async def _drive(
    targets: Sequence[str], workload: Sequence[str], concurrency: int
) -> tuple[Counter[str], int]:
    """Send ``workload`` round-robin over ``targets``; who answered each request, and errors."""
    served: Counter[str] = Counter()
    errors = 0
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for i, path in enumerate(workload):
        queue.put_nowait((i, path))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while True:
            try:
                i, path = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            url = targets[i % len(targets)] + path
            async with session.get(url, headers={"Host": SITE}) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
                members = parse_cache_status(resp.headers.getall("Cache-Status", []))
                hits = [m.cache for m in members if m.hit]
                served[f"hit at {hits[-1]}" if hits else "no tier hit"] += 1

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return served, errors


def _wait_parents_up(node: LocalProcess, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while True:
        stats = admin_call(node.admin_url, "/stats", TOKEN).json()
        parents = stats.get("cluster", {}).get("parents", {})
        if all(p.get("up") for p in parents.values()):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{node.name}: parents not up within {within}s: {parents}")
        time.sleep(0.1)


def _run_setup(
    setup: str,
    root: Path,
    origin: LocalProcess,
    edges: int,
    shield: bool,
    workload: Sequence[str],
    concurrency: int,
) -> Result:
    root.mkdir(parents=True)
    env = {"EDGE_ADMIN_TOKEN": TOKEN}
    nodes: list[LocalProcess] = []
    parents: list[Parent] = []
    try:
        if shield:
            port, admin = free_port(), free_port()
            cfg = write_config(root / "shield.yaml", node_config("shield", origin.url))
            nodes.append(
                node_process(
                    "shield", cfg, port, admin, root / "cache-shield", root / "shield.log", env
                )
            )
            parents.append(Parent("shield", nodes[0].url, nodes[0].admin_url))
        edge_nodes: list[LocalProcess] = []
        for i in range(edges):
            name = f"edge-{'ab'[i]}" if edges > 1 else "edge"
            cfg = write_config(
                root / f"{name}.yaml", node_config(name, origin.url, parents=parents)
            )
            port, admin = free_port(), free_port()
            node = node_process(
                name, cfg, port, admin, root / f"cache-{name}", root / f"{name}.log", env
            )
            nodes.append(node)
            edge_nodes.append(node)
        for node in nodes:  # the shield first: an edge that finds it down skips it a while
            node.start()
            node.wait_healthy(60)
        for node in edge_nodes:
            _wait_parents_up(node)
        request(f"{origin.url}/__origin/reset", method="POST")
        served, errors = asyncio.run(_drive([n.url for n in edge_nodes], workload, concurrency))
        counts: dict[str, int] = request(f"{origin.url}/__origin/stats").json()["counts"]
        at_origin = sum(n for path, n in counts.items() if path.startswith("/static/offload/"))
        return Result(setup, len(workload), at_origin, served, errors)
    finally:
        stop_all(nodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.offload", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--urls", type=int, default=200)
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent s (default 1.0)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)

    workload = zipf_workload(args.requests, args.urls, args.zipf, args.seed)
    distinct = len(set(workload))
    setups = (
        ("one edge alone", 1, False),
        ("two edges, no shield", 2, False),
        ("two edges + one shield", 2, True),
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="edge-offload-") as tmp:
        root = Path(tmp)
        origin = origin_process(free_port(), root / "origin.log")
        origin.start()
        try:
            origin.wait_http(f"{origin.url}/__origin/stats")
            for i, (setup, edges, shield) in enumerate(setups):
                print(f"offload: {setup} ...", file=sys.stderr)
                results.append(
                    _run_setup(
                        setup,
                        root / f"setup-{i}",
                        origin,
                        edges,
                        shield,
                        workload,
                        args.concurrency,
                    )
                )
        finally:
            stop_all([origin])

    print(
        f"\nOrigin offload: {args.requests} requests over {args.urls} URLs "
        f"({distinct} distinct requested), Zipf s={args.zipf:g}, seed {args.seed}, "
        f"{args.concurrency} concurrent, every object cacheable (max-age=1y), caches empty.\n"
    )
    print(f"{'setup':<26}{'origin requests':>16}{'per 1,000 client requests':>28}   served by")
    for r in results:
        where = ", ".join(f"{what} {n}" for what, n in sorted(r.served_by.items()))
        errors = f", {r.errors} errors" if r.errors else ""
        print(f"{r.setup:<26}{r.origin_requests:>16}{r.per_thousand:>28.1f}   {where}{errors}")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
