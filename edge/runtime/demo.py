"""``make demo``: the origin stub on :8081 and an edge on :8080 (admin :8090), until Ctrl-C.

The two servers run in sessions of their own, so a Ctrl-C in the terminal
reaches only this launcher, which then stops them in order (SIGTERM, by PID)
and exits 0: ``make`` ends without an error. The banner prints the line that
exports the admin token, so the README's admin examples work as written in
another terminal. ``EDGE_DEMO_ORIGIN``, ``EDGE_DEMO_EDGE``, ``EDGE_DEMO_ADMIN``
(host:port) and ``EDGE_DEMO_CACHE`` move it elsewhere (the README test does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ORIGIN = os.environ.get("EDGE_DEMO_ORIGIN", "127.0.0.1:8081")
EDGE = os.environ.get("EDGE_DEMO_EDGE", "127.0.0.1:8080")
ADMIN = os.environ.get("EDGE_DEMO_ADMIN", "127.0.0.1:8090")
CACHE_DIR = os.environ.get("EDGE_DEMO_CACHE", "./var/demo-cache")
MAX_RUN = 7 * 86400.0  # the demo's loop is bounded too: a week


class _Stop(Exception):
    """SIGINT or SIGTERM reached the launcher."""


def _stop(signum: int, _frame: object) -> None:
    raise _Stop


def _wait_for(url: str, proc: subprocess.Popen[bytes], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _token(path: Path, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            text = path.read_text(encoding="ascii").strip()
        except OSError:
            text = ""
        if text:
            return text
        time.sleep(0.1)
    return ""


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True)


def main() -> int:
    py = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        origin = _start([py, "-m", "origin_stub", "--listen", ORIGIN])
        procs.append(origin)
        if not _wait_for(f"http://{ORIGIN}/__origin/stats", origin):
            print(f"demo: the origin stub did not start (is {ORIGIN} free?)", file=sys.stderr)
            return 1
        edge_cmd = [py, "-m", "edge", "serve", "--listen", EDGE, "--origin", f"http://{ORIGIN}"]
        edge_cmd += ["--admin-listen", ADMIN, "--cache-dir", CACHE_DIR]
        env_token = os.environ.get("EDGE_ADMIN_TOKEN")
        edge = _start(edge_cmd)
        procs.append(edge)
        if not _wait_for(f"http://{ADMIN}/healthz", edge):
            print(f"demo: the edge did not start (are {EDGE}, {ADMIN} free?)", file=sys.stderr)
            return 1
        token_file = Path(CACHE_DIR, "admin-token")
        token = env_token or _token(token_file)
        bin_dir = Path(py).parent
        print(
            BANNER.format(
                edge=EDGE,
                origin=ORIGIN,
                admin=ADMIN,
                token=token,
                token_file=token_file,
                bin=bin_dir,
            )
        )
        sys.stdout.flush()
        deadline = time.monotonic() + MAX_RUN
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.5)
        if time.monotonic() >= deadline:
            return 0
        print("demo: a server exited; stopping", file=sys.stderr)
        return 1
    except _Stop:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the stop
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        print("demo: stopped", file=sys.stderr)


BANNER = """
edge demo is running.
  edge (proxy)   http://{edge}/        -> origin stub http://{origin}/
  edge admin     http://{admin}/healthz  (token in {token_file})
  dashboard      http://{admin}/  (in a browser; it asks for that token)

In another terminal, for the README's examples (edge on PATH, and the admin token):
  export PATH="{bin}:$PATH"
  export EDGE_ADMIN_TOKEN={token}

Try:
  # twice: a miss, then a hit
  curl -si http://{edge}/static/app.js | grep -iE 'cache-status|age|via'
  # max-age=2, stale-while-revalidate=30: ask again after 3 s
  curl -si http://{edge}/api/items | grep -i cache-status
  # one stored variant per language
  curl -si -H 'Accept-Language: fr' http://{edge}/vary/lang
  # a 206 from the cached object
  curl -si -H 'Range: bytes=0-99' http://{edge}/big/1MiB | head -5
  # never stored
  curl -si http://{edge}/private | grep -i cache-status
  # purge everything under /static/
  edge purge --admin http://{admin} --prefix /static/

Ctrl-C stops both.
"""

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
