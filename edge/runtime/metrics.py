"""Prometheus metrics: a registry owned by the node, never the process-global one.

The node counts into plain integers (:mod:`edge.telemetry.core`); a custom
collector turns its raw figures (and the store's ``stats()``) into families
only when ``/metrics`` is scraped (:mod:`edge.telemetry.exposition`). With
workers, the admin app renders the leader's merge of every worker's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from edge.runtime.stats import Stats
from edge.store.base import StatValue
from edge.telemetry.core import Meters
from edge.telemetry.exposition import families
from edge.telemetry.raw import RawFigures

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

StoreStats = Callable[[], Mapping[str, StatValue]]


class EdgeCollector(Collector):
    def __init__(
        self, figures: Callable[[], RawFigures], store_stats: StoreStats | None = None
    ) -> None:
        self._figures = figures
        self._store_stats = store_stats

    def collect(self) -> Iterator[Metric]:
        store = self._store_stats() if self._store_stats is not None else None
        yield from families(self._figures(), store)


def make_registry(
    meters: Meters | Stats, store_stats: StoreStats | None = None
) -> CollectorRegistry:
    """A registry over one node's figures (a bare ``Stats`` is one with nothing else)."""
    if isinstance(meters, Stats):
        meters = Meters(meters)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeCollector(meters.raw, store_stats))
    return registry


def render_figures(raw: RawFigures, store: Mapping[str, StatValue] | None) -> bytes:
    """The exposition of figures already gathered (the leader's merge of its workers')."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeCollector(lambda: raw, (lambda: store) if store is not None else None))
    return generate_latest(registry)


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
