"""The processes under test and the origin behind them, each started from a scratch config.

Targets run pinned to CPU 0 (``TARGET_CPU``) unless a case asks for them unpinned; the origin
and the load generator share CPU 1. Each starter returns a ``Target`` that knows its port,
the PID to watch, how to prove a response came from its cache, and its URL for each object.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.origin import Origin
from bench.procs import REPO, Proc, free_port, spawn, wait_http
from bench.tls import TlsFiles
from edge.config import MODERN_CIPHERS

TARGET_CPU = "0"
LOAD_CPU = "1"
TOKEN = "bench-admin-token-0123456789"

HitCheck = Callable[[Mapping[str, str]], bool]


def _edge_hit(h: Mapping[str, str]) -> bool:
    """edge's own Cache-Status member (the last one) has the ``hit`` parameter."""
    own = h.get("cache-status", "").split(",")[-1]
    return "hit" in [p.strip() for p in own.split(";")[1:]]


def _nginx_hit(h: Mapping[str, str]) -> bool:
    return h.get("x-cache-status", "") == "HIT"


def _varnish_hit(h: Mapping[str, str]) -> bool:
    return len(h.get("x-varnish", "").split()) == 2


def _no_cache(h: Mapping[str, str]) -> bool:
    return True


@dataclass
class Target:
    name: str
    kind: str  # edge | nginx | varnish | bare-aiohttp | bare-protocol | passproxy
    port: int
    proc: Proc
    is_hit: HitCheck
    paths: Mapping[str, str]  # object name -> request target on this server
    notes: list[str] = field(default_factory=list)
    tls: TlsFiles | None = None  # HTTPS on its port (HTTP/1.1 and, by ALPN, HTTP/2)

    @property
    def context(self) -> ssl.SSLContext | None:
        return self.tls.context() if self.tls is not None else None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def target(self, obj: str) -> str:
        """The request target for ``obj``, tagged with this target's name (own origin count)."""
        path = self.paths[obj]
        slug = "".join(c if c.isalnum() else "-" for c in self.name)
        return f"{path}{'&' if '?' in path else '?'}via={slug}"

    def url(self, obj: str) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.target(obj)}"

    def stop(self) -> None:
        self.proc.stop()


def _started(target: Target, probe: str = "/", seconds: float = 40.0) -> Target:
    scheme = "https" if target.tls is not None else "http"
    try:
        wait_http(
            f"{scheme}://127.0.0.1:{target.port}{probe}",
            seconds,
            target.proc.alive,
            context=target.context,
        )
    except TimeoutError as exc:
        target.stop()
        raise RuntimeError(f"{target.name} did not start:\n{target.proc.tail()}") from exc
    return target


@dataclass(frozen=True)
class EdgeSource:
    """Which edge code runs: the working tree (the venv's editable install) or a snapshot."""

    label: str
    pythonpath: str | None = None  # a ``git archive`` of a revision, ahead of the venv

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "edge", *args]

    def env(self) -> dict[str, str] | None:
        if self.pythonpath is None:
            return None
        return dict(os.environ, PYTHONPATH=self.pythonpath)


def snapshot(rev: str, scratch: Path) -> EdgeSource:
    """``git archive REV edge`` under the scratch dir, run instead of the working tree."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = scratch / f"edge-src-{commit}"
    dest.mkdir(exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", rev, "edge"], cwd=REPO, capture_output=True, check=True, timeout=60
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=60)
    return EdgeSource(f"a snapshot of commit {commit}", str(dest))


def recent_revs(count: int) -> list[str]:
    out = subprocess.run(
        ["git", "rev-list", f"--max-count={count}", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def front_supported(src: EdgeSource, front: str, scratch: Path) -> bool:
    """Whether this edge accepts ``proxy.front: FRONT`` (asked of ``edge check-config``)."""
    probe = scratch / f"front-{front}.yaml"
    probe.write_text(f"proxy:\n  front: {front}\n")
    rc = subprocess.run(
        src.cmd("check-config", str(probe)),
        cwd=scratch,
        env=src.env(),
        capture_output=True,
        timeout=60,
        check=False,
    ).returncode
    return rc == 0


def start_edge(
    src: EdgeSource,
    name: str,
    origin: Origin,
    scratch: Path,
    *,
    front: str | None = None,
    workers: int = 1,
    max_object_bytes: str = "8MiB",
    cpu: str | None = TARGET_CPU,
    tls: TlsFiles | None = None,
) -> Target:
    port, admin = free_port(), free_port()
    d = scratch / name.replace(" ", "_")
    d.mkdir(parents=True, exist_ok=True)
    front_line = f"  front: {front}\n" if front else ""
    if tls is not None:  # HTTP/2 by ALPN is on by default
        front_line += f"  tls:\n    cert: {tls.cert}\n    key: {tls.key}\n"
    cfg = d / "edge.yaml"
    cfg.write_text(
        f"name: bench\nworkers: {workers}\n"
        f"origin:\n  url: {origin.base}\n  max_connections: 1024\n"
        f"proxy:\n  listen: 127.0.0.1:{port}\n{front_line}"
        f"admin:\n  listen: 127.0.0.1:{admin}\n  token: {TOKEN}\n"
        f"cache:\n  dir: {d / 'cache'}\n  memory:\n    max_bytes: 512MiB\n"
        f"    max_object_bytes: {max_object_bytes}\n  disk:\n    max_bytes: 4GiB\n"
        "logging:\n  level: warning\n  access_log: false\n"
    )
    cmd = src.cmd("serve", "--config", str(cfg))
    proc = spawn(name, cmd, scratch, cpu, env=src.env(), cwd=scratch)
    target = Target(name, "edge", port, proc, _edge_hit, origin.paths, tls=tls)
    return _started(target, seconds=30)


NGINX_CACHE = """worker_processes {workers}; daemon off; pid {d}/nginx.pid;
error_log {d}/error.log warn; worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
  access_log off; sendfile on; tcp_nopush off; tcp_nodelay on;
  keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path {d}/t1; proxy_temp_path {d}/t2; fastcgi_temp_path {d}/t3;
  uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;
  proxy_cache_path {d}/cache levels=1:2 keys_zone=c:32m max_size=3g inactive=2h
                   use_temp_path=off;
  upstream origin {{ server 127.0.0.1:{origin_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096 {reuseport} {listen_tls};
    {tls}
    location / {{
      proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache c; proxy_cache_valid 200 1h; proxy_cache_lock on;
      proxy_cache_lock_timeout 60s; proxy_cache_lock_age 60s;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
}}
"""


#: the same TLS as edge's defaults: 1.2 at least, ECDHE with AEAD (edge.config.MODERN_CIPHERS)
NGINX_TLS = (
    "ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3;\n"
    "    ssl_ciphers {ciphers}; ssl_prefer_server_ciphers on;"
)


def start_nginx(
    name: str,
    origin: Origin,
    scratch: Path,
    *,
    workers: int = 1,
    cpu: str | None = TARGET_CPU,
    tls: TlsFiles | None = None,
) -> Target | None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        return None
    port = free_port()
    d = scratch / name.replace(" ", "_")
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    reuse = "reuseport" if workers > 1 else ""
    tls_lines = ""
    if tls is not None:
        tls_lines = NGINX_TLS.format(cert=tls.cert, key=tls.key, ciphers=MODERN_CIPHERS)
    conf.write_text(
        NGINX_CACHE.format(
            workers=workers,
            d=d,
            port=port,
            origin_port=origin.port,
            reuseport=reuse,
            listen_tls="ssl http2" if tls is not None else "",
            tls=tls_lines,
        )
    )
    proc = spawn(name, [nginx, "-c", str(conf), "-p", str(d)], scratch, cpu)
    return _started(Target(name, "nginx", port, proc, _nginx_hit, origin.paths, tls=tls))


def start_varnish(
    name: str, origin: Origin, scratch: Path, *, pools: int = 1, cpu: str | None = TARGET_CPU
) -> Target | None:
    varnishd = shutil.which("varnishd") or "/usr/sbin/varnishd"
    if not Path(varnishd).exists():
        return None
    port = free_port()
    d = scratch / name.replace(" ", "_")
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    cmd = [varnishd, "-F", "-j", "none", "-n", str(d / "work"), "-a", f"127.0.0.1:{port}"]
    cmd += ["-b", f"127.0.0.1:{origin.port}", "-s", "malloc,256m"]
    for param in (
        f"thread_pools={pools}",
        "thread_pool_min=64",
        "thread_pool_max=600",
        "thread_queue_limit=4000",
        "listen_depth=4096",
    ):
        cmd += ["-p", param]
    proc = spawn(name, cmd, scratch, cpu)
    return _started(Target(name, "varnish", port, proc, _varnish_hit, origin.paths))


def start_bare(name: str, kind: str, scratch: Path, docroot: Path) -> Target:
    """``kind``: ``bare-aiohttp`` (bench/bare.py) or ``bare-protocol`` (bench/bare_protocol.py)."""
    port = free_port()
    module = "bench.bare" if kind == "bare-aiohttp" else "bench.bare_protocol"
    cmd = [sys.executable, "-m", module, "--port", str(port), "--docroot", str(docroot)]
    proc = spawn(name, cmd, scratch, TARGET_CPU)
    paths = {p.stem.split(".")[0]: "/" + str(p.relative_to(docroot)) for p in _docs(docroot)}
    return _started(Target(name, kind, port, proc, _no_cache, paths))


def start_passproxy(name: str, origin: Origin, scratch: Path) -> Target:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.passproxy", "--port", str(port), "--origin", origin.base]
    proc = spawn(name, cmd, scratch, TARGET_CPU)
    return _started(Target(name, "passproxy", port, proc, _no_cache, origin.paths))


def _docs(docroot: Path) -> list[Path]:
    return [p for p in docroot.rglob("*.bin") if p.stat().st_size <= 64 << 20]
