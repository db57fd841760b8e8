"""Storage through real processes: read-while-writer, restart, kill -9, degraded disk."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.reliability.conftest import Proc, start_edge

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


def expected_big(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


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


@pytest.mark.parametrize("kill_after", [0.05, 0.3, 0.8])
def test_kill_9_mid_fill_never_leaves_a_truncated_entry(
    origin_proc: Proc, tmp_path: Path, kill_after: float
) -> None:
    edge = start_edge(origin_proc, tmp_path, name="crash")
    path = "/big/300MiB"
    try:

        def reader() -> None:
            try:
                get(edge.url + path)
            except Exception:  # noqa: BLE001 - the connection dies with the process
                pass

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(kill_after)
        edge.proc.send_signal(signal.SIGKILL)
        edge.proc.wait(10)
        t.join(30)
        edge = start_edge(origin_proc, tmp_path, name="crash", ports=(edge.port, edge.admin_port))
        s, h, b = get(edge.url + path)
        assert s == 200 and len(b) == 300 << 20 and b == expected_big(300 << 20)
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
