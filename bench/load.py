"""Load: wrk runs (pinned to the load CPU) and their parsing, a herd client, a streamed GET."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass

from bench.procs import pinned

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors + non-2xx/3xx
    mib_per_s: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _size_mib(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([KMG]?B)", text)
    if m is None:
        return 0.0
    scale = {"B": 1 / (1 << 20), "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}[m.group(2)]
    return float(m.group(1)) * scale


def parse_wrk(out: str) -> WrkResult:
    def grab(pattern: str) -> str:
        m = re.search(pattern, out)
        if m is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{out}")
        return m.group(1)

    errors = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    return WrkResult(
        rps=float(grab(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(grab(r"\n\s+50%\s+(\S+)")),
        p99_ms=_ms(grab(r"\n\s+99%\s+(\S+)")),
        requests=int(grab(r"(\d+) requests in")),
        errors=errors,
        mib_per_s=_size_mib(grab(r"Transfer/sec:\s+(\S+)")),
    )


def wrk(url: str, connections: int, seconds: float, cpu: str | None) -> WrkResult:
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed")
    cmd = [exe, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    cmd += ["--timeout", "10s", url]
    proc = subprocess.run(
        pinned(cmd, cpu), capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()}")
    return parse_wrk(proc.stdout)


@dataclass(frozen=True)
class HerdResult:
    clients: int
    ok: int
    failed: int
    wall_s: float
    p50_ms: float
    p99_ms: float


async def _herd(host: str, port: int, target: str, clients: int, read_limit: float) -> HerdResult:
    """Open ``clients`` connections, then send one GET on each at once and read every answer."""
    conns = await asyncio.gather(
        *(asyncio.open_connection(host, port) for _ in range(clients)), return_exceptions=True
    )
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    lat: list[float] = []
    ok = failed = 0

    async def one(pair: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        nonlocal ok, failed
        reader, writer = pair
        t0 = time.perf_counter()
        try:
            writer.write(request.encode())
            data = await asyncio.wait_for(reader.read(-1), read_limit)
            good = data.startswith(b"HTTP/1.1 200")
        except (OSError, TimeoutError):
            good = False
        finally:
            writer.close()
        lat.append(time.perf_counter() - t0)
        ok, failed = (ok + 1, failed) if good else (ok, failed + 1)

    start = time.perf_counter()
    pairs = [c for c in conns if isinstance(c, tuple)]
    failed += clients - len(pairs)
    await asyncio.gather(*(one(p) for p in pairs))
    wall = time.perf_counter() - start
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(len(lat) * q))] * 1000 if lat else 0.0

    return HerdResult(clients, ok, failed, wall, pct(0.5), pct(0.99))


def herd(port: int, target: str, clients: int = 1000, timeout: float = 60.0) -> HerdResult:
    return asyncio.run(_herd("127.0.0.1", port, target, clients, timeout))


def fetch(url: str, timeout: float = 300.0) -> tuple[int, float, dict[str, str]]:
    """GET ``url``, reading the body in 1 MiB chunks: (bytes, seconds, lowercased headers)."""
    t0 = time.perf_counter()
    total = 0
    with urllib.request.urlopen(url, timeout=timeout) as r:
        headers = {k.lower(): v for k, v in r.headers.items()}
        while chunk := r.read(1 << 20):
            total += len(chunk)
    return total, time.perf_counter() - t0, headers
