"""Routes and pools as one immutable object, built from config and swapped on reload.

:func:`build_routing` turns ``origins:`` and ``routes:`` (and ``origin.url``, the one
pool of a config without them) into a :class:`Routing`: the pools
(:class:`~edge.origin.balance.ServerPool`, their probes), and for each route the
upstream its requests go to, the policy options carrying its cache rules and its
query rule. The request flow selects a :class:`Route` once per request
(:meth:`Routing.select`: first match by ``Host`` and path prefix, else the default)
and carries it to the end, so a request that began before a reload finishes on the
routing it began with. ``Routing.key_for`` is the cache key function the hot path and
purges use: the plain versioned key unless some route changes keys (a query rule,
never-cache), and then memoised per (host, target), so a hit does not parse a query.

A reload builds a new routing from the new config with the old one as ``previous``:
a server kept in a pool of the same name keeps its health state; connections are the
node's one :class:`~edge.origin.pool.ConnectionPool`'s, so none is dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge.cache.forwarding import origin_host
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

KeyFunction = Callable[[str, str, str], str]
WrapFill = Callable[[Upstream], Upstream]

DEFAULT_POOL = "origin"  # the pool of origin.url
#: the key of requests under a never-cache route: nothing is ever stored under it
NEVER_KEY = "never|"
_MEMO_MAX = 16384
_NEVER = "\x00never"


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """Where a request goes and how it is cached; one per ``routes[i]``, and the default."""

    name: str  # "routes[2]", or "default"
    pool: str  # a name in origins, or "origin" (origin.url)
    upstream: Upstream  # passes, HEAD refreshes, range requests
    fill_upstream: Upstream  # fills: with workers, through the key's owner worker
    opts: PolicyOptions  # the node's, with this route's rules
    query: QueryRule = QueryRule()
    never_cache: bool = False
    ignore_client_no_cache: bool = False

    def key_target(self, target: str) -> str:
        return self.query.key_target(target)


@dataclass(frozen=True, slots=True)
class _Match:
    hosts: frozenset[str]  # exact, lower-case ("example.com", "example.com:8080")
    suffixes: tuple[str, ...]  # from "*.example.com": ".example.com"
    paths: tuple[str, ...]  # prefixes; empty: any path
    route: Route

    def takes(self, host: str, name: str, path: str) -> bool:
        if self.hosts or self.suffixes:
            if host not in self.hosts and name not in self.hosts:
                if not (self.suffixes and name.endswith(self.suffixes)):
                    return False
        return not self.paths or path.startswith(self.paths)


class Routing:
    """The running routes and pools (immutable once built; see the module docstring)."""

    def __init__(
        self,
        matches: tuple[_Match, ...],
        default: Route,
        pools: Mapping[str, ServerPool],
        probes: tuple[HealthProbe, ...],
        base_key: KeyFunction,
    ) -> None:
        self._matches = matches
        self.default = default
        self.pools = dict(pools)
        self._probes = probes
        self._base = base_key
        self._memo: dict[tuple[str, str], str] = {}
        routes = [m.route for m in matches]
        self.routes = tuple(routes)
        self._never = any(r.never_cache for r in routes)
        keyed = self._never or any(not r.query.identity for r in routes)
        #: (scheme, host, target) -> the cache key; the plain key when no route changes keys
        self.key_for: KeyFunction = self._routed_key if keyed else base_key

    def select(self, host: str, path: str) -> Route:
        """The first route that takes this Host and path, else the default."""
        if not self._matches:
            return self.default
        full = normalize_host("http", host)
        name = full.rpartition(":")[0] if full.rpartition(":")[2].isdigit() else full
        for match in self._matches:
            if match.takes(full, name or full, path):
                return match.route
        return self.default

    def route_key(self, route: Route, scheme: str, host: str, target: str) -> str:
        """The cache key of a request already routed to ``route``."""
        if route.query.identity:
            return self._base(scheme, host, target)
        return self._base(scheme, host, route.key_target(target))

    def _routed_key(self, scheme: str, host: str, target: str) -> str:
        if not self._never and "?" not in target:
            return self._base(scheme, host, target)
        memo = self._memo
        slot = (host, target)
        kept = memo.get(slot)
        if kept is None:
            route = self.select(host, target.partition("?")[0])
            kept = _NEVER if route.never_cache else route.key_target(target)
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            memo[slot] = kept
        if kept is _NEVER:
            return NEVER_KEY  # the hit path finds nothing; the flow passes the request
        return self._base(scheme, host, kept)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the pools' health probes (in the running loop)."""
        for probe in self._probes:
            probe.start()

    def stop(self) -> None:
        """Stop the probes at once (this routing was replaced by a reload)."""
        for probe in self._probes:
            probe.stop()

    async def close(self) -> None:
        for probe in self._probes:
            await probe.close()

    async def check_health(self) -> int:
        """One round of every probe for the servers that are due (tests drive it)."""
        done = 0
        for probe in self._probes:
            done += await probe.check_due()
        return done

    def status(self) -> dict[str, object]:
        """For ``/stats``: every pool's servers, and the routes in order."""
        return {
            "pools": {name: pool.status() for name, pool in self.pools.items()},
            "routes": [{"name": r.name, "pool": r.pool} for r in self.routes],
        }


def build_routing(
    cfg: Config,
    *,
    connections: ConnectionPool,
    clock: Clock,
    base_key: KeyFunction,
    opts: PolicyOptions,
    parents: ParentSet | None = None,
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
) -> _Match:
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
    )
    hosts = {h.lower() for h in route.hosts if not h.startswith("*.")}
    exact = frozenset(normalize_host("http", h) for h in hosts) | frozenset(hosts)
    suffixes = tuple(h[1:].lower() for h in route.hosts if h.startswith("*."))
    return _Match(exact, suffixes, tuple(route.paths), resolved)
