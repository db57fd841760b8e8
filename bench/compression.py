"""``python -m bench compression``: bytes and CPU per MiB for each codec and level.

Each corpus file is coded the way a fill codes a body (edge/cache/compress.py: 64 KiB
chunks into one streaming compressor, flushed after each), every codec and
level side by side in one run; CPU is process time per MiB of input (best of
``--repeat``), also given as a ratio to gzip level 6 measured in the same run, the
only kind of figure that means anything on a shared machine. The corpus is files of
this repository (Markdown, SVG, JSON, Python source standing in for JavaScript), so
a run is reproducible from its commit.

It also times the variant choice a memory hit makes (edge/cache/hot.py ``_select``)
for an entry without Vary, four variants the edge negotiated (identity, zstd, br,
gzip) and four variants of an origin's own ``Vary: Accept-Encoding``: the edge's
variants should cost what Vary already costs.

Writes bench/results/compression/report.md and results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from multidict import CIMultiDict, CIMultiDictProxy

from edge.cache.compress import Levels, make_codec
from edge.cache.hot import _select
from edge.models import Entry, FrozenHeaders
from edge.policy.vary import variant_key

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "compression"
MiB = 1024 * 1024
CHUNK = 64 * 1024
LEVELS: dict[str, tuple[int, ...]] = {
    "gzip": (1, 6, 9),
    "br": (1, 4, 6, 9, 11),
    "zstd": (1, 3, 9, 19),
}


def corpus() -> dict[str, bytes]:
    code = b"".join(p.read_bytes() for p in sorted((ROOT / "edge" / "cache").glob("*.py")))
    return {
        "markdown (README.md)": (ROOT / "README.md").read_bytes(),
        "svg (bench/results/full/hit.svg)": (ROOT / "bench/results/full/hit.svg").read_bytes(),
        "json (bench/results/full/results.json)": (
            ROOT / "bench/results/full/results.json"
        ).read_bytes(),
        "code (edge/cache/*.py)": code,
    }


def code_once(
    coding: str, level: int, data: bytes, chunk: int = CHUNK, flush: bool = True
) -> tuple[int, float]:
    """(coded bytes, CPU seconds) for one streaming pass over ``data``, flushed after
    each ``chunk`` as a fill does after each origin chunk (unless ``flush`` is off)."""
    levels = Levels(**{"zstd": 3, "br": 4, "gzip": 6, coding: level})
    t0 = time.process_time()
    codec = make_codec(coding, levels)
    size = 0
    for i in range(0, len(data), chunk):
        size += len(codec.feed(data[i : i + chunk], flush))
    size += len(codec.finish())
    return size, time.process_time() - t0


def measure(data: bytes, coding: str, level: int, repeat: int) -> dict[str, float]:
    best = float("inf")
    size = 0
    deadline = time.monotonic() + 20  # bounded in time as well as in count
    for _ in range(repeat):
        size, cpu = code_once(coding, level, data)
        best = min(best, cpu)
        if time.monotonic() > deadline:
            break
    return {"coded": size, "ratio": size / len(data), "cpu_s_per_mib": best * MiB / len(data)}


def _entry(variant: str, vary: tuple[str, ...], codings: tuple[str, ...], t: float) -> Entry:
    return Entry(
        key="k",
        variant=variant,
        url="http://x/a",
        method="GET",
        status=200,
        reason="OK",
        headers=(),
        vary=vary,
        request_time=t,
        response_time=t,
        initial_age=0.0,
        lifetime=600.0,
        codings=codings,
    )


def selection(rounds: int) -> dict[str, float]:
    """ns per variant choice of a memory hit, for three shapes of stored variants."""
    request: list[tuple[str, str]] = [
        ("Host", "example.com"),
        ("User-Agent", "Mozilla/5.0"),
        ("Accept", "*/*"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-US,en;q=0.9"),
    ]

    def headers() -> FrozenHeaders:  # as a front builds them, once per request that varies
        return CIMultiDictProxy(CIMultiDict(request))

    offered = ("zstd", "br", "gzip")
    ae = ("accept-encoding",)
    shapes: dict[str, list[Entry]] = {"no Vary": [_entry("", (), (), 0.0)]}
    negotiated = []
    for i, ask in enumerate(("identity", "zstd", "br", "gzip")):
        fields = CIMultiDict([("Accept-Encoding", ask)])
        negotiated.append(_entry(variant_key(ae, fields, offered), ae, offered, float(i)))
    shapes["edge-negotiated, 4 variants"] = negotiated
    origin = []
    for i, ask in enumerate(("gzip", "gzip, br", "br", "gzip, deflate, br, zstd")):
        fields = CIMultiDict([("Accept-Encoding", ask)])
        origin.append(_entry(variant_key(ae, fields), ae, (), float(i)))
    shapes["origin Vary: Accept-Encoding, 4 variants"] = origin
    out: dict[str, float] = {}
    for name, entries in shapes.items():
        chosen = _select(entries, headers)
        assert chosen is not None, name
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter_ns()
            for _ in range(rounds):
                _select(entries, headers)
            best = min(best, (time.perf_counter_ns() - t0) / rounds)
        out[name] = best
    return out


def _table(rows: list[list[str]], head: list[str]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" ---: " for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def report(results: dict[str, object]) -> str:
    sizes: dict[str, int] = results["corpus"]  # type: ignore[assignment]
    codecs: dict[str, dict[str, dict[str, float]]] = results["codecs"]  # type: ignore[assignment]
    total = sum(sizes.values())
    base = codecs["gzip-6"]["all"]["cpu_s_per_mib"]
    rows = []
    for name, per in codecs.items():
        a = per["all"]
        rows.append(
            [
                name,
                f"{a['ratio'] * 100:.1f} %",
                f"{(1 - a['ratio']) * total / 1024:.0f} KiB",
                f"{a['cpu_s_per_mib'] * 1000:.1f} ms",
                f"{a['cpu_s_per_mib'] / base:.2f}x",
            ]
            + [f"{per[f]['ratio'] * 100:.1f} %" for f in sizes]
        )
    head = ["codec-level", "coded/identity", "saved", "CPU per MiB", "CPU vs gzip-6"]
    head += [f.split(" ")[0] for f in sizes]
    sel: dict[str, float] = results["selection_ns"]  # type: ignore[assignment]
    flushing: dict[str, dict[str, float]] = results["flushing"]  # type: ignore[assignment]
    plain = sel["no Vary"]
    lines = [
        "# Edge compression: bytes and CPU per codec and level",
        "",
        f"Corpus: {total / 1024:.0f} KiB in {len(sizes)} files "
        + ", ".join(f"{k}: {v / 1024:.0f} KiB" for k, v in sizes.items())
        + ". Streaming in 64 KiB chunks, best of the repeats; CPU is process time per "
        "MiB of identity input, and its ratio to gzip-6 in the same run.",
        "",
        *_table(rows, head),
        "",
        "The cost of flushing after each origin chunk (coded/identity of the whole corpus, "
        "default levels):",
        "",
        *_table(
            [[k, *(f"{r * 100:.2f} %" for r in v.values())] for k, v in flushing.items()],
            ["codec-level", *next(iter(flushing.values())).keys()],
        ),
        "",
        "Variant choice of a memory hit (edge/cache/hot.py `_select`), ns per hit and "
        "ratio to an entry without Vary:",
        "",
        *_table(
            [[k, f"{v:.0f}", f"{v / plain:.2f}x"] for k, v in sel.items()],
            ["stored variants", "ns", "vs no Vary"],
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench compression")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    files = corpus()
    everything = b"".join(files.values())
    codecs: dict[str, dict[str, dict[str, float]]] = {}
    for coding, levels in LEVELS.items():
        for level in levels:
            name = f"{coding}-{level}"
            per = {f: measure(d, coding, level, args.repeat) for f, d in files.items()}
            per["all"] = measure(everything, coding, level, args.repeat)
            codecs[name] = per
            print(f"{name}: {per['all']['ratio'] * 100:.1f} %", file=sys.stderr)
    flushing: dict[str, dict[str, float]] = {}
    for coding, level in (("zstd", 3), ("br", 4), ("gzip", 6)):
        sizes = {
            label: code_once(coding, level, everything, chunk, flush)[0]
            for label, chunk, flush in (
                ("no flush", CHUNK, False),
                ("flush / 64 KiB", CHUNK, True),
                ("flush / 16 KiB", 16 * 1024, True),
                ("flush / 4 KiB", 4096, True),
            )
        }
        flushing[f"{coding}-{level}"] = {k: v / len(everything) for k, v in sizes.items()}
    results: dict[str, object] = {
        "corpus": {k: len(v) for k, v in files.items()},
        "flushing": flushing,
        "codecs": codecs,
        "selection_ns": selection(args.rounds),
        "cpus": os.cpu_count(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (args.out / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
