"""The request flow: one client request as explicit states, one short step each.

    Lookup (memory) ─┬─ hit ──────────────────────── Serve ─┬─ (OpenBody) ─┐
    └─ Probe (store) ┼─ ServeStale (stale-while-revalidate) ┘              │
                     ├─ Fetch (miss, revalidate): a fill ─┬─ freshened: Serve
                     │                                    ├─ StaleOnError: Serve
                     │                                    └─ stored / passed ──┼─ Deliver
                     ├─ Pass (uncacheable request) ────────────────────────────┤
                     └─ Forward (other methods; RFC 9111 §4.4) ────────────────┘

Each step takes a frozen state and returns the next; :meth:`RequestFlow.handle`
drives them and ends in ``assert_never``. Steps that need no I/O are plain
functions, so a fresh memory hit goes from lookup to answer without an await.
Decisions come from ``edge.policy``;
fills (single flight, read-while-writer) from :mod:`edge.cache.fills`; every
answer from :mod:`edge.cache.deliver`. The flow never sees a web framework's
types: it takes a :class:`ProxyRequest` and a body stream and returns a
:class:`ProxyResponse`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import assert_never

import msgspec

from edge.cache.asking import OriginAsk
from edge.cache.deliver import Delivery, FromSpool, FromStore, Outcome
from edge.cache.fills import Fills
from edge.cache.forwarding import Forwarding
from edge.cache.head import HeadThrough
from edge.cache.misses import GroupInvalidator, KeyFunction, OriginSteps
from edge.cache.outcomes import Fill, Stored
from edge.cache.partial import PartialContent, forwards_range
from edge.cache.refresh import RefreshAhead
from edge.cache.routes import Routing, RoutingCell, single_route
from edge.cache.states import (
    Ask,
    AwaitFill,
    Deliver,
    Done,
    Fetch,
    FetchPart,
    Forward,
    HeadRefresh,
    Lookup,
    OpenBody,
    Pass,
    Probe,
    Serve,
    ServePart,
    ServeStale,
    StaleOnError,
    Step,
)
from edge.clock import Clock
from edge.errors import OnlyIfCachedMiss
from edge.models import BytesBody, Entry, ProxyRequest, ProxyResponse
from edge.origin.client import InterimSink, Upstream
from edge.policy.cache_control import EMPTY
from edge.policy.decide import LookupAction, decide_lookup
from edge.policy.fill import head_miss_passes
from edge.policy.keys import primary_key
from edge.policy.options import PolicyOptions
from edge.policy.request import analyze_request
from edge.policy.rules import RULE_NEVER_CACHE, ignoring_client_no_cache
from edge.policy.vary import select_variant
from edge.request_id import HEADER as REQUEST_ID
from edge.runtime.stats import Stats
from edge.runtime.topkeys import TopKeys
from edge.store.base import HitShortcut, Store

VersionLookup = Callable[[str], int]
CacheReady = Callable[[], bool]


_HIT = Outcome(hit=True)
_HIT_MEMORY = Outcome(hit=True, detail="memory")
_HIT_SPOOL = Outcome(hit=True, detail="spool")
_HIT_REFRESH = Outcome(hit=True, detail="refresh-ahead")


class RequestFlow:
    def __init__(
        self,
        *,
        store: Store,
        shortcut: HitShortcut,
        origin: Upstream,
        forwarding: Forwarding,
        clock: Clock,
        stats: Stats,
        fills: Fills,
        name: str,
        key_for: KeyFunction,
        cache_ready: CacheReady | None,
        invalidate_groups: GroupInvalidator | None,
        opts: PolicyOptions,
        max_part: int = 8 << 20,
        refresh: RefreshAhead | None = None,
        routing: RoutingCell | None = None,
    ) -> None:
        self.store = store
        self.shortcut = shortcut
        self.origin = origin
        self.fwd = forwarding
        self.clock = clock
        self.stats = stats
        self.fills = fills
        self.delivery = Delivery(name, forwarding)
        # routes, pools and cache rules (edge.cache.routes): swapped whole by use_routing
        self._cell = routing or RoutingCell(Routing.single(single_route(None, opts), key_for))
        #: the cache key of (scheme, host, target): the routing's (the hot path reads it)
        self.key_for: KeyFunction = self._cell.routing.key_for
        # False while a clustered node has not caught up on purges: it must not serve its cache
        self.cache_ready = cache_ready
        self._grace = opts.stale_on_error  # RFC 9111 §4.2.4, cache.serve_stale_on_error
        self._origin = OriginSteps(
            ask=OriginAsk(origin, clock, stats),
            forwarding=forwarding,
            store=store,
            clock=clock,
            stats=stats,
            fills=fills,
            head=HeadThrough(
                origin=origin,
                forwarding=forwarding,
                store=store,
                clock=clock,
                opts=opts,
                stats=stats,
            ),
            key_for=self._key,
            invalidate_groups=invalidate_groups,
        )
        self.top = TopKeys()  # the URLs answered from the cache most (the dashboard's top keys)
        # refresh-ahead of popular entries near expiry (edge.cache.refresh); fraction 0: off
        self.refresh = refresh if refresh is not None else RefreshAhead(0.0, 1)
        self._partial = PartialContent(
            origin=origin,
            forwarding=forwarding,
            store=store,
            shortcut=shortcut,
            clock=clock,
            opts=opts,
            stats=stats,
            fills=fills,
            max_part=max_part,
        )

    def use_routing(self, routing: Routing) -> Routing:
        """Route new requests with ``routing`` (a reload); requests under way keep theirs.

        Returns the routing it replaces.
        """
        old, self._cell.routing = self._cell.routing, routing
        self.key_for = routing.key_for
        return old

    @property
    def routing(self) -> Routing:
        return self._cell.routing

    def _key(self, scheme: str, host: str, target: str) -> str:
        return self.key_for(scheme, host, target)

    # -- the driver -------------------------------------------------------------
    async def handle(
        self,
        req: ProxyRequest,
        body: AsyncIterator[bytes] | None,
        interim: InterimSink | None = None,
    ) -> ProxyResponse:
        """Answer ``req``. ``interim`` (from the front) receives the origin's 1xx responses
        to this request, if it passes or starts a fill, before the answer is returned."""
        self.stats.requests += 1
        self.fwd.check_loop(req)
        if req.target == "*":  # asterisk-form: only OPTIONS gets here (both fronts check)
            return self.delivery.server_options()
        step: Step = self._start(req, body, interim)
        while True:
            match step:  # the hit path's steps first: no await between lookup and answer
                case Lookup():
                    step = self._lookup(step)
                case Serve():
                    step = self._serve(step)
                case Deliver():
                    resp = self.delivery.answer(step.ask.facts, step.source, step.outcome)
                    if not step.outcome.hit and req.request_id:
                        # the origin saw this id: the client gets it to quote (not on hits,
                        # which the hot path answers byte for byte the same)
                        resp.headers[REQUEST_ID] = req.request_id
                    return resp
                case Probe():
                    step = await self._probe(step)
                case OpenBody():
                    step = await self._open_body(step)
                case ServeStale():
                    step = self._serve_stale(step)
                case Fetch():
                    step = await self._origin.fetch(step)
                case AwaitFill():
                    await step.finished.wait()
                    step = Lookup(step.ask)
                case HeadRefresh():
                    step = await self._origin.head_refresh(step)
                case StaleOnError():
                    step = self._origin.stale_on_error(step)
                case ServePart():
                    step = await self._partial.serve(step)
                case FetchPart():
                    step = await self._partial.fetch(step)
                case Pass():
                    step = await self._origin.pass_through(step)
                case Forward():
                    step = await self._origin.forward(step)
                case Done():
                    return step.response
                case _:
                    assert_never(step)

    def _start(
        self, req: ProxyRequest, body: AsyncIterator[bytes] | None, interim: InterimSink | None
    ) -> Step:
        routing = self._cell.routing
        route = routing.select(req.host, req.target)
        facts = analyze_request(req.method, req.headers)
        if route.ignore_client_no_cache and facts.cc is not EMPTY:
            # a route's rule (edge.policy.rules): a browser's reload is answered from cache
            facts = dataclasses.replace(facts, cc=ignoring_client_no_cache(facts.cc))
        key = routing.route_key(route, req.scheme, req.host, req.target)
        ask = Ask(req, facts, key, route, body, interim)
        if req.method != "GET" and req.method != "HEAD":
            return Forward(ask)
        if self.cache_ready is not None and not self.cache_ready():
            self.stats.passes += 1
            return Pass(ask, "bypass", "catching-up")
        if route.never_cache:
            self.stats.passes += 1
            return Pass(ask, "bypass", RULE_NEVER_CACHE)
        return Lookup(ask)

    # -- the steps --------------------------------------------------------------
    def _lookup(self, step: Lookup) -> Step:
        entries = self.shortcut.lookup_sync(step.ask.key)
        if entries is None:
            if self.fills.hit_for_miss(step.ask.key):
                # its last answer could not be stored: a miss without asking the disk tier
                # (a thread hop per request), as Varnish's hit-for-miss objects make one
                return self._decide(step.ask, ())
            return Probe(step.ask)
        return self._decide(step.ask, entries)

    async def _probe(self, step: Probe) -> Step:
        return self._decide(step.ask, await self.store.variants(step.ask.key))

    def _decide(self, ask: Ask, entries: Sequence[Entry]) -> Step:
        entry = select_variant(entries, ask.req.headers) if entries else None
        decision = decide_lookup(
            ask.facts,
            entry,
            self.clock.now(),
            vary_miss=bool(entries) and entry is None,
            stale_on_error=self._grace,
        )
        action = decision.action
        partial = entry is not None and bool(entry.parts)
        if action is LookupAction.MISS or action is LookupAction.REVALIDATE or partial:
            filling = self.fills.delivered(ask.key, ask.req.headers)
            if filling is not None:  # a newer response is arriving: it is what is stored
                return self._filling(ask, *filling)
        if partial:  # a stored 206 (RFC 9111 §3.3)
            assert entry is not None
            return self._partial.decide(ask, entry, decision)
        if action is LookupAction.MISS and forwards_range(ask.facts):
            self.stats.misses += 1  # asked upstream as a range request, not a whole fill
            return FetchPart(ask, decision, None)
        if action is LookupAction.HIT:
            assert entry is not None  # decide_lookup hits only with an entry
            self.stats.hits += 1
            refresh = self.refresh
            if (
                refresh.fraction
                and refresh.due(entry, decision.ttl)
                and decision.detail == "fresh"
                and ask.facts.method == "GET"
                and self._refresh_ahead(ask, entry)
            ):
                return Serve(ask, entry, _HIT_REFRESH, decision)
            return Serve(ask, entry, _HIT, decision)
        if action is LookupAction.STALE_WHILE_REVALIDATE:
            assert entry is not None
            self.stats.stale += 1
            return ServeStale(ask, entry, decision)
        if action is LookupAction.REVALIDATE:
            assert entry is not None
            if ask.facts.method == "HEAD":
                return HeadRefresh(ask, entry, decision)
            return Fetch(ask, decision, entry)
        if action is LookupAction.MISS:
            self.stats.misses += 1
            if head_miss_passes(ask.req.method):
                return Pass(ask, decision.fwd or "uri-miss", "head-miss")
            return Fetch(ask, decision, None)
        if action is LookupAction.PASS:
            self.stats.passes += 1
            return Pass(ask, decision.fwd or "bypass", decision.detail)
        if action is LookupAction.UNSATISFIABLE:
            raise OnlyIfCachedMiss("only-if-cached: nothing usable is stored for this request")
        assert_never(action)

    def _refresh_ahead(self, ask: Ask, entry: Entry) -> bool:
        """Start a background refresh of this fresh, popular entry near its end, if due."""
        if not self.refresh.wants(ask.key, entry):
            return False
        if not self.fills.start_background(
            ask.key, ask.req, ask.facts, entry, on_outcome=self._refreshed, route=ask.route
        ):
            return False  # one is running for the key, or the node's cap is reached
        self.refresh.started(ask.key, entry)
        self.stats.refresh_ahead += 1
        return True

    def _refreshed(self, outcome: str) -> None:
        stats = self.stats
        if outcome == "freshened":
            stats.refresh_ahead_freshened += 1
        elif outcome == "replaced":
            stats.refresh_ahead_replaced += 1
        else:
            stats.refresh_ahead_failed += 1

    def _filling(self, ask: Ask, fill: Fill, stored: Stored) -> Step:
        """Look up the response a fill is storing as if it were stored already.

        Reusable for this request: answered from the spool as it fills (a hit,
        read-while-writer). Otherwise (it needs validation, RFC 9111 §4.2, §5.2):
        wait for the commit and look up again, so the request validates the
        stored response itself instead of reusing a response it did not ask for.
        """
        now = self.clock.now()
        entry = stored.entry
        if decide_lookup(ask.facts, entry, now).action is not LookupAction.HIT:
            return AwaitFill(ask, fill.finished)
        self.stats.hits += 1
        source = FromSpool(entry, stored.status, stored.reason, stored.headers, stored.spool, now)
        return Deliver(ask, source, _HIT_SPOOL)

    def _serve_stale(self, step: ServeStale) -> Step:
        ask = step.ask
        self.fills.start_background(ask.key, ask.req, ask.facts, step.entry, route=ask.route)
        outcome = Outcome(hit=True, detail=step.decision.detail)
        return Serve(ask, step.entry, outcome, step.decision)

    def _serve(self, step: Serve) -> Step:
        ask, entry, outcome = step.ask, step.entry, step.outcome
        data = self.shortcut.body_sync(entry)
        if outcome.detail is None:  # Cache-Status names the tier that answered
            if data is not None and outcome is _HIT:
                outcome = _HIT_MEMORY
            else:
                tier = "memory" if data is not None else self.shortcut.tier_of(entry)
                outcome = msgspec.structs.replace(outcome, detail=tier or step.decision.detail)
        facts = ask.facts
        if facts.method == "GET" and not facts.conditional:
            sends_body = True  # the common case, without evaluating anything
        else:
            sends_body = self.delivery.needs_body(facts, entry)
        self.top.record(entry.url, entry.body_size if sends_body else 0)
        if data is not None:
            source = FromStore(entry, BytesBody(data), self.clock.now())
        elif sends_body:
            return OpenBody(ask, entry, outcome, step.decision)
        else:
            source = FromStore(entry, None, self.clock.now())
        if sends_body:
            self._count_sent(entry)
        return Deliver(ask, source, outcome)

    async def _open_body(self, step: OpenBody) -> Step:
        ask, entry = step.ask, step.entry
        body = await self.store.open_body(entry)
        if body is None:  # evicted or damaged between lookup and read: fetch it again
            await self.store.remove(ask.key, entry.variant)
            self.stats.misses += 1
            return Fetch(ask, step.decision, None)
        self._count_sent(entry)
        return Deliver(ask, FromStore(entry, body, self.clock.now()), step.outcome)

    def _count_sent(self, entry: Entry) -> None:
        stats = self.stats
        stats.bytes_from_cache += entry.body_size
        if entry.coding:  # edge compression: what the identity body would have been
            stats.compression_saved_bytes += entry.source_size - entry.body_size


def cache_key_function(version_for: VersionLookup) -> KeyFunction:
    """The primary cache key of (scheme, host, target), with its prefix's current version."""

    def key_for(scheme: str, host: str, target: str) -> str:
        return primary_key(scheme, host, target, version_for(target.split("?", 1)[0]))

    return key_for
