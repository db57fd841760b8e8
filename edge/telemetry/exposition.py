"""The Prometheus families, built from raw figures only when ``/metrics`` is scraped.

``families(raw, store)`` yields every family of the catalogue (with the samples
the figures hold), the ``Stats`` counters under their historical names, the
hit ratio, and the store's figures per tier. Nothing here runs per request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from edge.runtime.stats import hit_ratio
from edge.store.base import StatValue, tier_figure
from edge.telemetry import catalogue as c
from edge.telemetry.catalogue import FAMILIES, Spec
from edge.telemetry.raw import RawFigures, Sample

# Stats field -> (metric name without the edge_ prefix and _total suffix, help)
STATS_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("hits", "cache_hits", "Requests answered fresh from the cache"),
    ("misses", "cache_misses", "Requests with nothing usable stored"),
    ("stale", "cache_stale", "Requests answered stale (while revalidating, or on error)"),
    ("revalidated", "cache_revalidated", "Stored entries freshened by a 304 from the origin"),
    ("collapsed", "collapsed", "Requests that joined another request's origin fetch"),
    ("passes", "passes", "Requests passed to the origin without caching"),
    ("stored", "stored", "Responses stored"),
    ("origin_requests", "origin_requests", "Requests sent to the origin"),
    ("origin_errors", "origin_errors", "Origin requests that failed or answered 5xx"),
    ("relayed", "worker_relayed", "Fills answered by the worker that owns the key"),
    ("invalidations", "invalidations", "Entries removed by unsafe-method invalidation"),
    ("bytes_from_cache", "cache_served_bytes", "Body bytes served from the cache"),
    ("compressed", "compressed", "Response bodies the edge compressed (one per coded variant)"),
    ("compression_in_bytes", "compression_input_bytes", "Identity bytes into the compressors"),
    ("compression_out_bytes", "compression_output_bytes", "Coded bytes out of the compressors"),
    (
        "compression_saved_bytes",
        "compression_saved_bytes",
        "Body bytes not sent thanks to edge compression (identity size - coded size)",
    ),
    ("prefetched", "prefetched", "Preload links of stored HTML fetched into the cache"),
    ("prefetch_failed", "prefetch_failed", "Preload prefetches that failed"),
    ("prefetch_dropped", "prefetch_dropped", "Preload links dropped: too many in flight"),
    ("refresh_ahead", "refresh_ahead", "Fresh entries refreshed in the background near expiry"),
    ("refresh_ahead_freshened", "refresh_ahead_freshened", "Refreshes answered 304"),
    ("refresh_ahead_replaced", "refresh_ahead_replaced", "Refreshes that stored a new response"),
    ("refresh_ahead_failed", "refresh_ahead_failed", "Refreshes that failed or were not stored"),
    ("warmed_stored", "warmed_stored", "Warming URLs whose response was stored"),
    ("warmed_cached", "warmed_already_cached", "Warming URLs that were already cached"),
    ("warmed_uncacheable", "warmed_uncacheable", "Warming URLs answered but not storable"),
    ("warmed_failed", "warmed_failed", "Warming URLs that failed"),
    (
        "connections_refused",
        "connections_refused",
        "Client connections refused over proxy.max_connections",
    ),
    ("send_timeouts", "send_timeouts", "Client connections closed by proxy.timeouts.send"),
    ("head_timeouts", "head_timeouts", "Request heads not received within proxy.timeouts.head"),
)

HIT_RATIO = "edge_cache_hit_ratio"
CONNECTIONS_OPEN = "edge_connections_open"  # edge.fronts.limits' count (every front)

# store figure (after the tier's name) -> the per-tier family it feeds
_TIER_FAMILIES: dict[str, Spec] = {
    "objects": c.STORE_OBJECTS,
    "bytes": c.STORE_BYTES,
    "max_bytes": c.STORE_BUDGET,
    "evictions": c.STORE_EVICTIONS,
    "admissions": c.STORE_ADMISSIONS,
    "refused": c.STORE_REFUSALS,
}
_STORE_SPECS = frozenset(spec.name for spec in _TIER_FAMILIES.values())
_TIERS = ("memory", "disk")


def families(raw: RawFigures, store: Mapping[str, StatValue] | None = None) -> Iterator[Metric]:
    stats = raw.stats
    for field, name, help_text in STATS_COUNTERS:
        yield CounterMetricFamily(f"edge_{name}", help_text, value=stats.get(field, 0))
    yield GaugeMetricFamily(
        CONNECTIONS_OPEN,
        "Client connections open on the proxy port",
        value=stats.get("connections_open", 0),
    )
    yield GaugeMetricFamily(
        HIT_RATIO,
        "(hits + stale) / (hits + stale + misses) since start",
        value=hit_ratio(stats.get("hits", 0), stats.get("misses", 0), stats.get("stale", 0)),
    )
    tiers = _tier_samples(store or {})
    for spec in FAMILIES:
        if spec is c.WORKERS:
            yield GaugeMetricFamily(spec.name, spec.help, value=raw.workers)
        elif spec.kind == "histogram":
            yield _histogram(spec, raw.histograms.get(spec.name, []), raw.bounds)
        elif spec.name in _STORE_SPECS:
            yield _family(spec, tiers.get(spec.name, []))
        else:
            held = raw.counters if spec.kind == "counter" else raw.gauges
            yield _family(spec, held.get(spec.name, []))
    if store is not None:
        yield from _store_extras(store)


def _family(spec: Spec, samples: list[Sample]) -> Metric:
    family: CounterMetricFamily | GaugeMetricFamily
    if spec.kind == "counter":
        family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    else:
        family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
    for s in sorted(samples, key=lambda s: s.labels):
        family.add_metric(s.labels, s.value)
    return family


def _histogram(spec: Spec, samples: list[Sample], bounds: list[float]) -> Metric:
    family = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
    edges = [repr(float(b)) for b in bounds] + ["+Inf"]  # as prometheus_client writes them
    for s in sorted(samples, key=lambda s: s.labels):
        counts = s.counts or [0] * len(edges)
        if len(counts) != len(edges):
            continue  # figures from a worker of another version: not comparable
        running, buckets = 0, []
        for edge, n in zip(edges, counts, strict=True):
            running += n
            buckets.append((edge, float(running)))
        family.add_metric(s.labels, buckets, sum_value=s.sum)
    return family


def _tier_samples(store: Mapping[str, StatValue]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for tier in _TIERS:
        for figure, spec in _TIER_FAMILIES.items():
            value = store.get(f"{tier}_{figure}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            out.setdefault(spec.name, []).append(Sample([tier], float(value)))
    return out


def _store_extras(raw: Mapping[str, StatValue]) -> Iterator[Metric]:
    """The store's other numbers as they are (``edge_store_memory_evictions``, …)."""
    for name, value in sorted(raw.items()):
        if isinstance(value, str) or tier_figure(name) is not None:
            continue
        yield GaugeMetricFamily(f"edge_store_{name}", f"store: {name}", value=float(value))
