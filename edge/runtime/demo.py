"""``make demo``: the origin stub on :8081 and an edge on :8080 (admin :8090), until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ORIGIN = "127.0.0.1:8081"
EDGE = "127.0.0.1:8080"
ADMIN = "127.0.0.1:8090"
CACHE_DIR = "./var/demo-cache"


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


def main() -> int:
    py = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    try:
        origin = subprocess.Popen([py, "-m", "origin_stub", "--listen", ORIGIN])
        procs.append(origin)
        if not _wait_for(f"http://{ORIGIN}/__origin/stats", origin):
            print("demo: the origin stub did not start (is port 8081 free?)", file=sys.stderr)
            return 1
        edge_cmd = [py, "-m", "edge", "serve", "--listen", EDGE, "--origin", f"http://{ORIGIN}"]
        edge_cmd += ["--admin-listen", ADMIN, "--cache-dir", CACHE_DIR]
        edge = subprocess.Popen(edge_cmd)
        procs.append(edge)
        if not _wait_for(f"http://{ADMIN}/healthz", edge):
            print("demo: the edge did not start (are ports 8080/8090 free?)", file=sys.stderr)
            return 1
        print(
            BANNER.format(edge=EDGE, origin=ORIGIN, admin=ADMIN, token=f"{CACHE_DIR}/admin-token")
        )
        sys.stdout.flush()
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        print("demo: stopped", file=sys.stderr)


BANNER = """
edge demo is running.
  edge (proxy)   http://{edge}/        -> origin stub http://{origin}/
  edge admin     http://{admin}/healthz  (token in {token})
  dashboard      http://{admin}/  (in a browser; it asks for that token)

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
  # purge everything under /static/ through the admin API
  curl -s -H "Authorization: Bearer $(cat {token})" -d '{{"prefixes": ["/static/"]}}' \\
       http://{admin}/purge

Ctrl-C stops both.
"""

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
