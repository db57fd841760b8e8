"""A hypothesis fuzz over raw requests against a real edge process (issue 14 item 2).

Mutated request lines, header names and values, absurd numbers in Content-Length,
Range, Cache-Control, Age and dates, bytes inserted anywhere: edge answers with a
status below 500 or closes the connection; it never crashes or hangs, and its file
descriptors return to their level after the run. One front (http1, the default): a
process-level test. ``EDGE_FUZZ_EXAMPLES`` sets the number of requests (default 100,
a few seconds; ``EDGE_FUZZ_EXAMPLES=20000`` is the long run).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import Proc, start_edge, wait_http
from tests.support.processes import free_port

EXAMPLES = int(os.environ.get("EDGE_FUZZ_EXAMPLES", "100"))

PATHS = ("/", "/static/app.js", "/api/items", "/vary/lang", "/big/64KiB", "/echo", "/script")
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PURGE")
NAMES = (
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Range",
    "If-Range",
    "Cache-Control",
    "Pragma",
    "Age",
    "If-Modified-Since",
    "If-None-Match",
    "Expect",
    "Accept-Encoding",
    "Accept-Language",
    "Connection",
    "Upgrade",
    "CDN-Loop",
    "Authorization",
    "Cookie",
    "X-Request-Id",
)
ABSURD = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        [
            "bytes=0-0,1-1,2-2," * 40,
            "bytes=-0",
            "bytes=99999999999999999999-",
            'max-age=99999999999999999999, s-maxage=-1, no-cache="',
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Fri, 31 Dec 99999 23:59:59 GMT",
            "chunked, chunked",
            "100-continue",
            "*",
            "",
            "\t",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)
HEADER = st.tuples(
    st.one_of(st.sampled_from(NAMES), st.text(min_size=1, max_size=12)),
    ABSURD,
)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.one_of(st.sampled_from(METHODS), st.text(min_size=1, max_size=8)))
    target = draw(st.one_of(st.sampled_from(PATHS), st.text(max_size=30)))
    if draw(st.booleans()):
        target += "?" + draw(st.text(max_size=20))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", ""]))
    lines = [f"{method} {target} {version}"]
    if draw(st.booleans()):
        lines.append("Host: fuzz.example")
    lines += [f"{n}: {v}" for n, v in draw(st.lists(HEADER, max_size=8))]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    raw += draw(st.binary(max_size=64))  # a body, or what follows
    for _ in range(draw(st.integers(0, 3))):  # bytes inserted anywhere
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]
    return raw


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, half-close, read until the server closes (bounded at 5 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # refused and closed while we were still sending
        out = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        else:
            raise AssertionError(f"edge did not answer or close within 5 s: {data[:200]!r}")
        return out


@pytest.fixture(scope="module")
def fuzz_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    origin = subprocess.Popen(
        [sys.executable, "-m", "origin_stub", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    origin_p = Proc(origin, port)
    try:
        wait_http(f"{origin_p.url}/__origin/stats", origin)
        edge = start_edge(origin_p, tmp)
        try:
            yield edge
        finally:
            edge.stop(signal.SIGKILL)
    finally:
        origin_p.stop(signal.SIGKILL)


def _statuses(answer: bytes) -> list[int]:
    out = []
    for part in answer.split(b"HTTP/1.1 ")[1:]:
        code = part[:3]
        if code.isdigit():
            out.append(int(code))
    return out


def test_fuzzed_requests_get_no_5xx_and_leak_nothing(fuzz_edge: Proc) -> None:
    urllib.request.urlopen(f"{fuzz_edge.url}/static/app.js", timeout=5).read()
    baseline = _fds(fuzz_edge.proc.pid)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def one(data: bytes) -> None:
        answer = _exchange(fuzz_edge.port, data)
        assert fuzz_edge.proc.poll() is None, "edge exited"
        bad = [s for s in _statuses(answer) if s >= 500 and s != 505]
        assert not bad, (data[:300], answer[:300])

    one()
    with urllib.request.urlopen(f"{fuzz_edge.url}/static/app.js", timeout=5) as r:
        assert r.status == 200  # still serving
    deadline = time.monotonic() + 10
    while _fds(fuzz_edge.proc.pid) > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _fds(fuzz_edge.proc.pid) <= baseline + 2
