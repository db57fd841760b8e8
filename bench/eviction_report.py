"""The eviction study's Markdown report and PNG chart, from its ``results.json`` data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Row = dict[str, Any]


def _index(data: dict[str, Any]) -> dict[tuple[str, float, str], list[Row]]:
    return {(r["trace"], r["budget"], r["policy"]): r["results"] for r in data["rows"]}


def _hr(result: Row) -> float:
    return float(result["hits"]) / result["requests"] if result["requests"] else 0.0


def _bhr(result: Row) -> float:
    return float(result["byte_hits"]) / result["bytes"] if result["bytes"] else 0.0


def gap_closed(data: dict[str, Any], trace: str, budget: float, policy: str) -> float:
    ix = _index(data)
    lru, best = _hr(ix[(trace, budget, "LRU")][0]), _hr(ix[(trace, budget, "Belady")][0])
    hr = _hr(ix[(trace, budget, policy)][0])
    return (hr - lru) / (best - lru) if best > lru else float("nan")


def _traces(data: dict[str, Any]) -> list[str]:
    return list(data["traces"])


def _budgets(data: dict[str, Any]) -> list[float]:
    return sorted({r["budget"] for r in data["rows"]})


def _zipf(data: dict[str, Any]) -> list[str]:
    return [t for t in _traces(data) if t.startswith("zipf") and "scan" not in t]


def _pct(x: float) -> str:
    return f"{x:.0%}"


def markdown(data: dict[str, Any]) -> str:
    ix = _index(data)
    p = data["params"]
    policies = [n for n in data["policies"] if n != "Belady"]
    budgets = _budgets(data)
    zipf = _zipf(data)
    default = data["default"]
    lines = [
        "# Eviction study",
        "",
        f"`python -m bench eviction`: {p['requests']:,} requests over {p['objects']:,} objects "
        f"per Zipf trace, seed {p['seed']}, {data['seconds']} s. Budgets are shares of each "
        "trace's working set, in bytes. Score: the share of the LRU-to-Belady gap in object "
        "hit ratio a policy closes; Belady picks victims by next use only, so a policy that "
        "favours small objects can pass 100 %.",
        "",
        "## Gap closed on the Zipf traces",
        "",
    ]
    cases = [(t, b) for t in zipf for b in budgets]
    head = [f"α {t.split()[1]} {b:.0%}" for t, b in cases]
    lines.append("| policy | " + " | ".join(head) + " | min | ≥ 50 % | mean BHR |")
    lines.append("|---" * (len(head) + 4) + "|")
    for name in policies:
        closed = [gap_closed(data, t, b, name) for t, b in cases]
        bhr = sum(_bhr(ix[(t, b, name)][0]) for t, b in cases) / len(cases)
        label = f"**{name}**" if name == default else name
        cells = " | ".join(_pct(c) for c in closed)
        passed = sum(c >= 0.5 for c in closed)
        lines.append(f"| {label} | {cells} | {_pct(min(closed))} | {passed}/9 | {bhr:.3f} |")
    lines += ["", "## Hit ratio / byte hit ratio", ""]
    shown = ["LRU", "S3-FIFO", default, "Belady"]
    lines.append("| trace | budget | " + " | ".join(shown) + " |")
    lines.append("|---" * (len(shown) + 2) + "|")
    for t in _traces(data):
        for b in budgets:
            cells = [f"{_hr(ix[(t, b, n)][0]):.4f} / {_bhr(ix[(t, b, n)][0]):.4f}" for n in shown]
            lines.append(f"| {t} | {b:.0%} | " + " | ".join(cells) + " |")
    scanned = next((t for t in _traces(data) if "scan" in t), None)
    if scanned is not None:
        plain = scanned.replace("+scan", "")
        lines += [
            "",
            f"## Scan resistance: hit ratio of the {p['after']:,} regular requests after "
            f"{p['scan']:,} one-off objects ({plain})",
            "",
            "| policy | "
            + " | ".join(f"{b:.0%} without / with scan (loss)" for b in budgets)
            + " |",
            "|---" * (len(budgets) + 1) + "|",
        ]
        for name in ["Belady", *policies]:
            cells = []
            for b in budgets:
                before, after = _hr(ix[(plain, b, name)][1]), _hr(ix[(scanned, b, name)][1])
                cells.append(f"{before:.4f} / {after:.4f} ({(before - after) * 100:+.2f} pt)")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if "twitter" in _traces(data):
        lines += ["", f"## Real trace: {data['real_trace']}", ""]
        lines.append("| policy | " + " | ".join(f"{b:.0%} HR (gap) / BHR" for b in budgets) + " |")
        lines.append("|---" * (len(budgets) + 1) + "|")
        for name in ["Belady", *policies]:
            cells = []
            for b in budgets:
                r = ix[("twitter", b, name)][0]
                gap = "" if name == "Belady" else f" ({_pct(gap_closed(data, 'twitter', b, name))})"
                cells.append(f"{_hr(r):.4f}{gap} / {_bhr(r):.4f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    elif data.get("real_note"):
        lines += ["", f"No real trace: {data['real_note']}"]
    costs = data["op_costs"]
    lines += [
        "",
        "## Per-operation cost (`(key, variant)` slots, 20,000 objects, best of rounds)",
        "",
        "| policy | hit ns | vs LRU | vs S3-FIFO | miss + insert ns | vs LRU | vs S3-FIFO |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in costs.items():
        h, m = c["hit_ns"], c["miss_ns"]
        lru, s3 = costs["LRU"], costs["S3-FIFO"]
        lines.append(
            f"| {name} | {h:.0f} | {h / lru['hit_ns']:.2f}× | {h / s3['hit_ns']:.2f}× "
            f"| {m:.0f} | {m / lru['miss_ns']:.2f}× | {m / s3['miss_ns']:.2f}× |"
        )
    return "\n".join(lines) + "\n"


def chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ix = _index(data)
    policies = [n for n in data["policies"] if n != "Belady"]
    budgets = _budgets(data)
    cols = [(t, b) for t in _zipf(data) for b in budgets]
    if "twitter" in _traces(data):
        cols += [("twitter", b) for b in budgets]
    grid = [[gap_closed(data, t, b, n) * 100 for t, b in cols] for n in policies]
    fig, (ax, bx) = plt.subplots(
        1, 2, figsize=(17, 6.5), gridspec_kw={"width_ratios": [2.3, 1]}, layout="constrained"
    )
    image = ax.imshow(grid, cmap="RdYlGn", vmin=-40, vmax=100, aspect="auto")
    ax.set_xticks(range(len(cols)), [f"{t.replace('zipf ', 'α ')}\n{b:.0%}" for t, b in cols])
    ax.set_yticks(range(len(policies)), policies)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8)
    ax.set_title("Share of the LRU→Belady hit-ratio gap closed (%)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    scanned = next((t for t in _traces(data) if "scan" in t), None)
    if scanned is not None:
        plain = scanned.replace("+scan", "")
        width = 0.8 / len(budgets)
        for k, b in enumerate(budgets):
            loss = [
                (_hr(ix[(plain, b, n)][1]) - _hr(ix[(scanned, b, n)][1])) * 100 for n in policies
            ]
            bx.barh([i + k * width for i in range(len(policies))], loss, width, label=f"{b:.0%}")
        bx.set_yticks([i + width for i in range(len(policies))], policies)
        bx.invert_yaxis()
        bx.axvline(0, color="black", linewidth=0.8)
        bx.set_xlabel("hit-ratio loss after the scan (points)")
        bx.set_title("Scan resistance (lower is better)")
        bx.legend(title="budget")
    fig.savefig(path, dpi=110)
    plt.close(fig)
