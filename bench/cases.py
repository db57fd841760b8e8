"""The cases: timed wrk rounds against several targets, a herd, and a 1 GiB object.

A throughput case first proves every target serves the object the way the case means (a
cache hit, or for the miss path an origin request each time), then runs the rounds
interleaved (round 1 of every target, then round 2...) so drift hits all alike, and counts
the origin requests made while it timed.
"""

from __future__ import annotations

import ssl
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.load import WrkResult, fetch, herd, wrk
from bench.origin import SLOW, Origin
from bench.procs import status_kib, tree_rss_kib
from bench.registry import Registry
from bench.targets import LOAD_CPU, Target
from bench.tls import h2load

Json = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    rounds: int
    seconds: float
    warmup: float
    herd_clients: int = 1000
    herd_delay: float = 2.0


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    obj: str
    connections: int
    targets: tuple[str, ...]
    expect: str = "hit"  # "hit", "disk" (a hit from edge's disk tier) or "miss"
    note: str = ""
    load: str = "wrk"  # "wrk" (HTTP/1.1, also over TLS) or "h2load" (HTTP/2 by ALPN)
    streams: int = 1  # h2load: concurrent streams per connection

    def measure(self, url: str, seconds: float) -> WrkResult:
        if self.load == "h2load":
            return h2load(url, self.connections, self.streams, seconds, LOAD_CPU)
        return wrk(url, self.connections, seconds, LOAD_CPU)


def head(url: str, method: str = "GET", context: ssl.SSLContext | None = None) -> dict[str, str]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            r.read()
            return {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as err:
        return {"status": str(err.code)}


def _evidence(h: dict[str, str]) -> str:
    keys = ("cache-status", "x-cache-status", "x-varnish", "age")
    return "; ".join(f"{k}: {h[k]}" for k in keys if k in h) or "(no cache headers)"


def check(target: Target, case: Case, origin: Origin) -> tuple[bool, str]:
    """Warm the object and prove the next answer is what the case measures."""
    url, path = target.url(case.obj), target.target(case.obj)
    ctx = target.context
    if target.kind.startswith("bare"):
        h = head(url, context=ctx)
        return "status" not in h, "fixed bytes, no cache"
    h: dict[str, str] = {}
    for _ in range(3):
        head(url, context=ctx)
        before = origin.count(path)
        h = head(url, context=ctx)
        fetched = origin.count(path) - before
        if case.expect == "miss":
            ok = fetched == 1 and not target.is_hit(h)
            if target.kind == "passproxy" or ok:
                return fetched == 1, f"{fetched} origin request per request; {_evidence(h)}"
        else:
            ok = fetched == 0 and target.is_hit(h)
            if ok and case.expect == "disk" and target.name.endswith(" disk"):
                ok = "detail=disk" in h.get("cache-status", "")
            if ok:
                return True, _evidence(h)
        time.sleep(1.1)
    return False, f"NOT as expected: {_evidence(h)}"


def summarise(rounds: list[WrkResult]) -> Json:
    rps = [r.rps for r in rounds]
    return {
        "rps": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p50_ms": statistics.median(r.p50_ms for r in rounds),
        "p99_ms": statistics.median(r.p99_ms for r in rounds),
        "mib_per_s": statistics.median(r.mib_per_s for r in rounds),
        "requests": sum(r.requests for r in rounds),
        "errors": sum(r.errors for r in rounds),
        "rounds": [r.as_dict() for r in rounds],
    }


def run_case(case: Case, reg: Registry, s: Settings, log: Callable[[str], None]) -> Json:
    log(f"\n## {case.title}")
    ready: list[tuple[Target, Json]] = []
    skipped: dict[str, str] = {}
    for name in case.targets:
        target = reg.get(name)
        if target is None:
            skipped[name] = reg.unavailable.get(name, "not started")
            continue
        ok, evidence = check(target, case, reg.origin)
        log(f"  {name}: {'ok' if ok else 'CHECK FAILED'} ({evidence})")
        ready.append(
            (target, {"name": name, "kind": target.kind, "check_ok": ok, "check": evidence})
        )
    results: dict[str, list[WrkResult]] = {t.name: [] for t, _ in ready}
    before = {t.name: reg.origin.count(t.target(case.obj)) for t, _ in ready}
    for target, _ in ready:
        if s.warmup > 0:
            case.measure(target.url(case.obj), s.warmup)
    warm = {t.name: reg.origin.count(t.target(case.obj)) for t, _ in ready}
    for rnd in range(s.rounds):
        for target, _ in ready:
            r = case.measure(target.url(case.obj), s.seconds)
            results[target.name].append(r)
            log(
                f"  round {rnd + 1} {target.name:<26} {r.rps:>10,.0f} req/s  p50 {r.p50_ms:.2f}"
                f" ms  p99 {r.p99_ms:.2f} ms  errors {r.errors}"
            )
    rows = []
    for target, row in ready:
        if not target.kind.startswith("bare"):
            after = reg.origin.count(target.target(case.obj))
            row["origin_requests"] = after - warm[target.name]
            row["origin_requests_warmup"] = warm[target.name] - before[target.name]
        rows.append(row | summarise(results[target.name]))
    return {
        "id": case.id,
        "title": case.title,
        "type": "throughput",
        "object": case.obj,
        "connections": case.connections,
        "note": case.note,
        "rows": rows,
        "skipped": skipped,
    }


def run_herd(names: list[str], reg: Registry, s: Settings, log: Callable[[str], None]) -> Json:
    title = f"herd: {s.herd_clients} concurrent requests, one uncached object ({s.herd_delay:g} s)"
    log(f"\n## {title}")
    rows, skipped = [], {}
    for name in names:
        target = reg.get(name)
        if target is None:
            skipped[name] = reg.unavailable.get(name, "not started")
            continue
        path = SLOW.format(delay=s.herd_delay, tag=name.replace(" ", "-") + f"-{time.time_ns()}")
        res = herd(target.port, path, s.herd_clients, timeout=s.herd_delay + 60)
        fetched = reg.origin.count(path)
        log(
            f"  {name:<26} origin requests {fetched:>4}  ok {res.ok}  failed {res.failed}  "
            f"wall {res.wall_s:.2f} s  p99 {res.p99_ms:.0f} ms"
        )
        rows.append(
            {
                "name": name,
                "kind": target.kind,
                "origin_requests": fetched,
                "ok": res.ok,
                "failed": res.failed,
                "wall_s": res.wall_s,
                "p50_ms": res.p50_ms,
                "p99_ms": res.p99_ms,
            }
        )
    return {"id": "herd", "title": title, "type": "herd", "rows": rows, "skipped": skipped}


class RssSampler:
    """Peak RSS of a process tree, sampled every 20 ms in a thread (bounded by ``limit_s``)."""

    def __init__(self, pid: int, limit_s: float = 600.0) -> None:
        self.pid, self.limit_s = pid, limit_s
        self.peak_kib = self.start_kib = tree_rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit_s
        while not self._stop.wait(0.02) and time.monotonic() < deadline:
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _wait_stored(target: Target, seconds: float = 60.0) -> None:
    """Until a HEAD of the big object is a hit (its fill committed), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not target.is_hit(head(target.url("1g"), "HEAD")):
        time.sleep(0.5)


def run_big(names: list[str], reg: Registry, log: Callable[[str], None]) -> Json:
    title = "1 GiB object: through (miss) and from cache (hit)"
    log(f"\n## {title}")
    rows, skipped = [], {}
    for name in names:
        target = reg.get(name)
        if target is None:
            skipped[name] = reg.unavailable.get(name, "not started")
            continue
        for phase in ("through", "from cache"):
            if phase == "from cache":
                _wait_stored(target)
            hwm0 = status_kib(target.pid, "VmHWM")
            with RssSampler(target.pid) as rss:
                size, secs, h = fetch(target.url("1g"))
            growth = (rss.peak_kib - rss.start_kib) / 1024
            hwm = (status_kib(target.pid, "VmHWM") - hwm0) / 1024
            log(
                f"  {name:<26} {phase:<10} {size / 2**20:,.0f} MiB in {secs:.2f} s "
                f"({size / 2**20 / secs:,.0f} MiB/s), peak RSS +{growth:.1f} MiB "
                f"(VmHWM +{hwm:.1f} MiB); {_evidence(h)}"
            )
            rows.append(
                {
                    "name": name,
                    "kind": target.kind,
                    "phase": phase,
                    "bytes": size,
                    "seconds": secs,
                    "mib_per_s": size / 2**20 / secs,
                    "rss_start_mib": rss.start_kib / 1024,
                    "rss_growth_mib": growth,
                    "hwm_growth_mib": hwm,
                    "check": _evidence(h),
                }
            )
    return {"id": "big", "title": title, "type": "big", "rows": rows, "skipped": skipped}
