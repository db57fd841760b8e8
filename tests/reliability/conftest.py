"""Real processes: an origin stub and an edge, each on free 127.0.0.1 ports, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.support.processes import free_port

TOKEN = "test-token-0123456789abcdef"


class Origin(Protocol):
    """An origin an edge process can front: the stub's process, or a RawOrigin."""

    @property
    def url(self) -> str: ...


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def peak_rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM")


def start_origin(tmp_path: Path) -> Proc:
    """The origin stub as a process on a free port (stop it by PID)."""
    port = free_port()
    p = subprocess.Popen(
        [sys.executable, "-m", "origin_stub", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "origin.log", "wb"),  # noqa: SIM115
    )
    proc = Proc(p, port)
    try:
        wait_http(f"{proc.url}/__origin/stats", p)
    except BaseException:
        proc.stop(signal.SIGKILL)
        raise
    return proc


@pytest.fixture
def origin_proc(tmp_path: Path) -> Iterator[Proc]:
    proc = start_origin(tmp_path)
    try:
        yield proc
    finally:
        proc.stop(signal.SIGKILL)


def start_edge(
    origin: Origin,
    tmp_path: Path,
    *extra: str,
    name: str = "edge",
    ports: tuple[int, int] | None = None,
) -> Proc:
    """An edge process; pass ``ports`` (proxy, admin) to restart one where it was."""
    port, admin = ports or (free_port(), free_port())
    cmd = [sys.executable, "-m", "edge", "serve", "--listen", f"127.0.0.1:{port}"]
    cmd += ["--origin", origin.url, "--admin-listen", f"127.0.0.1:{admin}"]
    cmd += ["--cache-dir", str(tmp_path / f"cache-{name}"), "--name", name, *extra]
    env = {**os.environ, "EDGE_ADMIN_TOKEN": TOKEN}
    log = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115
    p = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
    proc = Proc(p, port, admin)
    try:
        wait_http(f"http://127.0.0.1:{admin}/healthz", p)
    except BaseException:
        proc.stop(signal.SIGKILL)  # never left running by a test that could not start it
        raise
    return proc


@pytest.fixture
def edge_proc(origin_proc: Proc, tmp_path: Path) -> Iterator[Proc]:
    proc = start_edge(origin_proc, tmp_path)
    try:
        yield proc
    finally:
        proc.stop(signal.SIGKILL)


def admin(edge: Proc, path: str, body: Any = None, *, timeout: float = 30) -> Any:
    """A call on the node's admin port with the token (JSON in, JSON out)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{edge.admin_port}{path}",
        data=data,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")
