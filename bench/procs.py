"""Processes for the side-by-side bench: free ports in 18000-18999, pinned spawns, clean stops.

Every process is started in its own session (``start_new_session=True``) so that stopping it
means signalling that process group, which holds only what this bench started.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _port_range() -> tuple[int, int]:
    """18000-18999, or ``BENCH_PORTS=LOW-HIGH`` (a machine shared with other runs)."""
    low, _, high = os.environ.get("BENCH_PORTS", "18000-18999").partition("-")
    return int(low), int(high)


PORT_RANGE = _port_range()
_taken: set[int] = set()


def free_port() -> int:
    """A port in PORT_RANGE that nothing listens on and this run has not handed out."""
    candidates = [p for p in range(PORT_RANGE[0], PORT_RANGE[1] + 1) if p not in _taken]
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError(f"no free port in {PORT_RANGE[0]}-{PORT_RANGE[1]}")


def pinned(cmd: list[str], cpu: str | None) -> list[str]:
    """``cmd`` under ``taskset -c CPU`` (unchanged when ``cpu`` is None or taskset is missing)."""
    taskset = shutil.which("taskset")
    if cpu is None or taskset is None:
        return cmd
    return [taskset, "-c", cpu, *cmd]


def wait_http(
    url: str,
    seconds: float = 30.0,
    alive: Callable[[], bool] = lambda: True,
    *,
    context: ssl.SSLContext | None = None,
) -> None:
    """Until ``url`` answers anything over HTTP (any status), at most ``seconds``, and only
    while ``alive()`` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as r:
                r.read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    if not alive():
        raise TimeoutError(f"the server for {url} exited")
    raise TimeoutError(f"no answer from {url} within {seconds:g}s")


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    extra_pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group this bench created, then SIGKILL it after ``grace``."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str,
    cmd: list[str],
    logdir: Path,
    cpu: str | None = None,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start ``cmd`` in a new session, output to ``logdir/NAME.log``; cwd defaults to the repo."""
    log = logdir / f"{name.replace(' ', '_').replace('/', '_')}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            pinned(cmd, cpu),
            cwd=cwd or REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Proc(name, proc, log)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo and len(out) < 1000:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def status_kib(pid: int, key: str) -> int:
    """``VmRSS``/``VmHWM`` of ``pid`` in KiB from /proc/PID/status (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> int:
    return sum(status_kib(p, "VmRSS") for p in [pid, *descendants(pid)])
