"""The origin: nginx serving static files from a scratch docroot (or the project's origin stub).

The docroot holds the benchmark objects; nginx answers them with ``Cache-Control:
max-age=3600`` and its ETag, ``/nostore/`` with ``no-store``, and forwards ``/script`` (the
stub's scripted route, used for the slow herd object) to the origin stub, which always runs.
Origin requests are counted from nginx's access log (one ``$request_uri`` per line) or from the
stub's ``/__origin/stats``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import Proc, free_port, spawn, wait_http

ORIGIN_CPU = "1"
KiB = 1024
MiB = 1024 * KiB
OBJECTS = {  # name -> (file under the docroot, size)
    "1k": ("static/1k.bin", KiB),
    "100k": ("static/100k.bin", 100 * KiB),
    "1m": ("static/1m.bin", MiB),
    "nostore": ("nostore/nostore.bin", KiB),
    "1g": ("big/1g.bin", 1024 * MiB),
}
STUB_PATHS = {
    "1k": "/big/1KiB",
    "100k": "/big/100KiB",
    "1m": "/big/1MiB",
    "nostore": "/script?cc=no-store&size=1024",
    "1g": "/big/1GiB",
}
SLOW = "/script?delay={delay}&cc=max-age%3D600&size=1024&herd={tag}"

NGINX_ORIGIN = """worker_processes 1; daemon off; pid {d}/nginx.pid;
error_log {d}/error.log warn; worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
  log_format uri '$request_uri';
  access_log {d}/access.log uri;
  sendfile on; tcp_nopush off; keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path {d}/t1; proxy_temp_path {d}/t2; fastcgi_temp_path {d}/t3;
  uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;
  default_type application/octet-stream;
  upstream stub {{ server 127.0.0.1:{stub}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {root}; etag on;
    location / {{ add_header Cache-Control "max-age=3600"; }}
    location /nostore/ {{ add_header Cache-Control "no-store"; }}
    location /script {{ proxy_pass http://stub; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_buffering off; }}
  }}
}}
"""


def make_docroot(root: Path) -> Path:
    for rel, size in OBJECTS.values():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if size > 64 * MiB:
            with path.open("wb") as f:  # sparse: costs no disk, reads as zeros
                f.truncate(size)
        else:
            path.write_bytes(bytes(i % 251 for i in range(size)))
    root.chmod(0o755)
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return root


@dataclass
class Origin:
    kind: str  # "nginx" or "origin-stub"
    port: int
    stub_port: int
    procs: list[Proc]
    paths: Mapping[str, str]
    log: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, path: str) -> int:
        """Requests the origin has seen for exactly ``path`` (a request target)."""
        if path.startswith("/script") or self.log is None:
            url = f"http://127.0.0.1:{self.stub_port}/__origin/stats"
            with urllib.request.urlopen(url, timeout=10) as r:
                counts: dict[str, int] = json.load(r)["counts"]
            return int(counts.get(path, 0))
        time.sleep(0.05)
        with self.log.open("rb") as f:
            target = path.encode()
            return sum(1 for line in f if line.rstrip(b"\n") == target)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


def start_origin(scratch: Path) -> Origin:
    docroot = make_docroot(scratch / "docroot")
    stub_port = free_port()
    stub = spawn(
        "origin-stub",
        [str(Path(sys.executable).parent / "origin-stub"), "--listen", f"127.0.0.1:{stub_port}"],
        scratch,
        ORIGIN_CPU,
    )
    procs = [stub]
    wait_http(f"http://127.0.0.1:{stub_port}/", 30)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        paths = dict(STUB_PATHS)
        origin = Origin("origin-stub", stub_port, stub_port, procs, paths)
        origin.notes.append("nginx is missing: the origin is the origin stub")
        return origin
    d = scratch / "origin"
    d.mkdir()
    port = free_port()
    (d / "nginx.conf").write_text(NGINX_ORIGIN.format(d=d, port=port, stub=stub_port, root=docroot))
    procs.append(
        spawn(
            "origin-nginx", [nginx, "-c", str(d / "nginx.conf"), "-p", str(d)], scratch, ORIGIN_CPU
        )
    )
    wait_http(f"http://127.0.0.1:{port}/static/1k.bin", 30)
    paths = {name: "/" + rel for name, (rel, _) in OBJECTS.items()}
    return Origin("nginx", port, stub_port, procs, paths, log=d / "access.log")
