"""The counting core: buckets, the hot path's fold, the workers' merge, the exposition."""

from __future__ import annotations

import pytest

from edge.cache.deliver import Outcome
from edge.runtime.metrics import render_figures
from edge.telemetry import catalogue as c
from edge.telemetry.catalogue import LATENCY_BOUNDS
from edge.telemetry.core import Histogram, Meters, status_class
from edge.telemetry.outcomes import outcome_of
from edge.telemetry.quantiles import quantile
from edge.telemetry.raw import RawFigures, decode, encode, merge
from tests.support.helpers import metric_samples


def samples(raw: RawFigures, store: dict[str, int] | None = None) -> dict[tuple[str, str], float]:
    """(sample name, sorted labels) -> value, parsed back from the exposition text."""
    return metric_samples(render_figures(raw, store).decode())


def test_buckets_are_upper_bounds_inclusive_from_100us_to_30s() -> None:
    assert (LATENCY_BOUNDS[0], LATENCY_BOUNDS[-1]) == (0.0001, 30.0)
    h = Histogram()
    for v in (0.0, 0.0001, 0.00011, 30.0, 31.0):
        h.observe(v)
    assert h.counts[0] == 2  # 0 and exactly 100 µs: le="0.0001"
    assert h.counts[1] == 1
    assert h.counts[len(LATENCY_BOUNDS) - 1] == 1  # exactly 30 s
    assert h.counts[-1] == 1  # +Inf
    assert h.count == 5 and h.sum == pytest.approx(61.00021)


@pytest.mark.parametrize(
    ("outcome", "label"),
    [
        (Outcome(hit=True, detail="memory"), "hit"),
        (Outcome(hit=True, detail="stale-while-revalidate"), "stale"),
        (Outcome(hit=True, detail="max-stale"), "stale"),
        (Outcome(fwd="stale", fwd_status=503, detail="stale-if-error"), "stale"),
        (Outcome(fwd="stale", fwd_status=304, detail="stale"), "revalidated"),
        (Outcome(fwd="uri-miss", fwd_status=200, stored=True), "miss"),
        (Outcome(fwd="uri-miss", fwd_status=200, stored=True, collapsed=True), "collapsed"),
        (Outcome(fwd="vary-miss"), "miss"),
        (Outcome(fwd="stale", fwd_status=200, stored=True), "miss"),
        (Outcome(fwd="request", detail="request-no-cache"), "pass"),
        (Outcome(fwd="method"), "pass"),
        (Outcome(fwd="bypass", detail="catching-up"), "pass"),
    ],
)
def test_cache_outcomes_from_cache_status(outcome: Outcome, label: str) -> None:
    assert outcome_of(outcome) == label


def test_hot_hits_fold_into_requests_hits_latency_and_memory_bytes() -> None:
    meters = Meters()
    meters.answered("GET", 200, "miss", "origin", 100, 0.02, 0.01)
    hot = meters.hot
    hot.counts[0] += 3  # what the front's hot path does, three times
    hot.bytes += 300
    raw = meters.raw()
    assert raw.stats["requests"] == 3 and raw.stats["hits"] == 3  # Stats saw only the hot hits
    assert raw.stats["bytes_from_cache"] == 300
    got = samples(raw)
    assert got[("edge_requests_total", "cache=hit,method=GET,status=2xx")] == 3
    assert got[("edge_requests_total", "cache=miss,method=GET,status=2xx")] == 1
    assert got[("edge_request_duration_seconds_count", "cache=hit")] == 3
    assert got[("edge_request_duration_seconds_bucket", "cache=hit,le=0.0001")] == 3
    assert got[("edge_request_duration_seconds_bucket", "cache=miss,le=0.01")] == 0
    assert got[("edge_request_duration_seconds_bucket", "cache=miss,le=0.025")] == 1  # cumulative
    assert got[("edge_request_duration_seconds_bucket", "cache=miss,le=+Inf")] == 1
    assert got[("edge_first_byte_seconds_count", "cache=miss")] == 1
    assert got[("edge_served_bytes_total", "tier=memory")] == 300
    assert got[("edge_served_bytes_total", "tier=origin")] == 100


def test_methods_and_statuses_are_bounded_labels() -> None:
    meters = Meters()
    meters.answered("BREW", 418, "pass", "origin", 0, 0.001)
    meters.answered("GET", 0, "local", "local", 0, 0.001)  # the client left first
    got = samples(meters.raw())
    assert got[("edge_requests_total", "cache=pass,method=other,status=4xx")] == 1
    assert got[("edge_requests_total", "cache=local,method=GET,status=0xx")] == 1
    assert status_class(999) == "0xx"


def test_workers_merge_label_by_label_and_bucket_by_bucket() -> None:
    leader, other = Meters(), Meters()
    leader.answered("GET", 200, "miss", "origin", 10, 0.0002)
    other.answered("GET", 200, "miss", "origin", 5, 3.0)
    other.answered("HEAD", 200, "hit", "memory", 0, 0.0002)
    other.hot.counts[1] += 2
    other.hot.bytes += 20
    leader.watch(lambda: [(c.CONTROL_LAG, (), 7.0), (c.CONNECTIONS, (), 2.0)])
    other.watch(lambda: [(c.CONTROL_LAG, (), 100.0), (c.CONNECTIONS, (), 3.0)])
    # what a worker sends the leader goes through JSON
    merged = merge(leader.raw(), [decode(encode(other.raw()))])
    assert merged.workers == 2
    got = samples(merged)
    assert got[("edge_requests_total", "cache=miss,method=GET,status=2xx")] == 2
    assert got[("edge_requests_total", "cache=hit,method=HEAD,status=2xx")] == 1
    assert got[("edge_requests_total", "cache=hit,method=GET,status=2xx")] == 2
    assert got[("edge_request_duration_seconds_bucket", "cache=miss,le=0.00025")] == 1
    assert got[("edge_request_duration_seconds_bucket", "cache=miss,le=5.0")] == 2
    assert got[("edge_request_duration_seconds_count", "cache=hit")] == 3
    assert got[("edge_request_duration_seconds_sum", "cache=miss")] == pytest.approx(3.0002)
    assert got[("edge_served_bytes_total", "tier=origin")] == 15
    assert got[("edge_client_connections", "")] == 5  # summed
    assert got[("edge_control_lag_events", "")] == 7  # the leader's own
    assert got[("edge_workers", "")] == 2
    assert merged.stats["hits"] == 2 and merged.stats["requests"] == 2


def test_store_figures_per_tier_with_budgets() -> None:
    store = {
        "memory_objects": 3,
        "memory_bytes": 300,
        "memory_max_bytes": 1000,
        "memory_evictions": 4,
        "memory_admissions": 9,
        "memory_refused": 2,
        "disk_objects": 5,
        "disk_bytes": 500,
        "disk_max_bytes": 5000,
        "disk_evictions": 1,
        "disk_admissions": 6,
    }
    got = samples(Meters().raw(), store)
    assert got[("edge_store_objects", "tier=memory")] == 3
    assert got[("edge_store_bytes", "tier=disk")] == 500
    assert got[("edge_store_budget_bytes", "tier=memory")] == 1000
    assert got[("edge_store_evictions_total", "tier=memory")] == 4
    assert got[("edge_store_admissions_total", "tier=disk")] == 6
    assert got[("edge_store_refusals_total", "tier=memory")] == 2
    assert got[("edge_store_memory_evictions", "")] == 4  # the older names stay


def test_every_catalogue_family_is_exposed_with_help_and_type() -> None:
    text = render_figures(Meters().raw(), {}).decode()
    for spec in c.FAMILIES:
        assert f"# TYPE {spec.exposed} {spec.kind}" in text, spec.name
        assert f"# HELP {spec.exposed} " in text
        assert spec.name.startswith("edge_")


def test_quantiles_interpolate_inside_buckets() -> None:
    bounds = [0.001, 0.01, 0.1]
    assert quantile([0, 0, 0, 0], bounds, 0.5) is None
    assert quantile([10, 0, 0, 0], bounds, 0.5) == pytest.approx(0.0005)
    assert quantile([0, 10, 0, 0], bounds, 0.9) == pytest.approx(0.001 + 0.009 * 0.9)
    assert quantile([0, 0, 0, 4], bounds, 0.99) == 0.1  # +Inf: the last bound
