"""``make bench``: edge side by side with nginx, Varnish, bare aiohttp and a bare Protocol.

``BENCH_QUICK=1`` runs every case once for a few seconds (a smoke run of a few minutes); the
full run takes 3 rounds of ``BENCH_SECONDS`` (10) per target and case. Results go to
``bench/results/<quick|full>/`` (``BENCH_OUT`` overrides): results.json, report.md, chart.png
and the py-spy profiles. ``BENCH_CASES`` narrows a run (see ``wanted``: ``https`` and ``h2``
are the TLS cases); ``BENCH_PORTS=LOW-HIGH`` moves the ports of everything it starts.
"""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import deps
from bench.cases import Case, Settings, run_big, run_case, run_herd
from bench.origin import start_origin
from bench.profile import record
from bench.registry import Registry
from bench.report import write
from bench.targets import LOAD_CPU, TARGET_CPU

Json = dict[str, Any]
PEERS = ("nginx", "varnish", "bare aiohttp", "bare protocol")


def settings() -> tuple[str, Settings, int]:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    seconds = float(os.environ.get("BENCH_SECONDS", "3" if quick else "10"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "1" if quick else "3"))
    s = Settings(rounds=rounds, seconds=seconds, warmup=1.0 if quick else 2.0)
    return ("quick" if quick else "full"), s, (4 if quick else 10)


def cases(edges: list[str]) -> list[Case]:
    out = [
        Case(f"hit-{obj}-{c}", f"fresh hit, {label}, {c} connections", obj, c, (*edges, *PEERS))
        for obj, label in (("1k", "1 KiB"), ("100k", "100 KiB"))
        for c in (64, 256)
    ]
    out.append(
        Case(
            "disk-100k-64",
            "disk-tier hit, 100 KiB (edge memory tier limited to 64 KiB objects), 64 connections",
            "100k",
            64,
            (*(f"{e} disk" for e in edges), *edges, "nginx"),
            expect="disk",
        )
    )
    out.append(
        Case(
            "miss-1k-64",
            "miss path, 1 KiB Cache-Control: no-store, 64 connections",
            "nostore",
            64,
            (*edges, "aiohttp pass-through", "nginx", "varnish"),
            expect="miss",
            note="nginx keeps `proxy_cache_lock on` here too (the herd needs it): requests for a "
            "URL whose answer turns out uncacheable wait on that lock, which nginx polls every "
            "500 ms, hence its p99; Varnish (hit-for-miss) and edge (hit-for-miss) do not wait.",
        )
    )
    out.append(
        Case(
            "https-1k-64",
            "fresh hit over HTTPS (HTTP/1.1, TLS 1.3), 1 KiB, 64 connections",
            "1k",
            64,
            ("edge https", "nginx https"),
            note="Same certificate and suites on both; wrk keeps its connections, so this is "
            "the cost of TLS records, not of handshakes.",
        )
    )
    out.append(
        Case(
            "h2-1k-32x8",
            "fresh hit over HTTP/2 (TLS, ALPN h2), 1 KiB, 32 connections x 8 streams",
            "1k",
            32,
            ("edge https", "nginx https"),
            load="h2load",
            streams=8,
            note="h2load reports mean and max latency: they are in the p50 and p99 columns.",
        )
    )
    out.append(
        Case(
            "x2-1k-256",
            "2 workers / processes, unpinned, 1 KiB hit, 256 connections",
            "1k",
            256,
            (*(f"{e} x2" for e in edges), "nginx x2", "varnish x2"),
        )
    )
    return out


def wanted(case_id: str) -> bool:
    """``BENCH_CASES`` (comma-separated id prefixes: hit-1k, disk, miss, https, h2, x2, herd,
    big, profiles) narrows a run to those cases; unset: all of them."""
    only = [c.strip() for c in os.environ.get("BENCH_CASES", "").split(",") if c.strip()]
    return not only or any(case_id.startswith(c) for c in only)


def _commit() -> str:
    p = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return p.stdout.strip() or "unknown"


def profile_text(profiles: Json) -> str:
    parts = []
    for name, p in profiles.items():
        if "error" in p:
            continue
        layers = p["layers"]
        heavy = ", ".join(f"`{f.split(' (')[0]}` {v:.0f}%" for f, v in p["edge_work"][:4])
        leaf = ", ".join(f"`{f.split(' (')[0]}` {v:.0f}%" for f, v in p["self"][:3])
        parts.append(
            f"On the {name}, {layers.get('edge', 0):.0f}% of the samples end in edge's own code, "
            f"{layers.get('aiohttp', 0):.0f}% in aiohttp, "
            f"{layers.get('event loop', 0):.0f}% in the event loop (asyncio/uvloop), "
            f"{layers.get('thread pool', 0):.0f}% in the thread pool and "
            f"{layers.get('other', 0):.0f}% elsewhere (stdlib, C calls shown as their caller). "
            f"The biggest self-time frames are {leaf}; the heaviest edge frames below "
            f"the entry point are {heavy}."
        )
    if parts:
        parts.append(
            "Self time shown on `Runner.run` is uvloop's C event loop (epoll, socket reads and "
            "writes) under the Python frame that called it; `thread pool` is work handed to "
            "threads (the disk tier's diskcache/SQLite calls)."
        )
    return "\n\n".join(parts)


def main() -> int:
    mode, s, prof_s = settings()
    out_dir = Path(os.environ.get("BENCH_OUT", Path(__file__).parent / "results" / mode))
    print(f"# edge side by side ({mode}: {s.rounds} x {s.seconds:g} s) -> {out_dir}", flush=True)
    notes = deps.ensure()
    if shutil.which("wrk") is None:
        print("! wrk is missing and could not be installed: nothing to measure with")
        return 1
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # this process (herd client, checks) too
    else:
        notes.append("fewer than 2 CPUs: pinning is only nominal")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    scratch.chmod(0o755)  # nginx and varnish workers may run as another user
    started = time.monotonic()
    data: Json = {"cases": [], "profiles": {}}
    origin = start_origin(scratch)
    reg = Registry(origin, scratch, scratch / "docroot")
    notes += origin.notes + reg.notes
    try:
        edges = reg.edges
        for case in cases(edges):
            if not wanted(case.id):
                continue
            try:
                data["cases"].append(run_case(case, reg, s, print))
            except (RuntimeError, OSError, ValueError) as exc:
                print(f"  ! {case.id} failed: {exc}", flush=True)
                notes.append(f"case {case.id} failed: {exc}")
        if wanted("herd"):
            herd_targets = [*edges, *(f"{e} x2" for e in edges), "nginx", "varnish"]
            data["cases"].append(run_herd(herd_targets, reg, s, print))
            for e in edges:
                reg.stop(f"{e} x2")
        if wanted("big"):
            data["cases"].append(run_big([*edges, "nginx"], reg, print))
        print("\n## profiles", flush=True)
        for e in edges if wanted("profiles") else []:
            target = reg.get(e)
            if target is None:
                continue
            tag = e.split()[1] if " " in e and "(" not in e else "edge"
            for what, obj in (("hit", "1k"), ("miss", "nostore")):
                stem = what if e == edges[0] else f"{what}-{tag}"
                p = record(target, target.url(obj), out_dir, stem, prof_s)
                data["profiles"][f"{what} path of {e}"] = p
                print(f"  {stem}: {p.get('error') or p['layers']}", flush=True)
            disk = reg.get(f"{e} disk") if e == edges[0] else None
            if disk is not None:  # a disk-tier hit: the 100 KiB object is not held in memory
                p = record(disk, disk.url("100k"), out_dir, "disk-hit", prof_s)
                data["profiles"][f"disk-tier hit path of {e}"] = p
                print(f"  disk-hit: {p.get('error') or p['layers']}", flush=True)
    finally:
        reg.stop_all()
        origin.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    data["profile_text"] = profile_text(data["profiles"])
    data["meta"] = {
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "edge_source": reg.src.label,
        "mode": mode,
        "rounds": s.rounds,
        "seconds": s.seconds,
        "target_cpu": TARGET_CPU,
        "load_cpu": LOAD_CPU,
        "origin": f"{origin.kind} on CPU {LOAD_CPU}"
        + (", /script forwarded to the origin stub" if origin.kind == "nginx" else ""),
        "versions": deps.versions(),
        "notes": notes,
        "elapsed_s": round(time.monotonic() - started),
    }
    for path in write(data, out_dir):
        print(f"wrote {path}")
    print(f"done in {data['meta']['elapsed_s']} s")
    return 0
