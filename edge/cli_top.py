"""``edge top``: a live terminal view of one node or of every node of a cluster.

Like ``varnishstat``: each refresh reads ``GET /stats`` and ``GET /top`` of every
``--admin`` URL, works out rates from the previous reading (requests and origin
requests per second, the hit ratio and latency percentiles of the interval,
from the histogram buckets' differences) and redraws the screen in place with
plain ANSI codes. ``--once`` takes two readings ``--interval`` apart and prints
one frame without escape codes (for scripts and tests).

The frame is built by :func:`frame` from plain readings, without I/O.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.telemetry.quantiles import quantile

GetJson = Callable[[str, str], dict[str, object]]

HOME_AND_CLEAR = "\x1b[H\x1b[J"
_OUTCOMES = ("hit", "stale", "revalidated", "miss", "collapsed", "pass", "local")


@dataclass(frozen=True, slots=True)
class Reading:
    """One node's ``/stats`` and ``/top`` at ``at`` (monotonic seconds), or why not."""

    admin: str
    at: float
    stats: dict[str, Any] = field(default_factory=dict)
    top: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def name(self) -> str:
        return str(self.stats.get("name") or self.admin)

    def figure(self, key: str) -> int:
        value = self.stats.get(key, 0)
        return int(value) if isinstance(value, int | float) else 0

    def buckets(self) -> list[int] | None:
        all_ = (self.stats.get("latency") or {}).get("all")
        counts = all_.get("counts") if isinstance(all_, dict) else None
        return [int(n) for n in counts] if isinstance(counts, list) else None


def read(
    admin: str, token: str, limit: int, get_json: GetJson, failure: type[Exception]
) -> Reading:
    """One node's figures now; a node that cannot be read is shown as such, not fatal."""
    at = time.monotonic()
    try:
        stats = get_json(f"{admin}/stats", token)
        top = get_json(f"{admin}/top?limit={limit}", token)
    except failure as exc:
        return Reading(admin, at, error=str(exc))
    return Reading(admin, at, stats, top)


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"


def _pct(value: float | None) -> str:
    return f"{100 * value:.1f}%" if value is not None else "-"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}GiB"


@dataclass(frozen=True, slots=True)
class _Row:
    name: str
    rps: float | None
    ratio_now: float | None
    ratio_all: float
    p50: float | None
    p90: float | None
    p99: float | None
    origin_rps: float | None
    errors: int
    memory: str
    disk: str


def _row(now: Reading, before: Reading | None) -> _Row:
    dt = now.at - before.at if before is not None and not before.error else 0.0
    bounds = now.stats.get("latency_buckets") or []
    counts = now.buckets()
    if dt > 0 and before is not None:
        prior = before.buckets()
        if counts is not None and prior is not None and len(prior) == len(counts):
            counts = [a - b for a, b in zip(counts, prior, strict=True)]

    def rate(key: str) -> float | None:
        if dt <= 0 or before is None:
            return None
        return max(0, now.figure(key) - before.figure(key)) / dt

    ratio_now = None
    if dt > 0 and before is not None:
        hits = now.figure("hits") - before.figure("hits")
        stale = now.figure("stale") - before.figure("stale")
        looked = hits + stale + now.figure("misses") - before.figure("misses")
        ratio_now = (hits + stale) / looked if looked > 0 else None
    tiers = now.stats.get("tiers") or {}
    store = now.stats.get("store") or {}

    def tier(name: str) -> str:
        use = tiers.get(name) or {}
        budget = store.get(f"{name}_max_bytes")
        held = _size(int(use.get("bytes", 0)))
        return f"{held}/{_size(int(budget))}" if isinstance(budget, int | float) else held

    def q(p: float) -> float | None:
        return quantile(counts, bounds, p) if counts else None

    return _Row(
        name=now.name,
        rps=rate("requests"),
        ratio_now=ratio_now,
        ratio_all=float(now.stats.get("hit_ratio", 0.0)),
        p50=q(0.5),
        p90=q(0.9),
        p99=q(0.99),
        origin_rps=rate("origin_requests"),
        errors=now.figure("origin_errors"),
        memory=tier("memory"),
        disk=tier("disk"),
    )


def frame(
    readings: Sequence[Reading],
    before: Sequence[Reading] | None,
    *,
    interval: float,
    limit: int,
    clock: str = "",
) -> list[str]:
    """The lines of one frame: a row per node, the cache outcomes, the top keys."""
    previous = {r.admin: r for r in before or ()}
    nodes = "node" if len(readings) == 1 else "nodes"
    lines = [f"edge top: {len(readings)} {nodes}, every {interval:g}s   {clock}".rstrip(), ""]
    header = (
        f"{'node':<16}{'req/s':>9}{'hit%':>8}{'hit% all':>10}{'p50':>9}{'p90':>9}{'p99':>9}"
        f"{'origin/s':>10}{'errors':>8}  {'memory':<18}{'disk':<18}"
    )
    lines.append(header)
    for r in readings:
        if r.error:
            lines.append(f"{r.admin:<16}  unreachable: {r.error}")
            continue
        row = _row(r, previous.get(r.admin))
        rps = f"{row.rps:.1f}" if row.rps is not None else "-"
        origin = f"{row.origin_rps:.1f}" if row.origin_rps is not None else "-"
        lines.append(
            f"{row.name[:15]:<16}{rps:>9}{_pct(row.ratio_now):>8}{_pct(row.ratio_all):>10}"
            f"{_ms(row.p50):>9}{_ms(row.p90):>9}{_ms(row.p99):>9}{origin:>10}{row.errors:>8}"
            f"  {row.memory:<18}{row.disk:<18}"
        )
    lines.append("")
    for r in readings:
        if r.error:
            continue
        outcomes = r.stats.get("outcomes") or {}
        shown = " ".join(f"{o} {int(outcomes[o])}" for o in _OUTCOMES if outcomes.get(o))
        errors = r.stats.get("upstream_errors") or {}
        failed = " ".join(f"{k} {int(v)}" for k, v in sorted(errors.items()) if v)
        lines.append(f"{r.name}: requests by outcome: {shown or 'none yet'}")
        if failed:
            lines.append(f"{r.name}: upstream errors: {failed}")
    lines.append("")
    lines.append(f"{'top keys':<12}{'hits':>10}{'bytes':>12}  url")
    for r in readings:
        for key in (r.top.get("by_hits") or [])[:limit]:
            url = str(key.get("url", ""))
            lines.append(
                f"{r.name[:11]:<12}{int(key.get('hits', 0)):>10}"
                f"{_size(int(key.get('bytes', 0))):>12}  {url}"
            )
    return lines


def run(
    admins: Sequence[str],
    token: str,
    get_json: GetJson,
    *,
    interval: float,
    limit: int,
    once: bool,
    failure: type[Exception],
    out: Any = None,
    frames: int | None = None,
) -> int:
    """Draw frames until interrupted (or ``frames`` of them); with ``once``, print one.

    ``failure`` is what ``get_json`` raises when a node cannot be read.
    """
    out = out if out is not None else sys.stdout
    before = [read(a, token, limit, get_json, failure) for a in admins]
    drawn = 0
    try:
        while True:
            time.sleep(interval)
            now = [read(a, token, limit, get_json, failure) for a in admins]
            clock = time.strftime("%H:%M:%S UTC", time.gmtime())
            lines = frame(now, before, interval=interval, limit=limit, clock=clock)
            if once:
                out.write("\n".join(lines) + "\n")
                return 1 if all(r.error for r in now) else 0
            out.write(HOME_AND_CLEAR + "\n".join(lines) + "\n")
            out.flush()
            before = now
            drawn += 1
            if frames is not None and drawn >= frames:
                return 0
    except KeyboardInterrupt:
        return 0
