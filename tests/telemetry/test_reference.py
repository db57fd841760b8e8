"""The README's metrics reference and contrib/prometheus/ against the metrics edge exposes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from edge.clock import FakeClock
from edge.config import CacheConfig
from edge.runtime.metrics import render_figures
from edge.store.tiered import build_store
from edge.telemetry import catalogue as c
from edge.telemetry.core import Meters
from edge.telemetry.exposition import CONNECTIONS_OPEN, HIT_RATIO, STATS_COUNTERS

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "contrib" / "prometheus"
NAME = re.compile(r"\bedge_[a-z0-9_]+")


async def exposed_names(tmp_path: Path) -> set[str]:
    """Every sample name a node exposes (a real store's figures included)."""
    store = build_store(CacheConfig(dir=str(tmp_path)), FakeClock())
    text = render_figures(Meters().raw(), store.stats()).decode()
    await store.close()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "counter":
                names.add(f"{name}_total")
    return names


def test_the_readme_names_every_family() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    families = [spec.exposed for spec in c.FAMILIES]
    families += [f"edge_{name}_total" for _, name, _ in STATS_COUNTERS] + [
        HIT_RATIO,
        CONNECTIONS_OPEN,
    ]
    missing = [name for name in families if f"`{name}`" not in readme]
    assert missing == [], "families the README's metrics reference does not list"
    for spec in c.FAMILIES:
        for label in spec.labels:
            assert f"`{label}`" in readme


def test_the_scrape_config_parses_and_scrapes_the_admin_port_with_the_token() -> None:
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    assert config["rule_files"] == ["edge-alerts.yml"]
    assert (PROMETHEUS / config["rule_files"][0]).is_file()


async def test_alert_rules_parse_and_name_real_metrics(tmp_path: Path) -> None:
    rules: dict[str, Any] = yaml.safe_load((PROMETHEUS / "edge-alerts.yml").read_text())
    known = await exposed_names(tmp_path)
    alerts = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
            used = set(NAME.findall(rule["expr"]))
            assert used and used <= known, (rule["alert"], used - known)
            assert rule["labels"]["severity"] in ("warning", "critical")
            alerts[rule["alert"]] = rule["expr"]
    # the ones worth having: hit ratio drop, origin errors, control-plane lag
    assert "edge_requests_total" in alerts["EdgeHitRatioDrop"]
    assert "edge_upstream_errors_total" in alerts["EdgeOriginErrors"]
    assert "edge_control_lag_events" in alerts["EdgeControlPlaneLag"]
