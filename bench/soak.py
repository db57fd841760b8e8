"""``make soak``: an edge under mixed traffic for a bounded time, sampled as it runs.

An origin stub and an edge node run as processes on 127.0.0.1 (free ports);
``SOAK_CONNECTIONS`` client tasks (default 500) send a mix, each on its own keep-alive
connection: fresh hits, misses, revalidations (max-age=2 with stale-while-revalidate),
range requests, 4 MiB objects, slow readers of a 16 MiB object, purges every few
seconds (by prefix, URL and tag) and origin faults (503, resets, truncated bodies, a
stalled body). Every ``SOAK_INTERVAL`` seconds (default 5) it samples the edge's RSS,
file descriptors, asyncio tasks and open client connections (/stats), hit ratio,
requests done, latency percentiles and errors by kind, into ``bench/results/soak/soak.json``,
a summary ``soak.md`` and a chart, ``soak.png``.

It fails (exit 1) when a 5xx or a broken response comes from anything but an injected
fault, or when RSS or descriptors still grow after warm-up: over the last half of the run
the latest sample may exceed that half's first by at most 10 % (RSS) and 10 % + 16 (fds);
for tasks, which follow the requests in flight, the median of that half's last third may
exceed its first third's by 10 % + 64.

    make soak                                  # 10 minutes
    SOAK_SECONDS=180 SOAK_CONNECTIONS=200 make soak
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.deps import ensure_pip
from bench.procs import REPO, Proc, spawn, wait_http

OUT = Path(os.environ.get("SOAK_OUT", REPO / "bench" / "results" / "soak"))
TOKEN = "soak-token-0123456789abcdef"
FAULTS = ("/fault/503", "/fault/500", "/fault/reset", "/fault/truncate", "/fault/hang-body")


@dataclass
class Sample:
    t: float
    rss_mib: float
    fds: int
    tasks: int
    connections: int
    hit_ratio: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]


@dataclass
class Tally:
    requests: int = 0
    latencies: list[float] = field(default_factory=list)  # since the last sample
    every: list[float] = field(default_factory=list)  # the whole run's
    purges: list[float] = field(default_factory=list)  # seconds each purge took
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count
    unexpected: list[str] = field(default_factory=list)  # the first few, verbatim

    def error(self, kind: str, injected: bool, what: str) -> None:
        key = f"{'injected' if injected else 'unexpected'}:{kind}"
        self.errors[key] = self.errors.get(key, 0) + 1
        if not injected and len(self.unexpected) < 20:
            self.unexpected.append(what)


def free_port() -> int:
    """A port the kernel picks on 127.0.0.1 (the soak may run beside other benches)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pick(rng: random.Random) -> tuple[str, dict[str, str]]:
    """One request of the mix: (target, extra headers)."""
    r = rng.random()
    if r < 0.55:
        return f"/static/soak-{int(rng.paretovariate(1.2)) % 500}.css", {}
    if r < 0.70:
        return f"/api/item-{rng.randrange(50)}", {}
    if r < 0.80:
        size = rng.choice((512, 8192, 65536))
        return f"/script?cc=max-age%3D30&size={size}&n={rng.randrange(5000)}", {}
    if r < 0.88:
        first = rng.randrange(4 << 20)
        return "/big/4MiB", {"Range": f"bytes={first}-{min(first + 65535, (4 << 20) - 1)}"}
    if r < 0.92:
        return "/big/4MiB", {}
    if r < 0.97:
        return "/stream/20?interval=0.01", {}
    return rng.choice(FAULTS), {}


async def _client(
    session: aiohttp.ClientSession, base: str, rng: random.Random, tally: Tally, until: float
) -> None:
    while time.monotonic() < until:
        target, headers = _pick(rng)
        injected = target.startswith("/fault/")
        start = time.monotonic()
        try:
            async with session.get(base + target, headers=headers) as resp:
                async for _ in resp.content.iter_chunked(1 << 16):
                    pass
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.error(type(exc).__name__, injected, f"{target}: {exc!r}")
            continue
        tally.requests += 1
        tally.latencies.append(time.monotonic() - start)
        if status >= 500:
            tally.error(str(status), injected, f"{target}: {status}")


async def _slow_reader(base: str, tally: Tally, until: float) -> None:
    """Reads a 16 MiB object at about 1 MiB/s, then starts again."""
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < until:
            try:
                async with session.get(base + "/big/16MiB") as resp:
                    async for _ in resp.content.iter_chunked(1 << 16):
                        await asyncio.sleep(0.06)
                        if time.monotonic() >= until:
                            break
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.error(f"slow-{type(exc).__name__}", False, f"slow reader: {exc!r}")


async def _admin(session: aiohttp.ClientSession, url: str, body: object = None) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if body is None:
        async with session.get(url, headers=headers) as resp:
            return await resp.json()
    async with session.post(url, json=body, headers=headers) as resp:
        return await resp.json()


async def _purger(admin: str, tally: Tally, until: float) -> None:
    rng = random.Random(7)
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < until:
            await asyncio.sleep(3)
            body = rng.choice(
                (
                    {"prefixes": [f"/static/soak-{rng.randrange(10)}"]},
                    {"urls": [f"/api/item-{rng.randrange(50)}"]},
                    {"prefixes": ["/script"], "soft": True},
                )
            )
            start = time.monotonic()
            try:
                await _admin(session, admin + "/purge", body)
                tally.purges.append(time.monotonic() - start)
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.error("purge", False, f"purge {body}: {exc!r}")


def _proc_figures(pid: int) -> tuple[float, int]:
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def _sampler(
    edge: Proc, admin: str, tally: Tally, until: float, interval: float, samples: list[Sample]
) -> None:
    start, last_requests = time.monotonic(), 0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < until:
            await asyncio.sleep(interval)
            if time.monotonic() >= until:
                break  # the clients are stopping: not a sample of the load
            stats = await _admin(session, admin + "/stats")
            rss, fds = _proc_figures(edge.pid)
            lat, tally.latencies = sorted(tally.latencies), []
            tally.every.extend(lat)
            done = tally.requests
            samples.append(
                Sample(
                    t=round(time.monotonic() - start, 1),
                    rss_mib=round(rss, 1),
                    fds=fds,
                    tasks=int(stats.get("tasks", 0)),
                    connections=int(stats.get("connections_open", 0)),
                    hit_ratio=round(float(stats["hit_ratio"]), 4),
                    requests=done,
                    rps=round((done - last_requests) / interval, 1),
                    p50_ms=round(1000 * statistics.median(lat), 2) if lat else 0.0,
                    p99_ms=round(1000 * lat[int(0.99 * (len(lat) - 1))], 2) if lat else 0.0,
                    errors=dict(tally.errors),
                )
            )
            last_requests = done
            s = samples[-1]
            print(
                f"{s.t:6.0f}s  rss {s.rss_mib:7.1f} MiB  fds {s.fds:5d}  tasks {s.tasks:5d}"
                f"  conns {s.connections:4d}"
                f"  hit {s.hit_ratio:.3f}  {s.rps:7.1f} req/s  p50 {s.p50_ms:6.1f} ms"
                f"  p99 {s.p99_ms:7.1f} ms  errors {sum(s.errors.values())}",
                flush=True,
            )


def _tail_growth(samples: list[Sample], attr: str) -> tuple[float, float]:
    """``attr`` at the first and the last sample of the run's last half."""
    tail = samples[len(samples) // 2 :]
    if len(tail) < 2:
        return 0.0, 0.0
    return float(getattr(tail[0], attr)), float(getattr(tail[-1], attr))


def _grew(samples: list[Sample], attr: str, ratio: float, slack: float) -> str | None:
    """Whether ``attr`` still grows over the last half of the run (None: it levelled off)."""
    first, last = _tail_growth(samples, attr)
    if last > first * (1 + ratio) + slack:
        return f"{attr} grew from {first:g} to {last:g} over the last half of the run"
    return None


def _level_grew(samples: list[Sample], attr: str, ratio: float, slack: float) -> str | None:
    """Like :func:`_grew` for a gauge that follows the requests in flight (tasks): the
    median of the last third of the run's last half against that of its first third."""
    tail = samples[len(samples) // 2 :]
    third = len(tail) // 3
    if third < 1:
        return None
    first = statistics.median(getattr(s, attr) for s in tail[:third])
    last = statistics.median(getattr(s, attr) for s in tail[-third:])
    if last > first * (1 + ratio) + slack:
        return f"{attr} grew from a median of {first:g} to {last:g} over the last half"
    return None


def _summary(result: dict[str, Any], samples: list[Sample], every: list[float]) -> str:
    """The run in a few Markdown lines (what the README quotes)."""
    lat = sorted(every)
    purges = sorted(result["purge_seconds"])
    ok = sum(result["errors"].values())
    unexpected = sum(v for k, v in result["errors"].items() if k.startswith("unexpected:"))
    lines = [
        f"# edge soak, {result['seconds']:g} s at {result['connections']} connections",
        "",
        f"- requests answered: {result['requests']:,}"
        f" ({result['requests'] / max(result['seconds'], 1):,.0f}/s on average)",
        f"- latency over the run: p50 {1000 * _q(lat, 0.5):.1f} ms,"
        f" p99 {1000 * _q(lat, 0.99):.1f} ms",
        f"- errors: {ok:,} in all, {unexpected:,} of them not from an injected fault; by kind: "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(result["errors"].items())) or "none"),
        f"- purges answered: {len(purges)}, p50 {_q(purges, 0.5):.2f} s,"
        f" max {purges[-1] if purges else 0.0:.2f} s",
        f"- final hit ratio: {samples[-1].hit_ratio:.3f}" if samples else "- no samples",
        "",
        "| over the last half of the run | first sample | last sample | growth |",
        "| --- | ---: | ---: | ---: |",
    ]
    for attr, label in (("rss_mib", "RSS (MiB)"), ("fds", "file descriptors"), ("tasks", "tasks")):
        first, last = _tail_growth(samples, attr)
        growth = f"{100 * (last - first) / first:+.1f} %" if first else "n/a"
        lines.append(f"| {label} | {first:g} | {last:g} | {growth} |")
    lines += ["", "Problems: " + ("; ".join(result["problems"]) or "none"), ""]
    return "\n".join(lines)


def _q(values: list[float], q: float) -> float:
    return values[int(q * (len(values) - 1))] if values else 0.0


def _chart(samples: list[Sample], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t for s in samples]
    fig, axes = plt.subplots(6, 1, figsize=(9, 13), sharex=True)
    panels = (
        ("RSS (MiB)", [s.rss_mib for s in samples]),
        ("file descriptors", [s.fds for s in samples]),
        ("asyncio tasks", [s.tasks for s in samples]),
        ("open client connections", [s.connections for s in samples]),
        ("hit ratio (since start)", [s.hit_ratio for s in samples]),
        ("requests/s", [s.rps for s in samples]),
    )
    for ax, (label, values) in zip(axes, panels, strict=True):
        ax.plot(t, values)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("seconds")
    fig.suptitle("edge soak: mixed traffic with origin faults")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


async def _run(
    base: str, admin: str, edge: Proc, seconds: float, conns: int, interval: float
) -> tuple[Tally, list[Sample]]:
    tally, samples = Tally(), []
    until = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=60, sock_read=20)
    connector = aiohttp.TCPConnector(limit=conns, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        tasks = [
            asyncio.create_task(_client(session, base, random.Random(i), tally, until))
            for i in range(conns)
        ]
        tasks += [asyncio.create_task(_slow_reader(base, tally, until)) for _ in range(4)]
        tasks.append(asyncio.create_task(_purger(admin, tally, until)))
        tasks.append(asyncio.create_task(_sampler(edge, admin, tally, until, interval, samples)))
        await asyncio.gather(*tasks)
    return tally, samples


def main() -> int:
    seconds = float(os.environ.get("SOAK_SECONDS", "600"))
    conns = int(os.environ.get("SOAK_CONNECTIONS", "500"))
    interval = float(os.environ.get("SOAK_INTERVAL", "5"))
    OUT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="edge-soak-"))
    origin_port, port, admin_port = free_port(), free_port(), free_port()
    config = scratch / "edge.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "origin": {
                    "url": f"http://127.0.0.1:{origin_port}",
                    "read_timeout": "2s",
                    "first_byte_timeout": "5s",
                },
                "proxy": {"timeouts": {"send": "10s"}},
                "cache": {"memory": {"max_bytes": "128MiB"}, "disk": {"max_bytes": "1GiB"}},
                "logging": {"access_log": False},
            }
        )
    )
    env = {**os.environ, "EDGE_ADMIN_TOKEN": TOKEN}
    py = sys.executable
    origin = spawn(
        "origin", [py, "-m", "origin_stub", "--listen", f"127.0.0.1:{origin_port}"], scratch
    )
    edge_cmd = [
        py,
        "-m",
        "edge",
        "serve",
        "--config",
        str(config),
        "--listen",
        f"127.0.0.1:{port}",
        "--admin-listen",
        f"127.0.0.1:{admin_port}",
        "--cache-dir",
        str(scratch / "cache"),
    ]
    edge = spawn("edge", edge_cmd, scratch, env=env)
    base, admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
    try:
        wait_http(f"http://127.0.0.1:{origin_port}/__origin/stats", alive=origin.alive)
        wait_http(f"{admin}/healthz", alive=edge.alive)
        print(
            f"soak: {seconds:g} s, {conns} connections, sampling every {interval:g} s", flush=True
        )
        tally, samples = asyncio.run(_run(base, admin, edge, seconds, conns, interval))
        alive = edge.alive()
    finally:
        edge.stop()
        origin.stop()
    grew = (
        _grew(samples, "rss_mib", 0.10, 0),
        _grew(samples, "fds", 0.10, 16),
        _level_grew(samples, "tasks", 0.10, 64),
    )
    problems = [p for p in grew if p]
    unexpected = sum(v for k, v in tally.errors.items() if k.startswith("unexpected:"))
    if unexpected:
        problems.append(f"{unexpected} unexpected errors, e.g. {tally.unexpected[:5]}")
    if not alive:
        problems.append(f"edge died during the soak:\n{edge.tail()}")
    result = {
        "seconds": seconds,
        "connections": conns,
        "interval": interval,
        "requests": tally.requests,
        "errors": tally.errors,
        "unexpected_examples": tally.unexpected,
        "purge_seconds": [round(p, 3) for p in tally.purges],
        "problems": problems,
        "samples": [asdict(s) for s in samples],
    }
    (OUT / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    (OUT / "soak.md").write_text(_summary(result, samples, tally.every))
    if samples and not ensure_pip():  # matplotlib, pinned in the bench extra
        _chart(samples, OUT / "soak.png")
    print(f"soak: {tally.requests} requests, errors {tally.errors}; results in {OUT}")
    for p in problems:
        print(f"! {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
