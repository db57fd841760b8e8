"""Every family edge adds to ``/metrics``, one declaration a line.

Names follow Prometheus conventions: an ``edge_`` prefix, the unit in the name
(``_seconds``, ``_bytes``), ``_total`` on counters (``prometheus_client`` adds it
to the declared name). The README's metrics reference lists them all (a test
checks it does), and ``contrib/prometheus/`` alerts on some of them.

The counters of :class:`edge.runtime.stats.Stats` (``edge_cache_hits_total`` and
the rest) are declared beside their fields in ``edge.runtime.metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]

#: Histogram bounds for latencies, in seconds: 100 µs to 30 s, about three per decade.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


@dataclass(frozen=True, slots=True)
class Spec:
    """One family: its name (counters without ``_total``), kind, help text and label names.

    ``summed``: with workers, the leader adds up every worker's values; otherwise (the
    control plane's state, which only the leader holds) it reports its own.
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    summed: bool = True

    @property
    def exposed(self) -> str:
        """The name as scraped: counters end in ``_total``."""
        return self.name + "_total" if self.kind == "counter" else self.name


def _c(name: str, help_text: str, *labels: str) -> Spec:
    return Spec(name, "counter", help_text, labels)


def _g(name: str, help_text: str, *labels: str, summed: bool = True) -> Spec:
    return Spec(name, "gauge", help_text, labels, summed)


def _h(name: str, help_text: str, *labels: str) -> Spec:
    return Spec(name, "histogram", help_text, labels)


# -- the proxy port: one count and one latency per answered request
REQUESTS = _c(
    "edge_requests",
    "Requests answered on the proxy port, by method, status class and cache outcome",
    "method",
    "status",
    "cache",
)
REQUEST_SECONDS = _h(
    "edge_request_duration_seconds",
    "Time from a request's head to its last byte written, by cache outcome",
    "cache",
)
FIRST_BYTE_SECONDS = _h(
    "edge_first_byte_seconds",
    "Time from a request's head to its response head, for answers that went upstream",
    "cache",
)
SERVED_BYTES = _c(
    "edge_served_bytes", "Body bytes sent to clients, by where they came from", "tier"
)
CONNECTIONS = _g("edge_client_connections", "Client connections open on the proxy port")
CONNECTIONS_ACCEPTED = _c(
    "edge_client_connections_accepted", "Client connections accepted on the proxy port"
)
# -- upstream: the origin and the parents (shields)
UPSTREAM_REQUESTS = _c(
    "edge_upstream_requests", "Requests sent upstream (origin pool or parent)", "upstream", "name"
)
UPSTREAM_ERRORS = _c(
    "edge_upstream_errors",
    "Upstream requests that failed, by kind (connect, tls, timeout, other, status_5xx)",
    "upstream",
    "name",
    "kind",
)
UPSTREAM_SECONDS = _h(
    "edge_upstream_duration_seconds",
    "Time from sending a request upstream to its response head",
    "upstream",
    "name",
)
# -- the cache's work
BACKGROUND_REVALIDATIONS = _c(
    "edge_background_revalidations",
    "Background revalidations (stale-while-revalidate, refresh-ahead) by result",
    "result",
)
PURGES = _c(
    "edge_purges",
    "Purge targets applied on this node by kind (url, prefix, tag, all, soft_*, version)",
    "kind",
)
PURGED_OBJECTS = _c("edge_purged_objects", "Stored entries (variants) purged or marked stale here")
FILL_WAITERS = _g(
    "edge_fill_waiters", "Requests waiting on another request's origin fetch now (collapsed)"
)
FILLS_IN_FLIGHT = _g("edge_fills_in_flight", "Origin fetches that fill the cache, running now")
# -- the store, per tier
STORE_OBJECTS = _g("edge_store_objects", "Objects held per tier", "tier")
STORE_BYTES = _g("edge_store_bytes", "Bytes held per tier", "tier")
STORE_BUDGET = _g("edge_store_budget_bytes", "Byte budget per tier", "tier")
STORE_EVICTIONS = _c(
    "edge_store_evictions", "Objects evicted per tier to stay in its budget", "tier"
)
STORE_ADMISSIONS = _c("edge_store_admissions", "Objects admitted per tier", "tier")
STORE_REFUSALS = _c("edge_store_refusals", "Objects the tier's admission policy refused", "tier")
# -- the control plane (the leader worker's connection)
CONTROL_CONNECTED = _g(
    "edge_control_connected", "1 while connected to the control plane (NATS)", summed=False
)
CONTROL_CAUGHT_UP = _g(
    "edge_control_caught_up",
    "1 once this node has applied every invalidation published",
    summed=False,
)
CONTROL_LAST_SEQUENCE = _g(
    "edge_control_last_applied_sequence",
    "Sequence number of the last invalidation event applied",
    summed=False,
)
CONTROL_LAG = _g(
    "edge_control_lag_events",
    "Invalidation events published but not applied here yet",
    summed=False,
)
WORKERS = _g("edge_workers", "Worker processes whose figures this answer adds up", summed=False)

FAMILIES: tuple[Spec, ...] = (
    REQUESTS,
    REQUEST_SECONDS,
    FIRST_BYTE_SECONDS,
    SERVED_BYTES,
    CONNECTIONS,
    CONNECTIONS_ACCEPTED,
    UPSTREAM_REQUESTS,
    UPSTREAM_ERRORS,
    UPSTREAM_SECONDS,
    BACKGROUND_REVALIDATIONS,
    PURGES,
    PURGED_OBJECTS,
    FILL_WAITERS,
    FILLS_IN_FLIGHT,
    STORE_OBJECTS,
    STORE_BYTES,
    STORE_BUDGET,
    STORE_EVICTIONS,
    STORE_ADMISSIONS,
    STORE_REFUSALS,
    CONTROL_CONNECTED,
    CONTROL_CAUGHT_UP,
    CONTROL_LAST_SEQUENCE,
    CONTROL_LAG,
    WORKERS,
)

BY_NAME: dict[str, Spec] = {spec.name: spec for spec in FAMILIES}
