"""A small HTTP/1.1 keep-alive load generator (used when `wrk` is not installed).

Each connection sends one GET at a time and reads the whole response; bounded
by a duration. Only for loopback targets.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _conn(host: str, port: int, path: str, until: float, lat: list[float]) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port)
    req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    done = errors = 0
    try:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if head[9:10] != b"2":
                errors += 1
            lat.append(time.perf_counter() - t0)
            done += 1
    finally:
        writer.close()
    return done, errors


async def run_load(
    host: str, port: int, path: str, *, connections: int = 32, seconds: float = 5.0
) -> LoadResult:
    assert host in ("127.0.0.1", "::1", "localhost"), "load goes to loopback only"
    lat: list[float] = []
    start = time.monotonic()
    until = start + seconds
    results = await asyncio.gather(
        *(_conn(host, port, path, until, lat) for _ in range(connections))
    )
    elapsed = time.monotonic() - start
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else 0.0

    return LoadResult(
        requests=sum(r[0] for r in results),
        seconds=elapsed,
        errors=sum(r[1] for r in results),
        p50_ms=pct(0.5),
        p99_ms=pct(0.99),
    )
