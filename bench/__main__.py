"""``make bench``: edge's hit and miss paths side by side with bare aiohttp and installed peers.

Every server is a real process on 127.0.0.1; the load comes from `wrk` when it
is installed, else from bench/loadgen.py. Figures are ratios measured in one
run: absolute numbers on a shared 2-core machine are noisy. Then the cache
policy trace simulator and the purge benchmark.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import run_load

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def spawn(name: str, cmd: list[str], port: int, probe: str = "/") -> Server:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}{probe}")
    return Server(name, port, proc)


def start_edge(origin_port: int, tmp: Path) -> Server:
    port, admin = free_port(), free_port()
    cfg = tmp / "edge.yaml"
    cfg.write_text(
        f"proxy:\n  listen: 127.0.0.1:{port}\nadmin:\n  listen: 127.0.0.1:{admin}\n"
        f"  token: bench-token-0123456789\norigin:\n  url: http://127.0.0.1:{origin_port}\n"
        f"cache:\n  dir: {tmp / 'edge-cache'}\nlogging:\n  level: warning\n  access_log: false\n"
    )
    return spawn("edge", [sys.executable, "-m", "edge", "serve", "--config", str(cfg)], port, "/")


def start_nginx(origin_port: int, tmp: Path) -> Server | None:
    nginx = shutil.which("nginx")
    if nginx is None:
        return None
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;
events {{ worker_connections 1024; }}
http {{
  access_log off; sendfile on; tcp_nopush off; keepalive_requests 100000;
  client_body_temp_path {tmp}/nb; proxy_temp_path {tmp}/np; fastcgi_temp_path {tmp}/nf;
  uwsgi_temp_path {tmp}/nu; scgi_temp_path {tmp}/ns;
  proxy_cache_path {tmp}/nginx-cache keys_zone=c:10m max_size=1g;
  upstream o {{ server 127.0.0.1:{origin_port}; keepalive 32; }}
  server {{ listen 127.0.0.1:{port};
    location / {{ proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache c; proxy_cache_lock on; }} }}
}}
"""
    )
    return spawn("nginx", [nginx, "-c", str(conf), "-p", str(tmp)], port)


def start_varnish(origin_port: int, tmp: Path) -> Server | None:
    varnishd = shutil.which("varnishd") or (
        "/usr/sbin/varnishd" if Path("/usr/sbin/varnishd").exists() else None
    )
    if varnishd is None:
        return None
    port = free_port()
    cmd = [
        varnishd,
        "-F",
        "-j",
        "none",
        "-a",
        f"127.0.0.1:{port}",
        "-b",
        f"127.0.0.1:{origin_port}",
    ]
    cmd += ["-s", "malloc,256m", "-n", str(tmp / "varnish"), "-p", "thread_pools=1"]
    try:
        return spawn("varnish", cmd, port)
    except TimeoutError:
        return None


def measure(port: int, path: str) -> tuple[float, float, float]:
    wrk = shutil.which("wrk")
    if wrk is not None:
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{CONNS}",
                f"-d{SECONDS:g}s",
                "--latency",
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = _wrk_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
        p99 = _wrk_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
        return rps, p50, p99
    res = asyncio.run(run_load("127.0.0.1", port, path, connections=CONNS, seconds=SECONDS))
    return res.rps, res.p50_ms, res.p99_ms


def _wrk_ms(v: str) -> float:
    num = float(re.match(r"[\d.]+", v).group(0))  # type: ignore[union-attr]
    return (
        num / 1000
        if v.endswith("us")
        else num * 1000
        if v.endswith("s") and not v.endswith("ms")
        else num
    )


def http_get(port: int, path: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        r.read()


def main() -> int:
    tool = "wrk" if shutil.which("wrk") else "bench/loadgen.py (install wrk for better figures)"
    print(f"# edge benchmark: {SECONDS:g}s per run, {CONNS} connections, load from {tool}\n")
    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    tmp.chmod(0o755)  # peers' worker processes (nginx, varnish) run as an unprivileged user
    servers: list[Server] = []
    try:
        oport = free_port()
        origin = spawn(
            "origin", [sys.executable, "-m", "origin_stub", "--listen", f"127.0.0.1:{oport}"], oport
        )
        servers.append(origin)
        bport = free_port()
        servers.append(
            spawn("bare-aiohttp", [sys.executable, "-m", "bench.bare", "--port", str(bport)], bport)
        )
        caches = [start_edge(oport, tmp)]
        servers += caches  # registered at once: stopped even if a peer fails to start
        for starter in (start_nginx, start_varnish):
            s = starter(oport, tmp)
            if s is not None:
                caches.append(s)
                servers.append(s)
        missing = [n for n in ("nginx", "varnish") if n not in {c.name for c in caches}]
        scenarios = [
            ("hit 1 KiB", "/script?cc=max-age%3D86400&size=1024"),
            ("hit 100 KiB", "/script?cc=max-age%3D86400&size=102400"),
            ("pass 1 KiB (no-store)", "/script?cc=no-store&size=1024"),
        ]
        base_rps, _, _ = measure(bport, "/")
        print(f"bare aiohttp, fixed 1 KiB body: {base_rps:,.0f} req/s (the reference: 1.00)\n")
        print("| scenario | server | req/s | p50 ms | p99 ms | vs bare aiohttp |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for label, path in scenarios:
            for c in caches:
                http_get(c.port, path)
                http_get(c.port, path)
                rps, p50, p99 = measure(c.port, path)
                ratio = rps / base_rps
                print(f"| {label} | {c.name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {ratio:.2f} |")
                sys.stdout.flush()
        if missing:
            print(f"\n(not installed here, so not measured: {', '.join(missing)})")
    finally:
        for s in reversed(servers):
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n# cache policy trace simulator\n")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-m", "bench.trace_sim"], check=False)
    for title, module in (
        ("purge benchmark", "bench.purge_bench"),
        ("origin offload", "bench.offload"),
    ):
        print(f"\n# {title}\n")
        sys.stdout.flush()
        subprocess.run([sys.executable, "-m", module], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
