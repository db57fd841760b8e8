"""Prometheus metrics: a registry owned by the app, never the process-global one.

A custom collector reads :class:`~edge.runtime.stats.Stats` and the store's
``stats()`` dict at scrape time, so the hot path only bumps plain integers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.runtime.stats import Stats
from edge.store.base import StatValue, tier_figure

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

StoreStats = Callable[[], Mapping[str, StatValue]]

# Stats field -> (metric name without the edge_ prefix and _total suffix, help)
_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("requests", "requests", "Requests received on the proxy port"),
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
    ("prefetched", "prefetched", "Preload links of stored HTML fetched into the cache"),
    ("prefetch_failed", "prefetch_failed", "Preload prefetches that failed"),
    (
        "prefetch_dropped",
        "prefetch_dropped",
        "Preload links dropped: too many prefetches in flight",
    ),
    (
        "compression_saved_bytes",
        "compression_saved_bytes",
        "Body bytes not sent thanks to edge compression (identity size - coded size)",
    ),
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


class EdgeCollector(Collector):
    def __init__(self, stats: Stats, store_stats: StoreStats | None = None) -> None:
        self._stats = stats
        self._store_stats = store_stats

    def collect(self) -> Iterator[Metric]:
        values = self._stats.as_dict()
        for field, name, help_text in _COUNTERS:
            yield CounterMetricFamily(f"edge_{name}", help_text, value=values.get(field, 0))
        yield GaugeMetricFamily(
            "edge_connections_open",
            "Client connections open on the proxy port",
            value=values.get("connections_open", 0),
        )
        yield GaugeMetricFamily(
            "edge_cache_hit_ratio",
            "(hits + stale) / (hits + stale + misses) since start",
            value=self._stats.hit_ratio,
        )
        if self._store_stats is not None:
            yield from _tier_metrics(self._store_stats())


def _tier_metrics(raw: Mapping[str, StatValue]) -> Iterator[Metric]:
    """``<tier>_objects`` / ``<tier>_bytes`` as labelled gauges; other numbers as-is."""
    objects = GaugeMetricFamily("edge_store_objects", "Objects held per tier", labels=["tier"])
    used = GaugeMetricFamily("edge_store_bytes", "Bytes held per tier", labels=["tier"])
    extra: list[Metric] = []
    for name, value in sorted(raw.items()):
        if isinstance(value, str):
            continue
        figure = tier_figure(name)
        if figure is None:
            extra.append(GaugeMetricFamily(f"edge_store_{name}", f"store: {name}", value=value))
        else:
            tier, what = figure
            (objects if what == "objects" else used).add_metric([tier], float(value))
    yield objects
    yield used
    yield from extra


def make_registry(stats: Stats, store_stats: StoreStats | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeCollector(stats, store_stats))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
