"""Routes and cache rules reloaded in a real ``edge serve --workers 2`` (issue 12 item 3).

A SIGHUP with a changed rule applies it on every worker without dropping the open
keep-alive connection; a broken file keeps the old routing. Every worker routes alike:
fresh connections (spread by the kernel over both workers) all see the new rule, and a
query rule keys alike on both (the fill relay's owner is chosen on that key).
"""

from __future__ import annotations

import http.client
import re
import signal
from pathlib import Path

import pytest

from tests.reliability.conftest import Proc, start_edge
from tests.reliability.test_reload import wait_log

pytestmark = pytest.mark.timeout(120)


def write(path: Path, ttl: str, pool: str = "site") -> None:
    path.write_text(
        f"""
origins:
  - name: site
    servers: [{{url: "${{EDGE_SITE}}"}}]
routes:
  - hosts: [www.example.com]
    pool: {pool}
    cache:
      ttl: {ttl}
      query: {{drop: ["utm_*"]}}
""",
        encoding="utf-8",
    )


def ttl(cache_status: str) -> int:
    """The ttl of a hit's Cache-Status (real time passes: 200 s may be 199 by then)."""
    match = re.search(r"; hit; ttl=(\d+)", cache_status)
    assert match is not None, cache_status
    return int(match.group(1))


def get(conn: http.client.HTTPConnection, target: str) -> tuple[int, str]:
    conn.request("GET", target, headers={"Host": "www.example.com"})
    resp = conn.getresponse()
    resp.read()
    return resp.status, resp.getheader("Cache-Status") or ""


def test_sighup_swaps_rules_on_every_worker_and_keeps_the_connection(
    origin_proc: Proc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_SITE", origin_proc.url)
    cfg = tmp_path / "edge.yaml"
    write(cfg, "100s")
    edge = start_edge(origin_proc, tmp_path, "--config", str(cfg), "--workers", "2", name="rr")
    log = tmp_path / "rr.log"
    try:
        wait_log(log, "serving on", count=2)
        conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
        status, cs = get(conn, "/script?n=1&utm_source=a")
        assert status == 200 and "detail=rule-ttl" in cs
        sock = conn.sock
        write(cfg, "200s")
        edge.proc.send_signal(signal.SIGHUP)
        wait_log(log, "reload: applied routes", count=2)  # the leader and worker 1
        status, cs = get(conn, "/script?n=2")
        assert status == 200 and "detail=rule-ttl" in cs and conn.sock is sock
        assert ttl(get(conn, "/script?n=2&utm_medium=b")[1]) > 150  # a hit, keyed alike
        for i in range(6):  # fresh connections: the kernel spreads them over both workers
            fresh = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
            _, cs = get(fresh, f"/script?n=1{i}&utm_x={i}")
            assert ttl(get(fresh, f"/script?n=1{i}")[1]) > 150, cs
            fresh.close()

        write(cfg, "300s", pool="nope")
        edge.proc.send_signal(signal.SIGHUP)
        wait_log(log, "reload refused: config error: routes[0].pool")
        status, cs = get(conn, "/script?n=3")
        assert status == 200 and conn.sock is sock
        assert ttl(get(conn, "/script?n=3")[1]) > 150  # the old routing stays
        conn.close()
    finally:
        edge.stop()  # SIGTERM: the supervisor stops its workers
