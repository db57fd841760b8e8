"""``python -m bench [NAME]``: the side-by-side suite (``make bench``), or one older bench.

``python -m bench`` runs bench/suite.py (``BENCH_QUICK=1`` for a smoke run). The others:
``python -m bench offload`` (origin offload with and without a shield), ``trace_sim`` (cache
policies on Zipf traces), ``eviction`` (the eviction study: every policy against Belady,
bench/eviction_study.py), ``refresh_ahead`` (refresh-ahead against stale-while-revalidate on a
simulated clock), ``purge`` (purge by prefix among many entries) and ``compression``
(bytes and CPU per MiB per codec and level, bench/compression.py); arguments after the name
go to that bench.
"""

from __future__ import annotations

import runpy
import sys

OTHERS = {
    "offload": "bench.offload",
    "trace_sim": "bench.trace_sim",
    "trace-sim": "bench.trace_sim",
    "eviction": "bench.eviction_study",
    "purge": "bench.purge_bench",
    "purge_bench": "bench.purge_bench",
    "compression": "bench.compression",
    "refresh_ahead": "bench.refresh_ahead",
    "refresh-ahead": "bench.refresh_ahead",
    "routes_hit": "bench.routes_hit",
    "routes-hit": "bench.routes_hit",
    "hotloop": "bench.hotloop",
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in OTHERS:
        sys.argv = [OTHERS[argv[0]], *argv[1:]]
        runpy.run_module(OTHERS[argv[0]], run_name="__main__", alter_sys=True)
        return 0
    if argv and argv[0] not in ("suite", "side-by-side"):
        print(__doc__)
        return 2
    from bench.suite import main as suite

    return suite()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
