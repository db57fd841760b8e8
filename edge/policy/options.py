"""Configuration of the caching policy, as plain data."""

from __future__ import annotations

from dataclasses import dataclass

from edge.policy.rules import CacheRules


@dataclass(frozen=True, slots=True)
class PolicyOptions:
    """Knobs of the shared-cache policy.

    ``heuristic_fraction`` and ``heuristic_max`` bound heuristic freshness
    (RFC 9111 §4.2.2); ``targeted_field`` is this node's RFC 9213 targeted
    field (lower-case), consulted before ``CDN-Cache-Control``.
    ``stale_on_error``: how long past its freshness a stored response may
    still answer while the origin fails (RFC 9111 §4.2.4), in seconds.
    ``store_set_cookie``: ``"shared-only"`` stores a response with Set-Cookie
    only when the origin addressed shared caches; ``"rfc"`` as RFC 9111 §7.3
    allows (see :func:`edge.policy.decide.decide_store`).
    ``rules``: a route's cache rules (:mod:`edge.policy.rules`); None outside routes.
    """

    heuristic_fraction: float = 0.1  # RFC 9111 §4.2.2
    heuristic_max: float = 86400.0
    targeted_field: str = "edge-cache-control"  # this node's RFC 9213 targeted field
    surrogate_control: bool = True
    cache_name: str = "edge"  # used in Cache-Status
    stale_on_error: float = 0.0  # seconds; the node's default comes from its config
    store_set_cookie: str = "shared-only"  # "shared-only" | "rfc"
    rules: CacheRules | None = None
