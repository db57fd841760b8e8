"""Storage through real processes: read-while-writer, restart, kill -9, degraded disk."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import Proc, admin, start_edge
from tests.support import raw_client
from tests.support.processes import write_config
from tests.support.raw_client import request
from tests.support.raw_origin import RawOrigin, ok, pattern, stall_in_body

pytestmark = pytest.mark.timeout(180)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def origin_counts(origin: Proc) -> dict[str, int]:
    with urllib.request.urlopen(f"{origin.url}/__origin/stats", timeout=10) as r:
        counts: dict[str, int] = json.load(r)["counts"]
        return counts


def test_twenty_clients_share_one_fill_of_a_1gib_object(edge_proc: Proc, origin_proc: Proc) -> None:
    size = 1 << 30
    first_byte: list[float] = []
    totals: list[int] = []
    lock = threading.Lock()
    start = time.monotonic()

    def client() -> None:
        with urllib.request.urlopen(f"{edge_proc.url}/big/1GiB", timeout=120) as r:
            chunk = r.read(65536)
            with lock:
                first_byte.append(time.monotonic() - start)
            n = len(chunk)
            while chunk := r.read(1 << 20):
                n += len(chunk)
        with lock:
            totals.append(n)

    base = edge_proc.peak_rss_kib()
    threads = [threading.Thread(target=client) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(170)
    assert totals == [size] * 20
    assert origin_counts(origin_proc)["/big/1GiB"] == 1
    grown = edge_proc.peak_rss_kib() - base
    assert grown < 128 * 1024, f"peak RSS grew by {grown} KiB"
    # everyone started while the fill was still arriving, not after it ended
    assert max(first_byte) < 0.5 * (time.monotonic() - start)
    status, headers, _ = get(f"{edge_proc.url}/big/1GiB", {"Range": "bytes=0-9"})
    assert status == 206 and "hit" in headers["Cache-Status"]


def test_a_restarted_node_serves_its_disk_entries_as_hits(
    origin_proc: Proc, tmp_path: Path
) -> None:
    edge = start_edge(origin_proc, tmp_path, name="persist")
    try:
        path = "/script?cc=max-age%3D3600&size=20000&age=100"  # stored already 100 s old
        big = "/big/20MiB"  # over the memory tier's 8 MiB object limit: disk only
        s1, _, b1 = get(edge.url + path)
        s2, _, b2 = get(edge.url + big)
        assert s1 == s2 == 200
        assert edge.stop() == 0
        edge = start_edge(origin_proc, tmp_path, name="persist", ports=(edge.port, edge.admin_port))
        s, h, b = get(edge.url + path)  # the age it was stored with survives the restart
        assert s == 200 and b == b1 and "hit" in h["Cache-Status"] and int(h["Age"]) >= 100
        s, h, b = get(edge.url + big)
        assert s == 200 and b == b2 and "detail=disk" in h["Cache-Status"]
        assert origin_counts(origin_proc) == {path: 1, big: 1}
    finally:
        edge.stop(signal.SIGKILL)


class Download(threading.Thread):
    """One GET read as it arrives; ``received`` counts the bytes so far (head included)."""

    def __init__(self, port: int, path: str) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.received = port, path, 0

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=20) as s:
                s.sendall(request(self.path))
                while data := s.recv(1 << 20):
                    self.received += len(data)
        except OSError:
            pass  # the connection dies with the process

    def wait_for(self, n: int) -> None:
        deadline = time.monotonic() + 20
        while self.received < n:
            assert self.is_alive() and time.monotonic() < deadline, f"{self.path}: {self.received}"
            time.sleep(0.01)


def _storm(port: int, paths: list[str], done: list[str], stop: threading.Event) -> None:
    """Small fills one after another, until the process dies under them."""
    for path in paths:
        if stop.is_set():
            return
        try:
            if raw_client.get(port, path, within=5).complete:
                done.append(path)
        except OSError:
            return


def _quietly(call: Any, *args: Any) -> None:
    with contextlib.suppress(OSError, ValueError):  # the process dies under it
        call(*args)


def test_kill_9_mid_fill_commit_purge_and_bump_then_restart(tmp_path: Path) -> None:
    """kill -9 with fills cut at three points, commits and a purge in flight, and purges and
    a version bump answered just before: the restarted node serves nothing half-written, no
    purged entry and nothing under the bumped prefix, and its stored entries still."""
    size = 4 << 20  # spooled to a file past the memory tier's 1 MiB objects
    cut = {"/fill/first-byte": 1, "/fill/memory": 256 << 10, "/fill/disk": 2 << 20}
    config = write_config(
        tmp_path / "crash.yaml", {"cache": {"memory": {"max_object_bytes": "1MiB"}}}
    )
    with RawOrigin() as origin:
        for path, sent in cut.items():
            origin.script(path, stall_in_body(size, sent), ok(pattern(size)))
        answered = ("/gone/hard", "/gone/soft", "/v/bumped", "/kept")
        for path in answered:
            origin.script(path, ok(pattern(5000)), ok(pattern(5000, 1)))
        storm = [f"/storm/{i}" for i in range(60)]
        for i, path in enumerate(storm):
            origin.script(path, ok(pattern(64 << 10, i)))
        edge = start_edge(origin, tmp_path, "--config", str(config), name="crash")
        try:
            for path in answered:
                assert raw_client.get(edge.port, path).complete
            assert admin(edge, "/purge", {"urls": ["/gone/hard"]})["purged"] == 1
            assert admin(edge, "/purge", {"urls": ["/gone/soft"], "soft": True})["purged"] == 1
            assert admin(edge, "/versions", {"prefix": "/v/"})["version"] == 1
            fills = {path: Download(edge.port, path) for path in cut}
            for d in fills.values():
                d.start()
            for path, d in fills.items():
                d.wait_for(cut[path])  # the edge has spooled at least this much
            done: list[str] = []
            stop = threading.Event()
            stormer = threading.Thread(target=_storm, args=(edge.port, storm, done, stop))
            stormer.start()
            deadline = time.monotonic() + 20
            while len(done) < 20:
                assert time.monotonic() < deadline and stormer.is_alive(), len(done)
                time.sleep(0.005)
            purging = threading.Thread(  # a prefix purge in flight when the process dies
                target=_quietly, args=(admin, edge, "/purge", {"prefixes": ["/storm/"]})
            )
            purging.start()
            edge.proc.send_signal(signal.SIGKILL)
            edge.proc.wait(10)
            stop.set()
            for t in (stormer, purging, *fills.values()):
                t.join(20)
            edge = start_edge(
                origin,
                tmp_path,
                "--config",
                str(config),
                name="crash",
                ports=(edge.port, edge.admin_port),
            )
            for path in cut:  # never the cut body: fetched again, whole
                got = raw_client.get(edge.port, path)
                assert got.complete and got.body == pattern(size), path
                assert len(origin.seen(path)) == 2, path
            for path in ("/gone/hard", "/gone/soft", "/v/bumped"):  # purged stay purged
                got = raw_client.get(edge.port, path)
                assert got.complete and got.body == pattern(5000, 1), path
                assert len(origin.seen(path)) == 2, path
            assert admin(edge, "/versions")["versions"] == {"/v/": 1}
            got = raw_client.get(edge.port, "/kept")
            assert got.body == pattern(5000) and "hit" in (got.header("cache-status") or "")
            for i, path in enumerate(storm):  # committed whole or not at all
                got = raw_client.get(edge.port, path)
                assert got.complete and got.body == pattern(64 << 10, i), path
        finally:
            edge.stop(signal.SIGKILL)


def test_an_unusable_cache_dir_degrades_to_memory(origin_proc: Proc, tmp_path: Path) -> None:
    blocker = tmp_path / "cache-broken"
    blocker.write_text("a file where the cache dir should be")
    edge = start_edge(origin_proc, tmp_path, name="broken")
    try:
        path = "/script?cc=max-age%3D3600"
        get(edge.url + path)
        s, h, _ = get(edge.url + path)
        assert s == 200 and "hit" in h["Cache-Status"] and "detail=memory" in h["Cache-Status"]
        log = (tmp_path / "broken.log").read_text()
        assert "ERROR" in log
    finally:
        edge.stop(signal.SIGKILL)
