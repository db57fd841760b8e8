"""Real processes for the tests (nats-server, the origin stub, edge nodes), by PID.

:class:`LocalProcess` is one child process we started: restartable with the same command,
stopped by its PID, its output in a log file. :func:`node_config` writes the config of a
node in a small CDN (parents, NATS), listen addresses come from flags. Everything listens
on 127.0.0.1, on free ports.
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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


@dataclass(frozen=True)
class Parent:
    name: str
    url: str
    admin_url: str | None = None


def node_config(
    name: str,
    origin_url: str,
    *,
    parents: Sequence[Parent] = (),
    nats_url: str | None = None,
    parent_down_for: str = "10s",
    parent_probe_interval: str = "5s",
    catch_up_timeout: str = "30s",
    wait_timeout: str | None = None,
    memory: str = "64MiB",
    disk: str = "256MiB",
) -> dict[str, Any]:
    """A node's config as a mapping (dump it as YAML); listen addresses come from flags."""
    cluster: dict[str, Any] = {
        "parents": [
            {"name": p.name, "url": p.url, **({"admin_url": p.admin_url} if p.admin_url else {})}
            for p in parents
        ],
        "parent_down_for": parent_down_for,
        "parent_probe_interval": parent_probe_interval,
    }
    if nats_url is not None:
        nats: dict[str, Any] = {
            "servers": [nats_url],
            "stream": "EDGE_INVALIDATIONS",
            "kv_bucket": "edge_versions",
            "catch_up_timeout": catch_up_timeout,
        }
        if wait_timeout is not None:
            nats["wait_timeout"] = wait_timeout
        cluster["nats"] = nats
    return {
        "name": name,
        "origin": {"url": origin_url},
        "cache": {"memory": {"max_bytes": memory}, "disk": {"max_bytes": disk}},
        "cluster": cluster,
    }


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path
