"""``workers: N`` as real processes: a herd of misses across the workers makes one origin
request, followers in every worker stream as the body arrives, and an owner that dies
mid-herd hangs nobody (edge.runtime.worker_routing, worker_relay)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edge.policy.keys import primary_key, url_of_key
from edge.runtime.worker_wire import Owners
from edge.runtime.workers import FANOUT_HEADER, WORKER_DIR_ENV
from tests.reliability.conftest import Proc, start_edge
from tests.support.helpers import metric_samples

pytestmark = pytest.mark.timeout(120)
TOKEN = "test-token-0123456789abcdef"
HERD = 200


def admin(edge: Proc, path: str) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{edge.admin_port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read() if path == "/metrics" else json.load(r)


def worker_dir(edge: Proc) -> tuple[str, list[int]]:
    """The supervisor's private directory of worker sockets, and the worker indexes."""
    pids = worker_pids(edge.proc.pid)
    environ = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
    prefix = WORKER_DIR_ENV.encode() + b"="
    directory = next(e[len(prefix) :] for e in environ if e.startswith(prefix)).decode()
    return directory, sorted(pids)


async def worker_requests(directory: str, indexes: list[int]) -> list[int]:
    """Each worker's own count of the requests it answered, asked on its private socket."""
    out = []
    for index in indexes:
        connector = aiohttp.UnixConnector(path=os.path.join(directory, f"w{index}.sock"))
        headers = {"Authorization": f"Bearer {TOKEN}", FANOUT_HEADER: "1"}
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get("http://worker/metrics", headers=headers) as resp:
                raw = (await resp.json())["raw"]
        out.append(int(sum(s[1] for s in raw["counters"].get("edge_requests", []))))
    return out


def origin_count(origin: Proc, target: str) -> int:
    with urllib.request.urlopen(f"{origin.url}/__origin/stats", timeout=10) as r:
        return int(json.load(r)["counts"].get(target, 0))


def worker_pids(supervisor: int) -> dict[int, int]:
    """Worker index -> PID, from each child's EDGE_WORKER."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    out: dict[int, int] = {}
    for pid in map(int, children):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:  # exited meanwhile
            continue
        for item in environ:
            if item.startswith(b"EDGE_WORKER="):
                out[int(item.split(b"=", 1)[1].split(b"/")[0])] = pid
    return out


def owned_by(edge: Proc, index: int, template: str) -> str:
    """A target (``template`` with ``{n}``) whose key worker ``index`` owns."""
    owners = Owners(2)
    for n in range(1000):
        target = template.format(n=n)
        key = primary_key("http", f"127.0.0.1:{edge.port}", target)
        if owners.of(url_of_key(key)) == index:
            return target
    raise AssertionError("no such target")


def listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:``port`` (one per worker: SO_REUSEPORT)."""
    local = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == local and line.split()[3] == "0A")


@pytest.fixture
def two_workers(origin_proc: Proc, tmp_path: Path) -> Iterator[Proc]:
    edge = start_edge(origin_proc, tmp_path, "--workers", "2", name="collapse")
    try:
        deadline = time.monotonic() + 30
        # until every worker answers worker 0 and listens on the proxy port
        while admin(edge, "/stats")["workers"] < 2 or listeners(edge.port) < 2:
            assert time.monotonic() < deadline, "the second worker never came up"
            time.sleep(0.05)
        yield edge
    finally:
        pids = list(worker_pids(edge.proc.pid).values()) if edge.proc.poll() is None else []
        edge.stop(signal.SIGKILL)
        for pid in pids:  # ours, by PID: the supervisor was killed before it could stop them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Got:
    status: int = 0
    body: bytes = b""
    first_byte: float = 0.0  # monotonic
    error: str = ""


async def herd(url: str, n: int, *, deadline: float = 60.0) -> list[Got]:
    """``n`` concurrent GETs, each on its own connection (so the kernel spreads them)."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=deadline)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> Got:
            got = Got()
            try:
                async with session.get(url) as resp:
                    got.status = resp.status
                    first = await resp.content.readany()
                    got.first_byte = time.monotonic()
                    got.body = first + await resp.content.read()
            except (aiohttp.ClientError, OSError) as exc:
                got.error = repr(exc)
            return got

        return await asyncio.gather(*(one() for _ in range(n)))


def test_a_herd_across_workers_is_one_origin_request_and_streams(
    two_workers: Proc, origin_proc: Proc
) -> None:
    chunks, interval = 24, 0.25  # the origin takes at least 23 * 0.25 s to send it all
    target = f"/stream/{chunks}?interval={interval}&herd=1"
    start = time.monotonic()
    got = asyncio.run(herd(two_workers.url + target, HERD))
    expected = b"".join(f"chunk {i}\n".encode() for i in range(chunks))
    assert [g.error for g in got if g.error] == []
    assert {g.status for g in got} == {200}
    assert all(g.body == expected for g in got)
    assert origin_count(origin_proc, target) == 1
    # every client, in either worker, had bytes while the origin was still sending
    origin_done_at_least = start + (chunks - 1) * interval
    late = [round(g.first_byte - start, 2) for g in got if g.first_byte >= origin_done_at_least]
    assert late == [], "clients that waited for the whole body"
    stats = admin(two_workers, "/stats")
    assert stats["workers"] == 2
    assert stats["origin_requests"] == 1  # counted once, at the owner
    assert stats["relayed"] == 1  # the other worker's one fill, answered by the owner
    assert stats["requests"] == HERD
    metrics = admin(two_workers, "/metrics").decode()
    assert "edge_origin_requests_total 1.0" in metrics
    # the herd, spread over both workers by the kernel, shows up whole in one scrape:
    # every worker's figures added up by worker 0, label by label and bucket by bucket
    scraped = metric_samples(metrics)
    assert sum(v for (n, _), v in scraped.items() if n == "edge_requests_total") == HERD
    timed = [v for (n, _), v in scraped.items() if n == "edge_request_duration_seconds_count"]
    assert sum(timed) == HERD
    assert scraped[("edge_request_duration_seconds_count", "cache=collapsed")] > 0
    assert scraped[("edge_workers", "")] == 2
    each = asyncio.run(worker_requests(*worker_dir(two_workers)))
    assert len(each) == 2 and all(n > 0 for n in each) and sum(each) == HERD, each


def test_an_owner_dying_mid_herd_hangs_nobody(two_workers: Proc, origin_proc: Proc) -> None:
    # owned by worker 1, so that the admin port (worker 0) stays up; the head takes 5 s
    target = owned_by(two_workers, 1, "/script?delay=5&cc=max-age%3D60&n={n}")

    def all_arrived() -> bool:  # every client is waiting, and the owner asked the origin
        arrived = admin(two_workers, "/stats")["requests"] >= 100
        return arrived and origin_count(origin_proc, target) >= 1

    async def run() -> list[Got]:
        clients = asyncio.create_task(herd(two_workers.url + target, 100, deadline=30))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await asyncio.to_thread(all_arrived):
            assert loop.time() < deadline, "the herd never reached the owner's fill"
            await asyncio.sleep(0.05)
        os.kill(worker_pids(two_workers.proc.pid)[1], signal.SIGKILL)
        return await clients

    started = time.monotonic()
    got = asyncio.run(run())
    assert time.monotonic() - started < 25  # nobody waited for a timeout
    served = [g for g in got if not g.error]
    # the owner's own clients lose their connection with it; the other worker's clients
    # are answered: their fill, cut off from the owner, went to the origin itself
    assert served, "no client was answered"
    assert {g.status for g in served} == {200}
    (body,) = {g.body for g in served}  # one fill's answer (the serve number: whichever
    assert body.startswith(f"script {target} serve=".encode())  # the origin finished first)
    assert all("Disconnect" in g.error or "Connection" in g.error for g in got if g.error)
    assert origin_count(origin_proc, target) == 2  # the dead owner's, and the fallback
