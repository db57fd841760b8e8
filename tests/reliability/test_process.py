"""The edge as a real process: flat memory on a large body, graceful shutdown, signals."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def _download(url: str) -> int:
    n = 0
    with urllib.request.urlopen(url, timeout=60) as resp:
        while chunk := resp.read(1 << 20):
            n += len(chunk)
    return n


def test_a_1gib_response_passes_with_flat_memory(edge_proc: Any) -> None:
    base = edge_proc.peak_rss_kib()
    assert _download(f"{edge_proc.url}/big/1GiB") == 1 << 30
    grown = edge_proc.peak_rss_kib() - base
    assert grown < 64 * 1024, f"peak RSS grew by {grown} KiB for a 1 GiB body"


def test_sigterm_lets_in_flight_requests_finish(edge_proc: Any, origin_proc: Any) -> None:
    result: dict[str, Any] = {}

    def slow() -> None:
        with urllib.request.urlopen(f"{edge_proc.url}/fault/slow?delay=1.5", timeout=30) as r:
            result["status"], result["body"] = r.status, r.read()

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until the origin has the request in hand
        with urllib.request.urlopen(f"{origin_proc.url}/__origin/stats", timeout=5) as r:
            if json.load(r)["counts"]:
                break
        time.sleep(0.02)
    edge_proc.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert result.get("status") == 200 and result["body"]
    assert edge_proc.proc.wait(timeout=20) == 0


def test_sigint_stops_an_idle_node_cleanly(edge_proc: Any) -> None:
    assert edge_proc.stop(signal.SIGINT) == 0
