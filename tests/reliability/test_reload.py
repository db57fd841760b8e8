"""Reloading the config (SIGHUP, ``POST /reload``) in a real ``edge serve`` process.

The changed setting is the request body limit: a POST over it is answered 413
by the front itself, so whether the new value is in force is visible from
outside. The keep-alive connection opened before the reload is the same socket
after it.
"""

from __future__ import annotations

import http.client
import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config
from edge.config.load import config_from_dict
from edge.runtime.reload import ConfigSource, plan_reload
from tests.reliability.conftest import Proc, start_edge

pytestmark = pytest.mark.timeout(120)
TOKEN = "test-token-0123456789abcdef"


def write(path: Path, body_limit: str, extra: str = "") -> None:
    path.write_text(f"proxy:\n  max_request_body: {body_limit}\n{extra}", encoding="utf-8")


def wait_log(log: Path, text: str, count: int = 1, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while log.read_text(encoding="utf-8", errors="replace").count(text) < count:
        assert time.monotonic() < deadline, f"{text!r} x{count} not in {log}"
        time.sleep(0.05)


def post(conn: http.client.HTTPConnection, size: int) -> int:
    conn.request("POST", "/echo", body=b"x" * size, headers={"Content-Type": "text/plain"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def reload_via_admin(edge: Proc) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{edge.admin_port}/reload",
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_plan_applies_live_keys_and_names_the_others() -> None:
    old = Config()
    new = config_from_dict(
        {"proxy": {"timeouts": {"keepalive": "5s"}, "listen": "0.0.0.0:9000"}, "workers": 2}
    )
    plan = plan_reload(old, new)
    assert plan.applied == ("proxy.timeouts.keepalive",)
    assert set(plan.restart) == {"proxy.listen", "workers"}
    assert plan.effective.proxy.timeouts.keepalive == 5.0
    assert plan.effective.proxy.listen == old.proxy.listen and plan.effective.workers == 1


def test_a_source_reads_the_file_and_the_flags_again(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    write(path, "1MiB")
    source = ConfigSource.from_env(ConfigSource(str(path), {"name": "n1"}).to_env())
    cfg = source.read()
    assert cfg.name == "n1" and cfg.proxy.max_request_body == 1 << 20


def test_sighup_applies_a_change_on_an_open_connection_and_refuses_a_broken_file(
    origin_proc: Proc, tmp_path: Path
) -> None:
    cfg = tmp_path / "edge.yaml"
    write(cfg, "1MiB")
    edge = start_edge(origin_proc, tmp_path, "--config", str(cfg), name="reload")
    log = tmp_path / "reload.log"
    try:
        conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
        assert post(conn, 2000) == 200
        sock = conn.sock
        write(cfg, "1000")
        edge.proc.send_signal(signal.SIGHUP)
        wait_log(log, "reload: applied proxy.max_request_body")
        conn.request("GET", "/static/app.js")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200 and conn.sock is sock  # the same connection, still open
        assert post(conn, 500) == 200 and conn.sock is sock
        assert post(conn, 2000) == 413  # the new limit, on the connection opened before
        conn.close()

        cfg.write_text("proxy:\n  max_request_body: lots\n", encoding="utf-8")
        edge.proc.send_signal(signal.SIGHUP)
        wait_log(log, "reload refused: config error: proxy.max_request_body")
        fresh = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
        assert post(fresh, 2000) == 413 and post(fresh, 500) == 200  # the old config stays
        fresh.close()

        status, answer = reload_via_admin(edge)
        assert status == 400 and answer["key"] == "proxy.max_request_body"
        write(cfg, "4000", "cache:\n  memory:\n    max_bytes: 64MiB\n")
        status, answer = reload_via_admin(edge)
        assert status == 200 and answer["reloaded"] is True
        assert answer["applied"] == ["proxy.max_request_body"]
        assert answer["restart_required"] == ["cache.memory.max_bytes"]
        assert edge.proc.poll() is None
    finally:
        edge.stop(signal.SIGKILL)


def test_with_workers_a_sighup_to_the_supervisor_reloads_every_worker(
    origin_proc: Proc, tmp_path: Path
) -> None:
    cfg = tmp_path / "edge.yaml"
    write(cfg, "1MiB")
    edge = start_edge(origin_proc, tmp_path, "--config", str(cfg), "--workers", "2", name="w")
    log = tmp_path / "w.log"
    try:
        wait_log(log, "serving on", count=2)
        write(cfg, "1000")
        edge.proc.send_signal(signal.SIGHUP)
        wait_log(log, "reload: applied proxy.max_request_body", count=2)  # the leader and w1
        write(cfg, "2000")
        status, answer = reload_via_admin(edge)
        assert status == 200 and answer["workers"] == {"0": True, "1": True}
        for _ in range(6):  # fresh connections: the kernel spreads them over both workers
            conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=30)
            assert post(conn, 1500) == 200 and post(conn, 2500) == 413
            conn.close()
    finally:
        edge.stop()  # SIGTERM: the supervisor stops its workers
