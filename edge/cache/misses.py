"""The flow's steps that ask the origin: fills, HEAD refreshes, passes and other methods.

:class:`OriginSteps` takes the states of :mod:`edge.cache.states` that need the origin
(``Fetch``, ``HeadRefresh``, ``StaleOnError``, ``Pass``, ``Forward``) and returns the
next one, as the steps of :class:`~edge.cache.flow.RequestFlow` do; the flow's driver
calls them. Collapsing and storing are the fills' (:mod:`edge.cache.fills`); stale
content on an origin error is RFC 9111 §4.2.4 and RFC 5861 §4 (``serves_stale_on``);
invalidation after an unsafe method is RFC 9111 §4.4 and RFC 9875.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import assert_never

import msgspec
from multidict import CIMultiDict

from edge.cache.asking import OriginAsk
from edge.cache.deliver import FromOrigin, FromSpool, Outcome
from edge.cache.fills import Fills
from edge.cache.forwarding import Forwarding
from edge.cache.head import HeadThrough, Refreshed
from edge.cache.outcomes import Freshened, PassThrough, Stored, Uncacheable, outcome_of
from edge.cache.stale_log import StaleLog
from edge.cache.states import (
    Ask,
    Deliver,
    Fetch,
    Forward,
    HeadRefresh,
    Pass,
    Serve,
    StaleOnError,
    Step,
)
from edge.clock import Clock
from edge.errors import UpstreamError
from edge.models import ProxyRequest
from edge.origin.client import OriginResponse
from edge.policy.fill import group_invalidation_applies, serves_stale_on, unsafe
from edge.policy.invalidate import invalidation_urls
from edge.policy.keys import normalize_url
from edge.policy.tags import group_invalidations
from edge.policy.vary import entry_variant
from edge.runtime.stats import Stats
from edge.store.base import Store

KeyFunction = Callable[[str, str, str], str]
GroupInvalidator = Callable[..., Awaitable[int]]


class OriginSteps:
    def __init__(
        self,
        *,
        ask: OriginAsk,
        forwarding: Forwarding,
        store: Store,
        clock: Clock,
        stats: Stats,
        fills: Fills,
        head: HeadThrough,
        key_for: KeyFunction,
        invalidate_groups: GroupInvalidator | None,
    ) -> None:
        self._ask = ask
        self.fwd = forwarding
        self.store = store
        self.clock = clock
        self.stats = stats
        self.fills = fills
        self._head = head
        self.key_for = key_for
        # RFC 9875 Cache-Group-Invalidation, applied by the invalidator
        self._invalidate_groups = invalidate_groups
        self._stale_log = StaleLog(clock)

    async def fetch(self, step: Fetch) -> Step:
        ask, decision, stale = step.ask, step.decision, step.stale
        fill, collapsed = self.fills.join_or_start(
            ask.key, ask.req, ask.facts, stale, interim=ask.interim, route=ask.route
        )
        try:
            result = await outcome_of(fill, collapsed)
            if collapsed and isinstance(result, Stored | Freshened):
                want = entry_variant(result.entry, ask.req.headers)
                if result.entry.variant != want:
                    # the response varies and this request selects another variant: it
                    # needs its own fill (collapsing with others that want the same one)
                    fill, collapsed = self.fills.join_or_start(
                        ask.key,
                        ask.req,
                        ask.facts,
                        stale,
                        variant=want,
                        interim=ask.interim,
                        route=ask.route,
                    )
                    result = await outcome_of(fill, collapsed)
        except UpstreamError:
            if stale is not None and decision.stale_if_error:
                return StaleOnError(ask, stale, decision, None)
            raise
        fwd = decision.fwd or "uri-miss"
        match result:
            case Stored():
                if stale is not None and decision.stale_if_error and serves_stale_on(result.status):
                    return StaleOnError(ask, stale, decision, result.status)
                detail = result.detail if result.detail != "stored" else None
                outcome = Outcome(
                    fwd=fwd,
                    fwd_status=result.status,
                    stored=True,
                    collapsed=collapsed,
                    detail=detail,
                )
                source = FromSpool(
                    result.entry,
                    result.status,
                    result.reason,
                    result.headers,
                    result.spool,
                    # a follower asked nothing upstream itself: no time of its own
                    upstream_time=None if collapsed else result.upstream_time,
                )
                return Deliver(ask, source, outcome)
            case Freshened():
                outcome = Outcome(
                    fwd=decision.fwd or "stale", fwd_status=304, detail=decision.detail
                )
                return Serve(ask, result.entry, outcome, decision)
            case PassThrough():
                resp = result.response
                if stale is not None and decision.stale_if_error and serves_stale_on(resp.status):
                    resp.close()
                    return StaleOnError(ask, stale, decision, resp.status)
                outcome = Outcome(fwd=decision.fwd, detail=result.detail or None)
                return Deliver(ask, FromOrigin(resp, preconditions_sent=False), outcome)
            case Uncacheable():  # a follower: this response was not for sharing
                if stale is not None and decision.stale_if_error and serves_stale_on(result.status):
                    return StaleOnError(ask, stale, decision, result.status)
                return Pass(ask, fwd, "uncacheable")
            case _:
                assert_never(result)

    async def head_refresh(self, step: HeadRefresh) -> Step:
        ask, entry, decision = step.ask, step.entry, step.decision
        try:
            result = await self._head.refresh(ask.key, ask.req, entry, ask.route)
        except UpstreamError:
            if decision.stale_if_error:
                return StaleOnError(ask, entry, decision, None)
            raise
        if isinstance(result, Refreshed):
            fwd = decision.fwd or "stale"
            outcome = Outcome(fwd=fwd, fwd_status=result.status, detail=decision.detail)
            return Serve(ask, result.entry, outcome, decision)
        resp = result.response
        if decision.stale_if_error and serves_stale_on(resp.status):
            resp.close()
            return StaleOnError(ask, entry, decision, resp.status)
        outcome = Outcome(fwd=decision.fwd, detail=decision.detail)
        return Deliver(ask, FromOrigin(resp, preconditions_sent=False), outcome)

    def stale_on_error(self, step: StaleOnError) -> Step:
        self.stats.stale += 1
        self._stale_log.note(step.entry.url, step.status)
        outcome = Outcome(fwd="stale", fwd_status=step.status, detail="stale-if-error")
        return Serve(step.ask, step.entry, outcome, step.decision)

    async def pass_through(self, step: Pass) -> Step:
        ask = step.ask
        resp = await self._send(ask)
        outcome = Outcome(fwd=step.fwd, detail=step.detail)
        return Deliver(ask, FromOrigin(resp, preconditions_sent=True), outcome)

    async def forward(self, step: Forward) -> Step:
        ask = step.ask
        self.stats.passes += 1
        request_time = self.clock.now()
        resp = await self._send(ask)
        if unsafe(ask.req.method):
            await self.invalidate_after(ask.req, resp.status, resp.headers)
        if ask.req.method == "POST":  # RFC 9110 §9.3.3: it may answer later GETs
            stored = self.fills.adopt(
                ask.key, ask.req, ask.facts, resp, request_time, self.clock.now(), ask.route
            )
            if stored is not None:
                outcome = Outcome(fwd="method", fwd_status=stored.status, stored=True)
                source = FromSpool(
                    stored.entry, stored.status, stored.reason, stored.headers, stored.spool
                )
                answered = msgspec.structs.replace(ask, facts=ask.facts.answered_upstream())
                return Deliver(answered, source, outcome)
        outcome = Outcome(fwd="method")
        return Deliver(ask, FromOrigin(resp, preconditions_sent=True), outcome)

    async def _send(self, ask: Ask) -> OriginResponse:
        req = ask.req
        return await self._ask.passing(
            req.method,
            req.target,
            self.fwd.upstream(req),
            ask.body,
            ask.key,
            ask.interim,
            ask.route.upstream,
        )

    # -- invalidation after unsafe methods -----------------------------------------
    async def invalidate_after(
        self, req: ProxyRequest, status: int, headers: CIMultiDict[str]
    ) -> int:
        urls = invalidation_urls(
            method=req.method, status=status, request_url=req.url, resp_headers=headers
        )
        removed = 0
        for url in urls:
            scheme, host, target = normalize_url(url, req.scheme, req.host)
            removed += await self.store.remove(self.key_for(scheme, host, target))
        if self._invalidate_groups is not None and group_invalidation_applies(req.method, status):
            groups = group_invalidations(headers)
            if groups:
                origin = f"{req.scheme}://{req.host}"
                removed += await self._invalidate_groups(groups, origin=origin)
        self.stats.invalidations += removed
        return removed
