"""``workers: N`` as real processes: one node, several workers on one port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import Proc, start_edge, wait_http
from tests.support import raw_client
from tests.support.processes import write_config
from tests.support.raw_client import read_response, request

pytestmark = pytest.mark.timeout(120)
TOKEN = "test-token-0123456789abcdef"


def get(url: str) -> tuple[str, bytes]:
    """A request on a fresh connection (so the kernel may pick either worker)."""
    req = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers["Cache-Status"], r.read()


def admin(edge: Proc, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{edge.admin_port}{path}",
        data=data,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def origin_counts(origin: Proc) -> dict[str, int]:
    with urllib.request.urlopen(f"{origin.url}/__origin/stats", timeout=10) as r:
        counts: dict[str, int] = json.load(r)["counts"]
        return counts


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


@pytest.fixture
def workers_edge(origin_proc: Proc, tmp_path: Path) -> Any:
    edge = start_edge(origin_proc, tmp_path, "--workers", "2", name="workers")
    try:
        deadline = time.monotonic() + 30
        while admin(edge, "/stats")["workers"] < 2:  # until every worker answers worker 0
            assert time.monotonic() < deadline, "the second worker never came up"
            time.sleep(0.05)
        yield edge
    finally:
        workers = children(edge.proc.pid) if edge.proc.poll() is None else []
        edge.stop(signal.SIGKILL)
        for pid in workers:  # ours, by PID: the supervisor was killed before it could stop them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_purge_reaches_every_worker_before_it_answers(workers_edge: Proc) -> None:
    url = f"{workers_edge.url}/script?cc=max-age%3D600"
    # both workers now hold it (memory or disk); each may have fetched it once: there is
    # no collapsing across processes
    before = {get(url)[1] for _ in range(30)}
    answer = admin(workers_edge, "/purge", {"urls": ["/script?cc=max-age%3D600"]})
    assert answer["nodes"] == {"workers": True}
    after = [get(url) for _ in range(30)]
    stale = [status for status, body in after if body in before]
    assert not stale, f"a worker served purged content: {stale}"
    assert "fwd=uri-miss" in after[0][0]


def test_stats_add_up_the_workers(workers_edge: Proc) -> None:
    for _ in range(20):
        get(f"{workers_edge.url}/static/w.css")
    stats = admin(workers_edge, "/stats")
    assert stats["workers"] == 2
    assert stats["requests"] >= 20 and stats["hits"] + stats["misses"] >= 20


def test_a_killed_worker_is_restarted_and_sigterm_stops_all(workers_edge: Proc) -> None:
    first = children(workers_edge.proc.pid)
    assert len(first) == 2
    victim = first[1]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = children(workers_edge.proc.pid)
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the killed worker was not restarted")
    wait_http(f"{workers_edge.url}/static/x.js", workers_edge.proc)
    assert workers_edge.stop(signal.SIGTERM) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in now)


def test_sigterm_drains_every_worker_within_the_grace(origin_proc: Proc, tmp_path: Path) -> None:
    """In-flight requests on both workers finish, idle connections close at once, exit 0."""
    grace = 4.0
    config = write_config(tmp_path / "drain.yaml", {"proxy": {"shutdown_grace": f"{grace}s"}})
    edge = start_edge(origin_proc, tmp_path, "--workers", "2", "--config", str(config))
    workers = children(edge.proc.pid)
    try:
        deadline = time.monotonic() + 30
        while admin(edge, "/stats")["workers"] < 2:
            assert time.monotonic() < deadline, "the second worker never came up"
            time.sleep(0.05)
        idle = []
        for i in range(8):  # the kernel spreads new connections over both workers
            s = socket.create_connection(("127.0.0.1", edge.port), timeout=10)
            s.sendall(request(f"/static/idle-{i}.css"))
            assert read_response(s).status == 200
            idle.append(s)
        results: list[raw_client.Got] = []
        busy = [
            threading.Thread(
                target=lambda i=i: results.append(
                    raw_client.get(edge.port, f"/fault/slow?delay=1.5&n={i}", within=20)
                )
            )
            for i in range(8)
        ]
        for t in busy:
            t.start()
        deadline = time.monotonic() + 10
        while sum(1 for k in origin_counts(origin_proc) if k.startswith("/fault/slow")) < 8:
            assert time.monotonic() < deadline, "the slow requests never reached the origin"
            time.sleep(0.01)
        start = time.monotonic()
        edge.proc.send_signal(signal.SIGTERM)
        for s in idle:  # closed at once, not after the in-flight requests
            s.settimeout(5)
            assert s.recv(1) == b""
            s.close()
        idle_closed = time.monotonic() - start
        for t in busy:
            t.join(20)
        assert edge.proc.wait(timeout=grace + 10) == 0
        took = time.monotonic() - start
        assert sorted(g.status for g in results) == [200] * 8
        assert all(g.complete and g.body.startswith(b"slow serve=") for g in results)
        # a fill one worker answered for the other was let finish, not cut and asked again
        slow = {k: n for k, n in origin_counts(origin_proc).items() if k.startswith("/fault/slow")}
        assert sorted(slow.values()) == [1] * 8, slow
        assert idle_closed < 1.0 < took < grace + 5
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        edge.stop(signal.SIGKILL)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
