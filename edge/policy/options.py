"""Configuration of the caching policy, as plain data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PolicyOptions:
    """Knobs of the shared-cache policy.

    ``heuristic_fraction`` and ``heuristic_max`` bound heuristic freshness
    (RFC 9111 §4.2.2); ``targeted_field`` is this node's RFC 9213 targeted
    field (lower-case), consulted before ``CDN-Cache-Control``.
    """

    heuristic_fraction: float = 0.1  # RFC 9111 §4.2.2
    heuristic_max: float = 86400.0
    targeted_field: str = "edge-cache-control"  # this node's RFC 9213 targeted field
    surrogate_control: bool = True
    cache_name: str = "edge"  # used in Cache-Status
