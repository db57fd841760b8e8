"""Resource exhaustion against real edge processes, on both fronts (issue 14, items 2 and 5).

- connections over ``proxy.max_connections`` get a quick 503 (Retry-After) and are counted;
- slowloris (connections sending a header byte at a time) is closed by the head deadline
  while a normal client is served;
- a client that stops reading a large object holds no memory: others are served, the fill
  goes on, and ``proxy.timeouts.send`` disconnects it (http1 front);
- file descriptors are back to their baseline afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    TOKEN,
    Proc,
    admin,
    start_edge,
    start_origin,
)
from tests.support import raw_client
from tests.support.processes import write_config
from tests.support.raw_client import read_response
from tests.support.raw_client import request as raw_request

pytestmark = pytest.mark.timeout(60)

LIMIT = 40
HEAD = 1.0  # proxy.timeouts.head (and the send timeout)
KEEPALIVE = 4.0  # long enough for the idle connections the limit test holds


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = start_origin(tmp_path_factory.mktemp("exhaustion-origin"))
    try:
        yield proc
    finally:
        proc.stop(signal.SIGKILL)  # what the tests are about is over: no grace needed


@pytest.fixture(scope="module", params=["http1", "aiohttp"])
def edge(
    request: pytest.FixtureRequest, origin: Proc, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proc]:
    tmp: Path = tmp_path_factory.mktemp(f"exhaustion-{request.param}")
    timeouts = {"head": f"{HEAD}s", "keepalive": f"{KEEPALIVE}s", "send": f"{HEAD}s"}
    config = write_config(
        tmp / "edge.yaml",
        {
            "proxy": {"front": request.param, "max_connections": LIMIT, "timeouts": timeouts},
            "logging": {"access_log": False},
        },
    )
    proc = start_edge(origin, tmp, "--config", str(config), name=request.param)
    try:
        yield proc
    finally:
        proc.stop(signal.SIGKILL)  # what the tests are about is over: no grace needed


def until(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _fds(pid: int) -> list[str]:
    """The process's descriptors but SQLite's: diskcache opens one connection per executor
    thread that touches it (bounded by the pool), which says nothing about clients."""
    d = f"/proc/{pid}/fd"
    out = []
    for f in os.listdir(d):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"{d}/{f}")
            if "/cache.db" not in target:
                out.append(target)
    return sorted(out)


def settled_fds(edge: Proc) -> int:
    """The process's descriptors once it holds an idle origin connection (as it will after)."""
    assert raw_client.get(edge.port, "/static/warm.css").status == 200
    return len(_fds(edge.proc.pid))


def back_to(edge: Proc, baseline: int) -> None:
    """Until the descriptors are back at ``baseline`` (give or take the pooled origin and
    admin connections a test's own calls may leave open)."""
    deadline = time.monotonic() + 10
    while len(fds := _fds(edge.proc.pid)) > baseline + 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(fds)} descriptors, {baseline} before: {fds}")
        time.sleep(0.02)


def test_connections_over_the_limit_are_refused_and_counted(edge: Proc) -> None:
    baseline = settled_fds(edge)
    refused_before = admin(edge, "/stats")["connections_refused"]
    held: list[socket.socket] = []
    try:
        for _ in range(LIMIT - 1):  # the admin call below is not on the proxy port
            s = socket.create_connection(("127.0.0.1", edge.port), timeout=10)
            s.sendall(raw_request("/static/limit.css"))
            assert read_response(s).status == 200  # then idle, kept alive
            held.append(s)
        last = socket.create_connection(("127.0.0.1", edge.port), timeout=10)
        held.append(last)
        until(lambda: admin(edge, "/stats")["connections_open"] == LIMIT, "not all open")
        over = [socket.create_connection(("127.0.0.1", edge.port), timeout=10) for _ in range(5)]
        for s in over:
            got = read_response(s, within=5)
            assert got.status == 503 and got.header("retry-after") == "1" and got.closed
            assert b"127.0.0.1" not in got.body
            s.close()
        stats = admin(edge, "/stats")
        assert stats["connections_refused"] == refused_before + 5
        assert stats["connections_open"] == LIMIT
        req = urllib.request.Request(
            f"http://127.0.0.1:{edge.admin_port}/metrics",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
        assert f"edge_connections_refused_total {float(refused_before + 5)}" in text
        assert f"edge_connections_open {float(LIMIT)}" in text
    finally:
        for s in held:
            s.close()
    back_to(edge, baseline)
    assert raw_client.get(edge.port, "/static/limit.css").status == 200  # room again


def test_slowloris_is_closed_by_the_head_deadline_while_others_are_served(edge: Proc) -> None:
    baseline = settled_fds(edge)
    head = b"GET /static/slow.css HTTP/1.1\r\nHost: edge.test\r\nX-Slow: " + b"a" * 100
    loris = [socket.create_connection(("127.0.0.1", edge.port), timeout=10) for _ in range(30)]
    start = time.monotonic()
    closed_at: dict[int, float] = {}
    served: list[int] = []
    for s in loris:
        s.setblocking(False)
    sent = 0
    while len(closed_at) < len(loris) and time.monotonic() - start < HEAD + KEEPALIVE + 2:
        for i, s in enumerate(loris):
            if i in closed_at:
                continue
            with contextlib.suppress(BlockingIOError):
                try:
                    if s.recv(4096) == b"":
                        closed_at[i] = time.monotonic() - start
                        continue
                except ConnectionResetError:
                    closed_at[i] = time.monotonic() - start
                    continue
            with contextlib.suppress(OSError):
                s.send(head[sent : sent + 1])
        sent += 1
        if sent == 3:  # meanwhile a normal client is served at once
            served.append(raw_client.get(edge.port, "/static/normal.css", within=5).status)
        time.sleep(0.1)
    for s in loris:
        s.close()
    assert served == [200]
    assert len(closed_at) == len(loris), f"{len(loris) - len(closed_at)} still open"
    assert max(closed_at.values()) < KEEPALIVE  # by the head deadline, not the idle timer
    assert admin(edge, "/stats")["head_timeouts"] >= len(loris)
    back_to(edge, baseline)


def test_a_stopped_reader_holds_no_memory_and_is_disconnected(
    edge: Proc, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["edge"] != "http1":
        pytest.skip("proxy.timeouts.send is the http1 front's (README: Reliability)")
    size = 128 << 20
    path = "/big/128MiB"
    baseline = settled_fds(edge)
    before = edge.peak_rss_kib()
    stopped = socket.create_connection(("127.0.0.1", edge.port), timeout=10)
    stopped.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    stopped.sendall(raw_request(path))
    assert stopped.recv(1 << 20)  # it started, and now reads no more
    whole: list[int] = []

    def download() -> None:  # the same object, read at full speed meanwhile
        with urllib.request.urlopen(f"{edge.url}{path}", timeout=30) as r:
            n = 0
            while chunk := r.read(1 << 20):
                n += len(chunk)
            whole.append(n)

    t = threading.Thread(target=download)
    t.start()
    t.join(30)
    assert whole == [size]
    assert raw_client.get(edge.port, "/static/while-stopped.css").status == 200
    until(lambda: admin(edge, "/stats")["send_timeouts"] >= 1, "the stopped reader stayed")
    got = 0
    with contextlib.suppress(OSError):
        stopped.settimeout(5)
        while data := stopped.recv(1 << 20):
            got += len(data)
    stopped.close()
    assert got < size  # it was cut off, not fed the rest
    grown = edge.peak_rss_kib() - before
    assert grown < 48 * 1024, f"peak RSS grew by {grown} KiB"
    back_to(edge, baseline)
