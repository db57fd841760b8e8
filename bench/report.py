"""The results: ``results.json``, a Markdown report and a PNG chart under bench/results/."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

Json = dict[str, Any]


def _peer(name: str) -> str:
    return name.removesuffix(" x2").removesuffix(" disk")


def ratios(cases: list[Json]) -> tuple[list[str], list[list[str]]]:
    """Rows of (case, edge target, edge req/s ÷ each peer's), peers as columns."""
    peers: list[str] = []
    table: list[tuple[str, str, dict[str, float]]] = []
    for case in cases:
        if case["type"] != "throughput":
            continue
        edges = [r for r in case["rows"] if r["kind"] == "edge"]
        for e in edges:
            cells: dict[str, float] = {}
            for r in case["rows"]:
                if r is e or r["rps"] <= 0:
                    continue
                col = _peer(r["name"])
                if r["kind"] == "edge" and col == _peer(e["name"]):
                    continue  # edge memory vs edge disk: same front, shown in the case table
                cells[col] = e["rps"] / r["rps"]
                if col not in peers:
                    peers.append(col)
            table.append((case["title"], e["name"], cells))
    rows = [
        [title, name, *(f"{c[p]:.2f}" if p in c else "–" for p in peers)]
        for title, name, c in table
    ]
    return ["case", "edge", *(f"÷ {p}" for p in peers)], rows


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---" if i < 2 else "---:" for i in range(len(header))]
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _throughput(case: Json) -> list[str]:
    header = ["target", "req/s (median)", "min–max", "p50 ms", "p99 ms", "MiB/s", "errors"]
    header += ["origin reqs while timed", "check before timing"]
    rows = []
    for r in case["rows"]:
        origin = str(r.get("origin_requests", "n/a"))
        rows.append(
            [
                r["name"],
                f"{r['rps']:,.0f}",
                f"{r['rps_min']:,.0f}–{r['rps_max']:,.0f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['mib_per_s']:,.1f}",
                str(r["errors"]),
                f"{origin} of {r['requests']:,}",
                ("ok: " if r["check_ok"] else "FAILED: ") + r["check"].replace("|", "/"),
            ]
        )
    return _md_table(header, rows)


def _herd(case: Json) -> list[str]:
    header = ["target", "origin requests", "ok", "failed", "wall s", "p50 ms", "p99 ms"]
    rows = [
        [
            r["name"],
            str(r["origin_requests"]),
            str(r["ok"]),
            str(r["failed"]),
            f"{r['wall_s']:.2f}",
            f"{r['p50_ms']:.0f}",
            f"{r['p99_ms']:.0f}",
        ]
        for r in case["rows"]
    ]
    return _md_table(header, rows)


def _big(case: Json) -> list[str]:
    header = ["target", "phase", "MiB", "seconds", "MiB/s", "RSS at start MiB"]
    header += ["peak RSS growth MiB", "VmHWM growth MiB"]
    rows = [
        [
            r["name"],
            r["phase"],
            f"{r['bytes'] / 2**20:,.0f}",
            f"{r['seconds']:.2f}",
            f"{r['mib_per_s']:,.0f}",
            f"{r['rss_start_mib']:.0f}",
            f"{r['rss_growth_mib']:.1f}",
            f"{r['hwm_growth_mib']:.1f}",
        ]
        for r in case["rows"]
    ]
    return _md_table(header, rows)


def _profile(name: str, p: Json) -> list[str]:
    if "error" in p:
        return [f"**{name}**: not profiled ({p['error']})", ""]
    layers = ", ".join(f"{k} {v:.0f}%" for k, v in p["layers"].items())
    lines = [
        f"**{name}** ([{p['svg']}]({p['svg']}), collapsed stacks [{p['raw']}]({p['raw']}); "
        f"{p['samples']:,} samples of {p['target']} under wrk, 64 connections). "
        f"Innermost frame by layer: {layers}.",
        "",
        "Top self time:",
        "",
    ]
    lines += [f"- {pct:.1f}% `{frame}`" for frame, pct in p["self"][:8]]
    lines += ["", "edge frames by inclusive time (below the start-up chain):", ""]
    lines += [f"- {pct:.1f}% `{frame}`" for frame, pct in p.get("edge_work", [])[:8]]
    return [*lines, ""]


def markdown(data: Json) -> str:
    meta = data["meta"]
    out = [
        "# edge side by side",
        "",
        f"{meta['when']}, repository at {meta['commit']}, edge from "
        f"{meta.get('edge_source', 'the working tree')}, {meta['mode']} mode: "
        f"{meta['rounds']} round(s) of {meta['seconds']:g} s per target and case "
        "(median, min–max), load from wrk (one thread, `--latency`).",
        f"Targets pinned to CPU {meta['target_cpu']} with taskset, wrk and the origin on CPU "
        f"{meta['load_cpu']} (the `x2` targets unpinned). Origin: {meta['origin']}. "
        "Ratios within this run are what count: the machine is shared and its speed drifts.",
        "",
        *(f"- {v}" for v in meta["versions"]),
        *(f"- note: {n}" for n in meta["notes"]),
        "",
        "## Ratios: edge req/s ÷ peer req/s (above 1: edge is faster)",
        "",
    ]
    header, rows = ratios(data["cases"])
    out += [*_md_table(header, rows), ""]
    for case in data["cases"]:
        out += [f"## {case['title']}", ""]
        kind = case["type"]
        out += _throughput(case) if kind == "throughput" else []
        out += _herd(case) if kind == "herd" else []
        out += _big(case) if kind == "big" else []
        out += [f"- not measured: {k} ({v})" for k, v in case.get("skipped", {}).items()]
        out += [f"- {case['note']}"] if case.get("note") else []
        out.append("")
    if data.get("profiles"):
        out += ["## Where the time goes (py-spy)", "", data.get("profile_text", ""), ""]
        for name, p in data["profiles"].items():
            out += _profile(name, p)
    return "\n".join(out).rstrip() + "\n"


def chart(data: Json, path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart"
    cases = [c for c in data["cases"] if c["type"] == "throughput" and c["rows"]]
    if not cases:
        return "no throughput case"
    cols = 2
    nrows = math.ceil(len(cases) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(13, 2.6 * nrows + 0.6), squeeze=False)
    colours = {"edge": "#d62728", "nginx": "#2ca02c", "varnish": "#1f77b4"}
    for ax, case in zip(axes.flat, cases, strict=False):
        rows = case["rows"]
        med = [r["rps"] for r in rows]
        lo = [r["rps"] - r["rps_min"] for r in rows]
        hi = [r["rps_max"] - r["rps"] for r in rows]
        ax.barh(
            [r["name"] for r in rows],
            med,
            xerr=[lo, hi],
            color=[colours.get(r["kind"], "#7f7f7f") for r in rows],
        )
        ax.invert_yaxis()
        ax.set_title(case["title"], fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("req/s (median, min–max)", fontsize=8)
    for ax in list(axes.flat)[len(cases) :]:
        ax.axis("off")
    fig.suptitle(f"edge side by side ({data['meta']['mode']}, {data['meta']['when']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write(data: Json, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "results.json", out_dir / "report.md", out_dir / "chart.png"]
    paths[0].write_text(json.dumps(data, indent=1) + "\n")
    problem = chart(data, paths[2])
    if problem is not None:
        data["meta"]["notes"].append(problem)
        paths.pop()
    paths[1].write_text(markdown(data))
    return paths
