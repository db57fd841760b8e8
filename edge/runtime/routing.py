"""Building the running routing from ``origins:``, ``routes:`` and ``origin.url``.

:func:`build_routing` makes the pools (:class:`~edge.origin.balance.ServerPool`, their
health probes) and, for each route, the upstream its requests go to (the parents first,
when the node has any), the fills' upstream (through the key's owner worker with
``--workers``), the policy options carrying its cache rules and its query rule: one
:class:`~edge.cache.routes.Routing`, which the flow swaps whole on reload.

A reload builds a new routing with the running one as ``previous``: a server kept in a
pool of the same name keeps its health state (:class:`~edge.origin.balance.ServerState`);
connections belong to the node's one :class:`~edge.origin.pool.ConnectionPool`, so none
is dropped and kept servers reuse theirs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from edge.cache.forwarding import origin_host
from edge.cache.routes import DEFAULT_POOL, KeyFunction, Match, Route, Routing
from edge.clock import Clock
from edge.cluster.parents import ParentSet
from edge.config import Config, PoolConfig, RouteConfig
from edge.origin.balance import PassiveHealth, Server, ServerPool, ServerState
from edge.origin.client import OriginClient, Upstream
from edge.origin.health import HealthProbe, ProbeSpec
from edge.origin.pool import ConnectionPool
from edge.policy.keys import normalize_host
from edge.policy.options import PolicyOptions
from edge.policy.rules import CacheRules, QueryRule

__all__ = ["RoutingBuilder", "build_routing", "routing_changed"]

WrapFill = Callable[[Upstream], Upstream]
#: Wraps a pool's upstream to count its requests (edge.telemetry.upstream), given its name.
Meter = Callable[[Upstream, str], Upstream]


@dataclass(frozen=True, slots=True)
class RoutingBuilder:
    """Builds the routing of a config on one node's parts: at start, and on every reload
    (with the running routing as ``previous``)."""

    connections: ConnectionPool
    clock: Clock
    base_key: KeyFunction
    opts: PolicyOptions
    parents: ParentSet | None = None
    meter: Meter | None = None
    wrap_fill: WrapFill | None = None

    def __call__(self, cfg: Config, previous: Routing | None = None) -> Routing:
        return build_routing(
            cfg,
            connections=self.connections,
            clock=self.clock,
            base_key=self.base_key,
            opts=self.opts,
            parents=self.parents,
            meter=self.meter,
            wrap_fill=self.wrap_fill,
            previous=previous,
        )


def build_routing(
    cfg: Config,
    *,
    connections: ConnectionPool,
    clock: Clock,
    base_key: KeyFunction,
    opts: PolicyOptions,
    parents: ParentSet | None = None,
    meter: Meter | None = None,
    wrap_fill: WrapFill | None = None,
    previous: Routing | None = None,
) -> Routing:
    """The routing of ``cfg`` (see the module docstring); nothing is started yet."""
    host = None if cfg.origin.preserve_host else origin_host(cfg.origin.url)
    origin: Upstream = OriginClient(cfg.origin, connections, host=host)
    pools: dict[str, ServerPool] = {}
    probes: list[HealthProbe] = []
    old = previous.pools if previous is not None else {}
    for pool_cfg in cfg.origins:
        pool = _pool(cfg, pool_cfg, connections, clock, old.get(pool_cfg.name))
        pools[pool_cfg.name] = pool
        if pool_cfg.health is not None:
            spec = ProbeSpec(**dataclasses.asdict(pool_cfg.health))
            hosts = {s.url: spec.host or origin_host(s.url) for s in pool.servers}
            probes.append(HealthProbe(pool, spec, clock, hosts))

    def upstreams(pool_name: str | None) -> tuple[Upstream, Upstream]:
        target = origin if pool_name is None else pools[pool_name]
        if meter is not None:  # counted as the pool it is, behind the parents if any
            target = meter(target, pool_name or DEFAULT_POOL)
        upstream = parents.via(target) if parents is not None else target
        return upstream, wrap_fill(upstream) if wrap_fill is not None else upstream

    default_up, default_fill = upstreams(None)
    default = Route("default", DEFAULT_POOL, default_up, default_fill, opts)
    matches = tuple(
        _match(route, f"routes[{i}]", *upstreams(route.pool), opts)
        for i, route in enumerate(cfg.routes)
    )
    return Routing(matches, default, pools, tuple(probes), base_key)


def _pool(
    cfg: Config,
    pool: PoolConfig,
    connections: ConnectionPool,
    clock: Clock,
    previous: ServerPool | None,
) -> ServerPool:
    kept = {s.url: s.state for s in previous.servers} if previous is not None else {}
    servers = []
    for server in pool.servers:
        url = server.url.rstrip("/")
        host = None if cfg.origin.preserve_host else origin_host(url)
        client = OriginClient(cfg.origin, connections, url=url, host=host)
        state = kept.get(url) or ServerState()
        servers.append(Server(url, server.weight, client, client.busy, state))
    passive = PassiveHealth(pool.max_fails, pool.down_for, pool.fail_on_5xx)
    return ServerPool(pool.name, servers, clock, balance=pool.balance, passive=passive)


def _match(
    route: RouteConfig, name: str, upstream: Upstream, fill: Upstream, opts: PolicyOptions
) -> Match:
    c = route.cache
    rules = CacheRules(
        ttl=c.ttl,
        default_ttl=c.default_ttl,
        max_ttl=c.max_ttl,
        stale_while_revalidate=c.stale_while_revalidate,
        stale_if_error=c.stale_if_error,
        ignore_client_no_cache=c.ignore_client_no_cache,
        never_cache=c.never_cache,
        vary=tuple(sorted({v.lower() for v in c.vary})),
    )
    query = QueryRule(c.query.mode, c.query.drop, c.query.keep)
    resolved = Route(
        name,
        route.pool or DEFAULT_POOL,
        upstream,
        fill,
        dataclasses.replace(opts, rules=rules),
        query,
        c.never_cache,
        c.ignore_client_no_cache,
        route.max_request_body,
    )
    hosts = {h.lower() for h in route.hosts if not h.startswith("*.")}
    exact = frozenset(normalize_host("http", h) for h in hosts) | frozenset(hosts)
    suffixes = tuple(h[1:].lower() for h in route.hosts if h.startswith("*."))
    return Match(exact, suffixes, tuple(route.paths), resolved)


def routing_changed(old: Config, new: Config) -> bool:
    """Whether a reload from ``old`` to ``new`` needs a new routing."""
    return (old.origins, old.routes, old.origin.url) != (new.origins, new.routes, new.origin.url)
