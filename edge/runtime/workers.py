"""``workers: N``: several worker processes serving one node.

The supervisor (the process ``edge serve`` started) runs no proxy itself: it
resolves the admin token, writes the resolved config to a file, starts N
workers with ``EDGE_WORKER=i/N``, forwards SIGTERM/SIGINT to them, and
restarts a worker that dies. Every worker listens on the proxy port
(SO_REUSEPORT: the kernel spreads connections) and shares the disk tier;
each has its own memory tier.

Worker 0 is the *leader*: it alone holds the public admin port and the
cluster control plane, and every worker also answers a private admin socket
(a Unix socket). A purge or version bump made anywhere goes to the leader,
which applies it, fans it out to every other worker and only then answers,
so no worker serves purged content once the answer is back.

Every key has an owner worker too: a worker filling a key another owns asks the
owner over the owner's private fill socket (edge.runtime.worker_routing), so one
fill serves a herd across all workers.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from edge.config import Config, HostPort
from edge.errors import WorkerError

log = logging.getLogger("edge.workers")

WORKER_ENV = "EDGE_WORKER"  # "i/N", set by the supervisor for each worker
WORKER_DIR_ENV = "EDGE_WORKER_DIR"  # the supervisor's private (0700) directory of sockets
FANOUT_HEADER = "X-Edge-Worker-Fanout"  # on requests from the leader: apply here only
VERSION_HEADER = "X-Edge-Worker-Version"  # with FANOUT_HEADER on /versions: adopt this version
MAX_RESTARTS = 10  # per worker, per minute: beyond that the supervisor gives up
CONFIG_FILE = "config.json"  # in the private directory: the config every worker runs


@dataclass(frozen=True, slots=True)
class WorkerRole:
    index: int
    count: int
    sockets: tuple[str, ...]  # sockets[i]: worker i's private admin socket
    # fill_sockets[i]: where worker i answers fills of the keys it owns (worker_relay)
    fill_sockets: tuple[str, ...] = ()

    @property
    def leader(self) -> bool:
        return self.index == 0

    @property
    def socket(self) -> str:
        return self.sockets[self.index]

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(s for i, s in enumerate(self.sockets) if i != self.index)


def socket_paths(directory: str, count: int, kind: str = "w") -> tuple[str, ...]:
    """Worker i's private admin (``w``) or fill (``f``) socket.

    Short names: a Unix socket path must fit in 108 bytes.
    """
    return tuple(os.path.join(directory, f"{kind}{i}.sock") for i in range(count))


def role_from_env(cfg: Config, env: Mapping[str, str] | None = None) -> WorkerRole | None:
    env = os.environ if env is None else env
    value = env.get(WORKER_ENV)
    if not value:
        return None
    index, _, count = value.partition("/")
    directory, n = env[WORKER_DIR_ENV], int(count)
    role = WorkerRole(int(index), n, socket_paths(directory, n), socket_paths(directory, n, "f"))
    if role.count != cfg.workers or not 0 <= role.index < role.count:
        raise ValueError(f"{WORKER_ENV}={value} does not fit workers: {cfg.workers}")
    return role


class WorkerLink:
    """How one worker reaches the others' private admin sockets."""

    def __init__(self, role: WorkerRole, token: str) -> None:
        self.role = role
        self._auth = {"Authorization": f"Bearer {token}"}
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, path: str) -> aiohttp.ClientSession:
        session = self._sessions.get(path)
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=path),
                timeout=aiohttp.ClientTimeout(total=30),
            )
            self._sessions[path] = session
        return session

    async def call(
        self,
        socket: str,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One admin call on a worker; :class:`WorkerError` when it fails or is refused."""
        url = f"http://worker{path}"
        try:
            async with self._session(socket).request(
                method, url, json=body, headers={**self._auth, **(headers or {})}
            ) as resp:
                answer: dict[str, Any] = await resp.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            # ValueError: a body that is not JSON (aiohttp raises json's own error)
            what = f"worker at {socket} did not answer {method} {path}"
            raise WorkerError(f"{what}: {exc!r}") from exc
        if resp.status >= 400:  # its own answer, passed on (a 400 for a bad purge, a 503...)
            message = answer.get("error", answer) if isinstance(answer, dict) else answer
            what = f"worker at {socket} refused {method} {path}"
            raise WorkerError(f"{what}: {message}", resp.status)
        return answer

    async def to_leader(self, path: str, body: Any) -> dict[str, Any]:
        return await self.call(self.role.sockets[0], "POST", path, body)

    async def fan_out(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> bool:
        """Send to every other worker (marked as a fan-out); True when all applied it."""
        ok = True
        for socket in self.role.peers:
            try:
                await self.call(socket, "POST", path, body, {FANOUT_HEADER: "1", **(headers or {})})
            except WorkerError as exc:
                log.error("worker at %s did not apply %s: %s", socket, path, exc.message)
                ok = False
        return ok

    async def peer_stats(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for socket in self.role.peers:
            try:
                out.append(await self.call(socket, "GET", "/stats", headers={FANOUT_HEADER: "1"}))
            except WorkerError as exc:
                log.warning("no stats from worker at %s: %s", socket, exc.message)
        return out

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


# -- the supervisor ------------------------------------------------------------------
def config_as_json(cfg: Config) -> str:
    """The resolved config, as a file ``edge serve --config`` reads back (JSON is YAML)."""

    def plain(value: Any) -> Any:
        if isinstance(value, HostPort):
            return str(value)
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    data = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    return json.dumps(plain(_to_dict(data)))


def _to_dict(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, HostPort):
            return value
        return {f.name: _to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _to_dict(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_to_dict(v) for v in value)
    return value


def supervise(cfg: Config, token: str, source: Any = None) -> int:
    """Run ``cfg.workers`` worker processes until SIGTERM/SIGINT; restart any that die.

    SIGHUP goes to the leader, which reloads every worker (edge.runtime.reload);
    ``source`` (a ``ConfigSource``) is how it reads the config again.
    """
    private = tempfile.mkdtemp(prefix="edge-workers-")  # 0700: sockets and config, ours alone
    cfg_path = os.path.join(private, CONFIG_FILE)
    with open(cfg_path, "w", encoding="utf-8") as f:
        f.write(config_as_json(cfg))
    env = {**os.environ, "EDGE_ADMIN_TOKEN": token, WORKER_DIR_ENV: private}
    if source is not None:
        env["EDGE_CONFIG_SOURCE"] = source.to_env()
    stopping = False
    procs: list[subprocess.Popen[bytes] | None] = [None] * cfg.workers

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)

    def start(i: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "edge", "serve", "--config", cfg_path]
        return subprocess.Popen(
            cmd, env={**env, WORKER_ENV: f"{i}/{cfg.workers}"}, preexec_fn=_die_with_parent
        )

    def reload(signum: int, _frame: object) -> None:
        leader = procs[0]
        if leader is not None and leader.poll() is None:
            leader.send_signal(signal.SIGHUP)

    # handlers first: a signal while the workers start must reach the ones already started
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    restarts: list[list[float]] = [[] for _ in procs]
    status = 0
    try:
        for i in range(cfg.workers):
            if not stopping:
                procs[i] = start(i)
        log.info("supervising %d workers (pids %s)", cfg.workers, [p and p.pid for p in procs])
        while not stopping:
            time.sleep(0.2)
            for i, p in enumerate(procs):
                if stopping or p is None or p.poll() is None:
                    continue
                now = time.monotonic()
                restarts[i] = [t for t in restarts[i] if now - t < 60]
                if len(restarts[i]) >= MAX_RESTARTS:
                    log.error("worker %d keeps dying (exit %s): stopping the node", i, p.returncode)
                    stop(signal.SIGTERM, None)
                    status = 1
                    break
                if restarts[i] and now - restarts[i][-1] < 1.0:
                    continue  # at most one restart a second: a crash loop must not spin
                restarts[i].append(now)
                log.error("worker %d exited with %s: restarting it", i, p.returncode)
                if not stopping:
                    procs[i] = start(i)
        grace = cfg.proxy.shutdown_grace + 5
        for p in procs:
            if p is None:
                continue
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return status


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: a worker gets SIGTERM if the supervisor dies, so none is left orphaned."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
