"""Routes as data: which requests a route takes, where they go, how they are cached.

A :class:`Routing` is immutable once built (by :func:`edge.runtime.routing.build_routing`
from ``origins:`` and ``routes:``) and swapped whole on reload
(:meth:`edge.cache.flow.RequestFlow.use_routing`). The request flow selects a
:class:`Route` once per request (:meth:`Routing.select`: the first route whose hosts and
path prefixes take the request, else the default) and carries it in its
:class:`~edge.cache.states.Ask` to the end, so a request that began before a reload
finishes on the routing it began with.

:attr:`Routing.key_for` is the cache key function of the hot path, purges and the
workers' relay: the plain versioned key unless some route changes keys (a query rule,
never-cache), and then memoised per (host, target), so a hit neither parses nor
re-encodes a query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from edge.origin.balance import ServerPool
from edge.origin.client import Upstream
from edge.policy.keys import normalize_host
from edge.policy.options import PolicyOptions
from edge.policy.rules import QueryRule

KeyFunction = Callable[[str, str, str], str]

DEFAULT_POOL = "origin"  # the pool of origin.url
#: the key of requests under a never-cache route: nothing is ever stored under it
NEVER_KEY = "never|"
_MEMO_MAX = 16384
_NEVER = "\x00never"


class Probe(Protocol):
    """A pool's health probe (:class:`edge.origin.health.HealthProbe`)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    async def close(self) -> None: ...

    async def check_due(self) -> int: ...


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """Where a request goes and how it is cached; one per ``routes[i]``, and the default."""

    name: str  # "routes[2]", or "default"
    pool: str  # a name in origins, or "origin" (origin.url)
    # passes, HEAD refreshes, range requests; None: the origin the flow was built with
    upstream: Upstream | None
    # fills: with workers, through the key's owner worker; None: the fills' own origin
    fill_upstream: Upstream | None
    opts: PolicyOptions  # the node's, with this route's rules
    query: QueryRule = QueryRule()
    never_cache: bool = False
    ignore_client_no_cache: bool = False
    # routes[i].max_request_body: the largest upload taken; None: proxy.max_request_body
    max_request_body: int | None = None

    def key_target(self, target: str) -> str:
        return self.query.key_target(target)


def single_route(
    upstream: Upstream | None, opts: PolicyOptions, fill: Upstream | None = None
) -> Route:
    """The default route of a node without routes: one origin, no rule."""
    return Route("default", DEFAULT_POOL, upstream, fill or upstream, opts)


@dataclass(frozen=True, slots=True)
class Match:
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
        matches: tuple[Match, ...],
        default: Route,
        pools: Mapping[str, ServerPool],
        probes: tuple[Probe, ...],
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
        self._body_limits = any(r.max_request_body is not None for r in routes)
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

    def body_limit(self, host: str, target: str, default: int) -> int:
        """The largest request body the route of this Host and target takes: its
        ``max_request_body``, else ``default`` (``proxy.max_request_body``).

        The fronts ask once a head with a body is parsed, before reading any of it; with
        no route setting a limit it is ``default`` without selecting a route.
        """
        if not self._body_limits:
            return default
        limit = self.select(host, target).max_request_body
        return default if limit is None else limit

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

    @classmethod
    def single(cls, route: Route, base_key: KeyFunction) -> Routing:
        """A routing of the default route alone (no routes, no pools)."""
        return cls((), route, {}, (), base_key)


class RoutingCell:
    """The routing in use: the flow swaps it (:meth:`RequestFlow.use_routing`), purges and
    the workers' relay key by it, so all follow a reload at once."""

    __slots__ = ("routing",)

    def __init__(self, routing: Routing) -> None:
        self.routing = routing

    def key_for(self, scheme: str, host: str, target: str) -> str:
        return self.routing.key_for(scheme, host, target)
