"""The eviction study: ``python -m bench eviction`` (about 3 minutes on 2 cores).

Every policy below replays the same traces, byte-aware (the budget is bytes),
against Belady's furthest-next-use with bypass (``bench/trace_sim.py``):

- Zipf traces, alpha 0.7, 0.9 and 1.1, 200,000 requests over 20,000 objects
  with log-normal sizes (median 16 KiB, 1 KiB..1 MiB), budgets of 1, 5 and
  10 % of the working set: the nine cases the default policy is chosen on;
- the alpha 0.9 trace with 5,000 one-off objects (a scan) in its middle: the
  hit ratio of the 20,000 regular requests after it, with and without it;
- a real trace, Twitter's cluster52 sample (``bench/real_trace.py``), when
  pip can fetch it (``--no-real`` skips it).

The score is the share of the LRU-to-Belady gap in object hit ratio a policy
closes, ``(HR - HR_LRU) / (HR_Belady - HR_LRU)``; byte hit ratios are given
too. Belady here picks victims by next use only, so a policy that favours
small objects can close more than 100 %. Then the per-operation cost of the
three policies the memory tier offers (a hit; a miss with its insert) on
``(key, variant)`` string slots, as the tier calls them.

Everything is seeded (traces 7, policies 1): the same run gives the same
table. Writes ``report.md``, ``results.json`` and ``chart.png`` to
``bench/results/eviction/`` (``--quick``: a smaller run, without the real
trace, into ``var/bench/eviction-quick/``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import eviction_policies as bp
from bench import real_trace
from bench.eviction_report import chart, markdown
from bench.trace_sim import Result, Trace, belady, make_sizes, with_scan, working_set, zipf_requests
from edge.store.eviction import LRU, S3FIFO, EvictionPolicy
from edge.store.tinylfu import WTinyLFU

OUT = Path(__file__).parent / "results"
BUDGETS = (0.01, 0.05, 0.10)
ALPHAS = (0.7, 0.9, 1.1)
DEFAULT = "W-TinyLFU (edge)"

Make = Callable[[int, list[int]], EvictionPolicy[int]]
POLICIES: dict[str, Make] = {
    "LRU": lambda c, ttls: LRU(c),
    "LFU": lambda c, ttls: bp.LFU(c),
    "FIFO": lambda c, ttls: bp.FIFO(c),
    "Random": lambda c, ttls: bp.Random(c),
    "TTL": lambda c, ttls: bp.TTLOrdered(c, ttls),
    "CLOCK": lambda c, ttls: bp.Clock(c),
    "SIEVE": lambda c, ttls: bp.Sieve(c),
    "S3-FIFO": lambda c, ttls: S3FIFO(c),
    "W-TinyLFU (SLRU, per entry)": lambda c, ttls: bp.SLRUTinyLFU(c, byte_aware=False),
    "W-TinyLFU (SLRU, byte-aware)": lambda c, ttls: bp.SLRUTinyLFU(c, byte_aware=True),
    DEFAULT: lambda c, ttls: WTinyLFU(c),
}


@dataclass(frozen=True, slots=True)
class Params:
    objects: int = 20_000
    requests: int = 200_000
    scan: int = 5_000
    after: int = 20_000
    seed: int = 7
    real: bool = True
    real_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Case:
    trace: str  # "zipf 0.7", "zipf 0.9+scan", "twitter"...
    budget: float
    capacity: int


# -- traces (built once per process, deterministically) ------------------------------
_TRACES: dict[str, tuple[Trace, list[int], tuple[int, int] | None]] = {}


def _build(p: Params) -> None:
    rng = random.Random(p.seed)
    sizes = make_sizes(rng, p.objects)
    zipfs = [
        Trace(f"zipf {a}", zipf_requests(rng, p.objects, a, p.requests), sizes, len(sizes))
        for a in ALPHAS
    ]
    scanned = with_scan(zipfs[1], p.scan, rng)
    ttl_rng = random.Random(p.seed + 1)  # seconds at 100 requests/s, unrelated to popularity
    ttls = [ttl_rng.choice((60, 600, 3600, 86400)) * 100 for _ in scanned.sizes]
    mid = p.requests // 2
    for t in zipfs:
        window = (mid, mid + p.after) if t is zipfs[1] else None
        _TRACES[t.name] = (t, ttls, window)
    _TRACES[scanned.name] = (scanned, ttls, (mid, mid + p.scan + p.after))
    if p.real:
        requests, real_sizes = real_trace.load(p.real_limit)
        rttl = [ttl_rng.choice((60, 600, 3600, 86400)) * 100 for _ in real_sizes]
        _TRACES["twitter"] = (Trace("twitter", requests, real_sizes, len(real_sizes)), rttl, None)


def _init(p: Params) -> None:
    if not _TRACES:
        _build(p)


def replay(
    policy: EvictionPolicy[int], trace: Trace, window: tuple[int, int] | None
) -> list[Result]:
    """The whole trace's counted requests, and those inside ``window`` when given."""
    access, insert, sizes, counted = policy.access, policy.insert, trace.sizes, trace.counted
    start, end = window or (0, -1)
    total = [0, 0, 0, 0]  # hits, requests, byte hits, bytes
    inside = [0, 0, 0, 0]
    for i, key in enumerate(trace.requests):
        size = sizes[key]
        hit = access(key)
        if not hit:
            insert(key, size)
        if key < counted:
            for acc in (total, inside) if start <= i < end else (total,):
                acc[1] += 1
                acc[3] += size
                if hit:
                    acc[0] += 1
                    acc[2] += size
    results = [Result(*total)]
    if window is not None:
        results.append(Result(*inside))
    return results


def _run(task: tuple[Case, str]) -> tuple[Case, str, list[Result]]:
    case, name = task
    trace, ttls, window = _TRACES[case.trace]
    if name == "Belady":
        results = [belady(trace, case.capacity)]
        if window is not None:
            cut = Trace(trace.name, trace.requests, trace.sizes, trace.counted, window)
            results.append(belady(cut, case.capacity))
    else:
        results = replay(POLICIES[name](case.capacity, ttls), trace, window)
    return case, name, results


def cases() -> list[Case]:
    out = []
    for name, (trace, _, _) in _TRACES.items():
        regular = [k for k in trace.requests if k < trace.counted]
        base = Trace(name, regular, trace.sizes[: trace.counted], trace.counted)
        ws = working_set(base)
        out += [Case(name, b, int(ws * b)) for b in BUDGETS]
    return out


# -- per-operation cost --------------------------------------------------------------
def op_costs(
    keys: int = 20_000, ops: int = 200_000, rounds: int = 5
) -> dict[str, dict[str, float]]:
    """CPU ns per hit and per miss (access + insert) on (key, variant) slots: the best of
    ``rounds``, the policies taking turns within each round, so that load elsewhere on
    the machine weighs on all of them alike."""
    slots = [(f"v0|http://example.com/static/{i:06d}.js", "") for i in range(keys)]
    rng = random.Random(3)
    makers: dict[str, Callable[[int], EvictionPolicy[tuple[str, str]]]] = {
        "LRU": LRU,
        "S3-FIFO": S3FIFO,
        DEFAULT: WTinyLFU,
    }
    requests = [slots[rng.randrange(keys)] for _ in range(ops)]
    misses = [slots[rng.randrange(keys)] for _ in range(ops // 4)]
    full: dict[str, EvictionPolicy[tuple[str, str]]] = {}
    hits: dict[str, list[tuple[str, str]]] = {}
    for name, make in makers.items():
        full[name] = policy = make(keys * 1000)  # holds every slot: requests are hits
        for slot in slots * 2:
            if not policy.access(slot):
                policy.insert(slot, 1000)
        hits[name] = [s for s in requests if policy.access(s)]
    best = {name: {"hit_ns": float("inf"), "miss_ns": float("inf")} for name in makers}
    for _ in range(rounds):
        for name, make in makers.items():
            access = full[name].access
            t0 = time.process_time_ns()
            for slot in hits[name]:
                access(slot)
            hit_ns = (time.process_time_ns() - t0) / len(hits[name])
            small = make(keys * 100)  # a tenth of them: mostly misses
            access, insert = small.access, small.insert
            t0 = time.process_time_ns()
            for slot in misses:
                if not access(slot):
                    insert(slot, 1000)
            miss_ns = (time.process_time_ns() - t0) / len(misses)
            figures = best[name]
            figures["hit_ns"] = min(figures["hit_ns"], hit_ns)
            figures["miss_ns"] = min(figures["miss_ns"], miss_ns)
    return best


# -- the run ------------------------------------------------------------------------
def study(p: Params, jobs: int) -> dict[str, object]:
    started = time.perf_counter()
    real_note = None
    try:
        _build(p)
    except real_trace.TraceUnavailable as exc:
        real_note = str(exc)
        _TRACES.clear()
        _build(Params(**{**asdict(p), "real": False}))
        p = Params(**{**asdict(p), "real": False})
    todo = [(case, name) for case in cases() for name in ["Belady", *POLICIES]]
    todo.sort(key=lambda t: t[0].trace == "twitter", reverse=True)  # the long ones first
    rows: list[dict[str, object]] = []
    with ProcessPoolExecutor(jobs, initializer=_init, initargs=(p,)) as pool:
        for case, name, results in pool.map(_run, todo):
            rows.append(
                {
                    "trace": case.trace,
                    "budget": case.budget,
                    "capacity": case.capacity,
                    "policy": name,
                    "results": [asdict(r) for r in results],
                }
            )
    costs = op_costs(rounds=3 if p.requests < 200_000 else 5)
    return {
        "params": asdict(p),
        "real_trace": real_trace.NAME if p.real else None,
        "real_note": real_note,
        "policies": ["Belady", *POLICIES],
        "traces": list(_TRACES),
        "default": DEFAULT,
        "rows": rows,
        "op_costs": costs,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small traces, no real trace")
    parser.add_argument("--no-real", action="store_true", help="skip the real trace")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, help="output directory")
    args = parser.parse_args(argv)
    if args.quick:
        p = Params(objects=5_000, requests=50_000, scan=1_250, after=5_000, real=False)
    else:
        p = Params(real=not args.no_real)
    quick_out = OUT.parent.parent / "var" / "bench" / "eviction-quick"  # not kept
    out = args.out or (quick_out if args.quick else OUT / "eviction")
    data = study(p, args.jobs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    report = markdown(data)
    (out / "report.md").write_text(report, encoding="utf-8")
    chart(data, out / "chart.png")
    print(report)
    print(f"wrote {out}/report.md, results.json, chart.png in {data['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
