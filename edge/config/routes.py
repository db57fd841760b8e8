"""Typed config of origin pools (``origins:``) and routes with cache rules (``routes:``).

``origins`` names pools of servers; ``routes`` pick a pool and cache rules by ``Host`` and
path prefix, the first match winning. With neither, ``origin.url`` is the one pool and no
rule applies (RFC 9111 as written). Checked by :mod:`edge.config.routes_check`; built into
the running routing by :mod:`edge.runtime.routing`; live on reload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.config.units import DURATION, SIZE

__all__ = [
    "CacheRulesConfig",
    "HealthCheckConfig",
    "PoolConfig",
    "QueryRuleConfig",
    "RouteConfig",
    "ServerConfig",
]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One server of a pool."""

    url: str = ""  # http(s)://host[:port][/prefix]
    weight: int = 1  # share of the requests (smooth weighted round-robin); 1-1000


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    """The active probe of a pool's servers (``origins[i].health``); off when absent."""

    path: str = "/healthz"
    interval: float = field(default=5.0, metadata=DURATION)  # between two probes of a server
    timeout: float = field(default=2.0, metadata=DURATION)  # a probe's whole answer
    expect_status: int = 200  # any other status (or no answer) is a failure
    rise: int = 2  # consecutive successes that bring a down server back
    fall: int = 3  # consecutive failures that take an up server out
    host: str | None = None  # Host of the probe; None: the server URL's authority


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """A named pool of servers (``origins[i]``), as an nginx ``upstream`` block."""

    name: str = ""
    servers: tuple[ServerConfig, ...] = ()
    balance: str = "round-robin"  # "round-robin" (smooth, weighted) | "least-connections"
    # passive health: this many failures in a row (connect errors and timeouts; 5xx answers
    # too with fail_on_5xx) take a server out for down_for
    max_fails: int = 1
    down_for: float = field(default=10.0, metadata=DURATION)
    fail_on_5xx: bool = False
    health: HealthCheckConfig | None = None


@dataclass(frozen=True, slots=True)
class QueryRuleConfig:
    """How the query string enters the cache key (the origin always gets it as sent)."""

    mode: str = "keep"  # "keep" as sent | "sort" by name | "ignore" it all
    # names dropped from the key ("utm_*": a trailing * matches a prefix); keep/sort only
    drop: tuple[str, ...] = ()
    # when non-empty: only these names stay in the key (the same patterns); keep/sort only
    keep: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheRulesConfig:
    """A route's cache rules; None leaves a matter to RFC 9111 and the node's defaults."""

    # freshness lifetime of every response a heuristic could cache, whatever it says
    ttl: float | None = field(default=None, metadata=DURATION)
    # lifetime of a response without explicit freshness (instead of the Last-Modified heuristic)
    default_ttl: float | None = field(default=None, metadata=DURATION)
    max_ttl: float | None = field(default=None, metadata=DURATION)  # a cap on every lifetime
    # RFC 5861 allowances for responses that do not give their own
    stale_while_revalidate: float | None = field(default=None, metadata=DURATION)
    stale_if_error: float | None = field(default=None, metadata=DURATION)
    # a client's Cache-Control no-cache / max-age and Pragma: no-cache do not skip the cache
    ignore_client_no_cache: bool = True
    never_cache: bool = False  # nothing under the route is stored
    query: QueryRuleConfig = field(default_factory=QueryRuleConfig)
    vary: tuple[str, ...] = ()  # request fields the key varies on, beside the origin's Vary


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """``routes[i]``: which requests it takes, where they go, and how they are cached."""

    # Host values ("www.example.com", "*.example.com" for any subdomain); empty: any host
    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # path prefixes ("/static/"); empty: any path
    pool: str | None = None  # a name in origins; None: origin.url
    cache: CacheRulesConfig = field(default_factory=CacheRulesConfig)
    # the largest request body the route takes (413 above it); None: proxy.max_request_body
    max_request_body: int | None = field(default=None, metadata=SIZE)
