"""py-spy profiles of an edge process under wrk load: a flame graph and a collapsed-stack file.

The collapsed stacks (``py-spy record --format raw``: ``frame;frame;... count`` per line) are
summarised into where the samples fall: by the innermost frame (self time) and by the layer
that frame belongs to (edge, aiohttp, multidict/yarl, the event loop and sockets, other).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load import wrk
from bench.targets import LOAD_CPU, Target

PY_SPY = Path(sys.executable).parent / "py-spy"
# a pool thread waiting for work (py-spy cannot always tell that it is idle)
IDLE = frozenset({"_worker (concurrent/futures/thread.py)"})
_LINE = re.compile(r":\d+\)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def layer(file: str) -> str:
    f = "/" + file.replace("\\", "/")
    if "/edge/" in f:
        return "edge"
    for name in ("aiohttp", "multidict", "yarl", "uvloop", "asyncio", "diskcache", "msgspec"):
        if f"/{name}/" in f:
            return "event loop" if name in ("uvloop", "asyncio") else name
    if "/concurrent/futures/" in f or f.endswith("threading.py"):
        return "thread pool"
    return "other"


def summarise_raw(text: str, top: int = 12) -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    by_layer: Counter[str] = Counter()
    edge_incl: Counter[str] = Counter()
    total = idle = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_LINE.sub(")", fr) for fr in stack.split(";")]
        if frames[-1] in IDLE:
            idle += n
            continue
        total += n
        leaf = frames[-1]
        m = _FRAME.match(leaf)
        self_time[leaf] += n
        by_layer[layer(m.group("file")) if m else "other"] += n
        seen = set()
        for fr in frames:
            fm = _FRAME.match(fr)
            if fm and layer(fm.group("file")) == "edge" and fr not in seen:
                seen.add(fr)
                edge_incl[fr] += n
    pct = 100.0 / total if total else 0.0
    entry = max(edge_incl.values(), default=0) * 0.9  # the start-up chain every stack shares
    work = [(f, n) for f, n in edge_incl.most_common() if n < entry][:top]
    return {
        "samples": total,
        "idle_samples_dropped": idle,
        "self": [(f, round(n * pct, 1)) for f, n in self_time.most_common(top)],
        "layers": {k: round(v * pct, 1) for k, v in by_layer.most_common()},
        "edge_inclusive": [(f, round(n * pct, 1)) for f, n in edge_incl.most_common(top)],
        "edge_work": [(f, round(n * pct, 1)) for f, n in work],
    }


def record(target: Target, url: str, out_dir: Path, stem: str, seconds: int) -> dict[str, Any]:
    """Flame graph ``STEM.svg`` then collapsed stacks ``STEM.txt``, both under one wrk run."""
    if not PY_SPY.exists():
        return {"error": f"py-spy is not installed at {PY_SPY}"}
    out_dir.mkdir(parents=True, exist_ok=True)
    svg, raw = out_dir / f"{stem}.svg", out_dir / f"{stem}.txt"
    load = threading.Thread(target=wrk, args=(url, 64, 2 * seconds + 6, LOAD_CPU), daemon=True)
    load.start()
    errors = []
    try:
        for path, fmt in ((svg, "flamegraph"), (raw, "raw")):
            cmd = [str(PY_SPY), "record", "--nonblocking", "-r", "200", "-o", str(path)]
            cmd += ["-f", fmt, "--pid", str(target.pid), "-d", str(seconds)]
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=seconds + 60, check=False
            )
            if proc.returncode != 0:
                errors.append(f"py-spy {fmt}: {proc.stderr.strip()[-300:]}")
    finally:
        load.join(2 * seconds + 70)
    if errors or not raw.exists():
        return {"error": "; ".join(errors) or "no output"}
    summary = summarise_raw(raw.read_text(errors="replace"))
    return {"svg": svg.name, "raw": raw.name, "target": target.name, "url": url} | summary
