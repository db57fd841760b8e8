"""Replay synthetic traces through the memory tier's eviction policies.

Run: ``python -m bench.trace_sim`` (about a minute, plain Python). The full study,
every policy of ``bench/eviction_policies.py`` and a real trace with a report and
a chart, is ``python -m bench eviction`` (``bench/eviction_study.py``), built on
the traces and the Belady reference here.

Traces: Zipf(alpha) popularity over ``--objects`` objects whose sizes are
log-normal (median 16 KiB, clipped to 1 KiB..1 MiB), ``--requests`` requests;
plus the alpha=0.9 trace with a burst of one-off objects (a scan) inserted in
its middle. Budgets are fractions of the trace's working set (the bytes of
all distinct objects).

Policies: :class:`edge.store.eviction.LRU`, :class:`edge.store.eviction.S3FIFO`
and :class:`edge.store.tinylfu.WTinyLFU`, the very classes the memory tier runs,
against Belady's offline algorithm, here with bypass: on a miss, evict the
resident objects whose next use is furthest until the new one fits, unless
the new object's own next use is further still (then it is not admitted).
It ignores sizes when choosing victims, so with variable sizes it is the
classic reference point, not a proven upper bound (size-aware OPT is
NP-hard); for object hit ratio it is near-optimal in practice.

Printed: hit ratio (HR) and byte hit ratio (BHR) per policy, the share of the
LRU-to-Belady gap S3-FIFO and W-TinyLFU close, and for the scan trace the hit-ratio loss
on the regular requests compared with the same trace without the scan.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge.store.eviction import LRU, S3FIFO, EvictionPolicy
from edge.store.tinylfu import WTinyLFU

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True, slots=True)
class Trace:
    name: str
    requests: list[int]
    sizes: list[int]  # by object id
    counted: int  # only ids below this count towards the ratios (scan ids are above)
    window: tuple[int, int] = (0, 1 << 62)  # request positions that count


@dataclass(frozen=True, slots=True)
class Result:
    hits: int
    requests: int
    byte_hits: int
    bytes: int

    @property
    def hr(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    @property
    def bhr(self) -> float:
        return self.byte_hits / self.bytes if self.bytes else 0.0


def make_sizes(rng: random.Random, n: int) -> list[int]:
    mu, sigma = math.log(16 * KiB), 1.5
    return [min(MiB, max(KiB, int(rng.lognormvariate(mu, sigma)))) for _ in range(n)]


def zipf_requests(rng: random.Random, n: int, alpha: float, count: int) -> list[int]:
    weights = [1.0 / (rank**alpha) for rank in range(1, n + 1)]
    cum = list(itertools.accumulate(weights))
    return rng.choices(range(n), cum_weights=cum, k=count)


def with_scan(trace: Trace, scan_objects: int, rng: random.Random) -> Trace:
    n = len(trace.sizes)
    scan_sizes = make_sizes(rng, scan_objects)
    mid = len(trace.requests) // 2
    burst = list(range(n, n + scan_objects))
    requests = trace.requests[:mid] + burst + trace.requests[mid:]
    return Trace(f"{trace.name}+scan", requests, trace.sizes + scan_sizes, counted=n)


def replay(policy: EvictionPolicy[int], trace: Trace) -> Result:
    access, insert, sizes, counted = policy.access, policy.insert, trace.sizes, trace.counted
    start, end = trace.window
    hits = reqs = byte_hits = nbytes = 0
    for i, key in enumerate(trace.requests):
        size = sizes[key]
        hit = access(key)
        if not hit:
            insert(key, size)
        if key < counted and start <= i < end:
            reqs += 1
            nbytes += size
            if hit:
                hits += 1
                byte_hits += size
    return Result(hits, reqs, byte_hits, nbytes)


def belady(trace: Trace, capacity: int) -> Result:
    """Furthest-next-use eviction with bypass (see the module docstring)."""
    requests, sizes, counted = trace.requests, trace.sizes, trace.counted
    start, end = trace.window
    never = len(requests)
    next_use = [never] * len(requests)
    last: dict[int, int] = {}
    for i in range(len(requests) - 1, -1, -1):
        key = requests[i]
        next_use[i] = last.get(key, never)
        last[key] = i
    resident: dict[int, int] = {}  # key -> its next use
    heap: list[tuple[int, int]] = []  # (-next use, key), stale items skipped
    used = hits = reqs = byte_hits = nbytes = 0
    for i, key in enumerate(requests):
        size, nxt = sizes[key], next_use[i]
        hit = key in resident
        if key < counted and start <= i < end:
            reqs += 1
            nbytes += size
            if hit:
                hits += 1
                byte_hits += size
        if hit:
            resident[key] = nxt
            heapq.heappush(heap, (-nxt, key))
            continue
        if nxt == never or size > capacity:
            continue
        while used + size > capacity:
            far, victim = heap[0]
            if resident.get(victim) != -far:
                heapq.heappop(heap)  # stale
                continue
            if -far < nxt:
                break  # everything resident is needed sooner than the newcomer
            heapq.heappop(heap)
            del resident[victim]
            used -= sizes[victim]
        if used + size <= capacity:
            resident[key] = nxt
            used += size
            heapq.heappush(heap, (-nxt, key))
    return Result(hits, reqs, byte_hits, nbytes)


POLICIES: dict[str, Callable[[int], EvictionPolicy[int]]] = {
    "LRU": LRU,
    "S3-FIFO": S3FIFO,
    "W-TinyLFU": WTinyLFU,
}


def working_set(trace: Trace) -> int:
    return sum(trace.sizes[k] for k in set(trace.requests))


def run(traces: Sequence[Trace], budgets: Sequence[float]) -> dict[tuple[str, float, str], Result]:
    results: dict[tuple[str, float, str], Result] = {}
    header = f"{'trace':<14}{'budget':>7}  " + "".join(
        f"{name + ' HR':>15}{name + ' BHR':>15}" for name in [*POLICIES, "Belady"]
    )
    closers = [name for name in POLICIES if name != "LRU"]
    header += "".join(f"{name + ' gap':>15}" for name in closers)
    print(header)
    print("-" * len(header))
    for trace in traces:
        ws = working_set(trace if trace.counted == len(trace.sizes) else _base(trace))
        for budget in budgets:
            capacity = int(ws * budget)
            row = {name: replay(make(capacity), trace) for name, make in POLICIES.items()}
            row["Belady"] = belady(trace, capacity)
            for name, result in row.items():
                results[(trace.name, budget, name)] = result
            cells = "".join(f"{r.hr:>15.4f}{r.bhr:>15.4f}" for r in row.values())
            gap = row["Belady"].hr - row["LRU"].hr
            for name in closers:
                closed = (row[name].hr - row["LRU"].hr) / gap if gap > 0 else float("nan")
                cells += f"{closed:>15.0%}"
            print(f"{trace.name:<14}{budget:>7.0%}  {cells}")
    return results


def print_scan_loss(
    plain: Trace, scanned: Trace, scan: int, budgets: Sequence[float], after: int
) -> None:
    """Hit ratio over the ``after`` regular requests that follow the scan, with and without it."""
    mid = len(plain.requests) // 2
    plain_w = Trace(plain.name, plain.requests, plain.sizes, plain.counted, (mid, mid + after))
    scan_w = Trace(
        scanned.name, scanned.requests, scanned.sizes, scanned.counted, (mid, mid + scan + after)
    )
    ws = working_set(plain)
    print(f"\nscan: {scan} one-off objects; hit ratio over the next {after} requests")
    print(
        f"{'budget':>7}  "
        + "".join(f"{n + ' plain':>17}{n + ' scan':>16}{n + ' loss':>16}" for n in POLICIES)
    )
    for budget in budgets:
        capacity = int(ws * budget)
        cells = ""
        for make in POLICIES.values():
            before, hit = replay(make(capacity), plain_w).hr, replay(make(capacity), scan_w).hr
            cells += f"{before:>17.4f}{hit:>16.4f}{(before - hit) * 100:>13.2f} pt"
        print(f"{budget:>7.0%}  {cells}")


def _base(trace: Trace) -> Trace:
    """The trace without its scan (budgets are sized on the regular working set)."""
    regular = [k for k in trace.requests if k < trace.counted]
    return Trace(trace.name, regular, trace.sizes[: trace.counted], trace.counted)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--scan", type=int, default=5_000, help="one-off objects in the scan")
    parser.add_argument("--after", type=int, default=20_000, help="requests measured after it")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rng = random.Random(args.seed)
    sizes = make_sizes(rng, args.objects)
    traces = [
        Trace(
            f"zipf {alpha}",
            zipf_requests(rng, args.objects, alpha, args.requests),
            sizes,
            len(sizes),
        )
        for alpha in (0.7, 0.9, 1.1)
    ]
    traces.append(with_scan(traces[1], args.scan, rng))
    budgets = (0.01, 0.05, 0.10)
    run(traces, budgets)

    print()
    print("gap = (policy HR - LRU HR) / (Belady HR - LRU HR)")
    print_scan_loss(traces[1], traces[3], args.scan, budgets, args.after)
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
