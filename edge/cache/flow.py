"""The cache engine: the one place where policy meets I/O.

It takes a :class:`ProxyRequest` and a request body stream and returns a
:class:`ProxyResponse`; it never sees a web framework's types. Every decision
comes from ``edge.policy`` as data, and :meth:`CacheEngine.handle` acts on it
with a ``match`` that ends in ``assert_never``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import assert_never

from multidict import CIMultiDict

from edge.cache.bodies import close_body, entry_headers, multipart_body, slice_body
from edge.cache.fills import Fetcher, FillHead, HeadKind
from edge.cache.forwarding import Forwarding
from edge.clock import Clock
from edge.errors import OnlyIfCachedMiss, UpstreamError
from edge.models import (
    BodySource,
    BytesBody,
    Entry,
    ProxyRequest,
    ProxyResponse,
    StreamBody,
)
from edge.origin.client import OriginResponse, Upstream
from edge.policy.cache_status import cache_status
from edge.policy.conditional import (
    ConditionalResult,
    evaluate_conditionals,
    not_modified_fields,
    not_modified_headers,
    response_conditionals,
)
from edge.policy.decide import LookupAction, LookupDecision, decide_lookup
from edge.policy.invalidate import invalidation_urls
from edge.policy.keys import normalize_url, primary_key, url_of_key
from edge.policy.options import PolicyOptions
from edge.policy.ranges import RangeDecision, evaluate_range
from edge.policy.request import RequestFacts, analyze_request
from edge.policy.tags import group_invalidations
from edge.policy.vary import select_variant, variant_key
from edge.runtime.stats import Stats
from edge.store.base import Store

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
VersionLookup = Callable[[str], int]


class CacheEngine:
    def __init__(
        self,
        *,
        store: Store,
        origin: Upstream,
        forwarding: Forwarding,
        clock: Clock,
        opts: PolicyOptions,
        stats: Stats,
        fetcher: Fetcher,
        version_for: VersionLookup | None = None,
    ) -> None:
        self.store = store
        self.origin = origin
        self.fwd = forwarding
        self.clock = clock
        self.opts = opts
        self.stats = stats
        self.fetcher = fetcher
        self._version_for = version_for or (lambda path: 0)
        self._name = opts.cache_name
        # the memory tier's synchronous shortcuts, when the store has them (the hit path)
        self._lookup_sync: Callable[[str], Sequence[Entry] | None] | None = getattr(
            store, "lookup_sync", None
        )
        self._body_sync: Callable[[Entry], bytes | None] | None = getattr(store, "body_sync", None)
        self._tier_of: Callable[[Entry], str | None] | None = getattr(store, "tier_of", None)
        # False while a clustered node has not caught up on purges: it must not serve its cache
        self.cache_ready: Callable[[], bool] | None = None
        # RFC 9875 Cache-Group-Invalidation, applied by the invalidator when wired
        self.invalidate_groups: Callable[..., Awaitable[int]] | None = None

    def key_for(self, scheme: str, host: str, target: str) -> str:
        return primary_key(scheme, host, target, self._version_for(target.split("?", 1)[0]))

    # -- entry point ----------------------------------------------------------
    async def handle(self, req: ProxyRequest, body: AsyncIterator[bytes] | None) -> ProxyResponse:
        self.stats.requests += 1
        self.fwd.check_loop(req)
        facts = analyze_request(req.method, req.headers)
        if req.method not in ("GET", "HEAD"):
            return await self._forward(req, body, facts)
        key = self.key_for(req.scheme, req.host, req.target)
        if self.cache_ready is not None and not self.cache_ready():
            self.stats.passes += 1
            return await self._pass(req, None, "bypass", "catching-up", key=key)
        entries = self._lookup_sync(key) if self._lookup_sync is not None else None
        if entries is None:
            entries = await self.store.variants(key)
        entry = select_variant(entries, req.headers) if entries else None
        decision = decide_lookup(
            facts, entry, self.clock.now(), vary_miss=bool(entries) and entry is None
        )
        action = decision.action
        if action is LookupAction.HIT:
            assert entry is not None
            self.stats.hits += 1
            return await self._serve_stored(req, facts, key, entry, decision)
        if action is LookupAction.STALE_WHILE_REVALIDATE:
            assert entry is not None
            self.stats.stale += 1
            self.fetcher.start_background(key, req, facts, entry)
            return await self._serve_stored(
                req, facts, key, entry, decision, detail=decision.detail
            )
        if action is LookupAction.REVALIDATE:
            assert entry is not None
            return await self._fetch(req, facts, key, decision, stale=entry)
        if action is LookupAction.MISS:
            self.stats.misses += 1
            if req.method == "HEAD":
                return await self._pass(req, None, decision.fwd, "head-miss", key=key)
            return await self._fetch(req, facts, key, decision, stale=None)
        if action is LookupAction.PASS:
            self.stats.passes += 1
            return await self._pass(req, body, decision.fwd, decision.detail, key=key)
        if action is LookupAction.UNSATISFIABLE:
            raise OnlyIfCachedMiss("only-if-cached: nothing usable is stored for this request")
        assert_never(action)

    # -- answers from the store --------------------------------------------
    async def _serve_stored(
        self,
        req: ProxyRequest,
        facts: RequestFacts,
        key: str,
        entry: Entry,
        decision: LookupDecision,
        *,
        detail: str | None = None,
        fwd: str | None = None,
        fwd_status: int | None = None,
    ) -> ProxyResponse:
        age = max(0.0, entry.initial_age + (self.clock.now() - entry.response_time))
        ttl = (0.0 if entry.invalidated else entry.lifetime) - age
        data = self._body_sync(entry) if self._body_sync is not None else None
        if data is not None:
            tier: str | None = "memory"
        else:
            tier = self._tier_of(entry) if self._tier_of is not None else None
        status_value = cache_status(
            self._name,
            hit=fwd is None,
            fwd=fwd,
            fwd_status=fwd_status,
            ttl=ttl,
            detail=detail or tier or decision.detail,
        )
        cond = evaluate_conditionals(facts, entry)
        if cond is ConditionalResult.NOT_MODIFIED:
            headers = CIMultiDict(not_modified_headers(entry))
            headers["Age"] = str(int(age))
            return self._finish(304, headers, status_value, None, reason="Not Modified")
        if cond is ConditionalResult.PRECONDITION_FAILED:
            return self._finish(
                412, CIMultiDict(), status_value, None, reason="Precondition Failed"
            )
        headers = entry_headers(entry, age)
        if req.method == "HEAD":
            headers["Content-Length"] = str(entry.body_size)
            return self._finish(entry.status, headers, status_value, None, reason=entry.reason)
        body = BytesBody(data) if data is not None else await self.store.open_body(entry)
        if body is None:  # evicted or damaged between lookup and read: fetch it again
            await self.store.remove(key, entry.variant)
            self.stats.misses += 1
            return await self._fetch(req, facts, key, decision, stale=None)
        self.stats.bytes_from_cache += entry.body_size
        resp = self._finish(entry.status, headers, status_value, body, reason=entry.reason)
        if entry.status == 200 and facts.range is not None:
            return self._apply_range(resp, facts, entry, body)
        return resp

    def _apply_range(
        self, resp: ProxyResponse, facts: RequestFacts, entry: Entry, body: BodySource
    ) -> ProxyResponse:
        size = entry.body_size
        rd = _range_of(facts, entry, size, resp.headers)
        if rd.kind == "full":
            return resp
        headers = resp.headers
        headers.popall("Content-Length", None)
        if rd.kind == "unsatisfiable":
            close_body(body)
            headers = CIMultiDict({"Content-Range": f"bytes */{size}"})
            headers["Cache-Status"] = resp.headers.getall("Cache-Status", [""])[-1]
            return ProxyResponse(416, self.fwd.downstream(headers), reason="Range Not Satisfiable")
        if len(rd.ranges) == 1:
            first, last = rd.ranges[0]
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            return ProxyResponse(206, headers, slice_body(body, first, last), "Partial Content")
        ctype, mbody = multipart_body(body, rd.ranges, size, headers.get("Content-Type"))
        headers["Content-Type"] = ctype
        return ProxyResponse(206, headers, mbody, "Partial Content")

    # -- answers from the origin, through a fill ----------------------------
    async def _fetch(
        self,
        req: ProxyRequest,
        facts: RequestFacts,
        key: str,
        decision: LookupDecision,
        *,
        stale: Entry | None,
    ) -> ProxyResponse:
        fill, collapsed = self.fetcher.join_or_start(key, req, facts, stale)
        try:
            head = await asyncio.shield(fill.head)
            if collapsed and head.entry is not None:
                want = variant_key(head.entry.vary, req.headers)
                if head.entry.variant != want:
                    # the response varies and this request selects another variant: it
                    # needs its own fill (collapsing with others that want the same one)
                    fill, collapsed = self.fetcher.join_or_start(
                        key, req, facts, stale, variant=want
                    )
                    head = await asyncio.shield(fill.head)
        except UpstreamError as exc:
            if stale is not None and decision.stale_if_error:
                return await self._serve_stale_on_error(req, facts, key, stale, decision, 0)
            raise exc
        if stale is not None and head.status >= 500 and decision.stale_if_error:
            if not collapsed and (resp := head.take_response()) is not None:
                resp.close()
            return await self._serve_stale_on_error(req, facts, key, stale, decision, head.status)
        if head.kind is HeadKind.NOT_MODIFIED:
            assert head.entry is not None
            return await self._serve_stored(
                req,
                facts,
                key,
                head.entry,
                decision,
                fwd=decision.fwd or "stale",
                fwd_status=304,
                detail=decision.detail,
            )
        if head.kind is HeadKind.PASS:
            resp = None if collapsed else head.take_response()
            if resp is None:  # a follower: this response was not for sharing
                return await self._pass(req, None, decision.fwd, "uncacheable", key=key)
            if req.method == "HEAD":  # headers only: never read a body nobody wants
                resp.close()
                status_value = cache_status(
                    self._name,
                    hit=False,
                    fwd=decision.fwd,
                    fwd_status=resp.status,
                    detail=head.store_detail or None,
                )
                return self._finish(resp.status, CIMultiDict(resp.headers), status_value, None)
            if facts.conditional and 200 <= resp.status < 300:
                answer = self._precondition_answer(facts, resp, decision.fwd, head.store_detail)
                if answer is not None:
                    return answer
            return self._stream(resp, decision.fwd, head.store_detail, stored=False)
        if head.kind is HeadKind.SPOOL:
            return self._serve_spool(req, facts, head, decision, collapsed)
        assert_never(head.kind)

    def _precondition_answer(
        self, facts: RequestFacts, resp: OriginResponse, fwd: str | None, detail: str
    ) -> ProxyResponse | None:
        """304/412 for the client's preconditions, which the fill did not send upstream.

        RFC 9110 §13.2.1: they must be evaluated before the response is sent.
        """
        cond = response_conditionals(facts, resp.headers)
        if cond is ConditionalResult.NONE:
            return None
        resp.close()
        status_value = cache_status(
            self._name, hit=False, fwd=fwd, fwd_status=resp.status, detail=detail or None
        )
        if cond is ConditionalResult.NOT_MODIFIED:
            headers = CIMultiDict(not_modified_fields(resp.headers))
            return self._finish(304, headers, status_value, None, reason="Not Modified")
        return self._finish(412, CIMultiDict(), status_value, None, reason="Precondition Failed")

    def _serve_spool(
        self,
        req: ProxyRequest,
        facts: RequestFacts,
        head: FillHead,
        decision: LookupDecision,
        collapsed: bool,
    ) -> ProxyResponse:
        entry, spool = head.entry, head.spool
        assert entry is not None and spool is not None
        status_value = cache_status(
            self._name,
            hit=False,
            fwd=decision.fwd or "uri-miss",
            fwd_status=head.status,
            stored=True,
            collapsed=collapsed,
            detail=head.store_detail if head.store_detail != "stored" else None,
        )
        headers = CIMultiDict(head.headers)
        cond = evaluate_conditionals(facts, entry)
        if cond is ConditionalResult.NOT_MODIFIED:
            nm = CIMultiDict(not_modified_headers(entry))
            return self._finish(304, nm, status_value, None, reason="Not Modified")
        if cond is ConditionalResult.PRECONDITION_FAILED:
            return self._finish(
                412, CIMultiDict(), status_value, None, reason="Precondition Failed"
            )
        length = entry.body_size if "Content-Length" in headers else None
        if facts.range is not None and head.status == 200 and length is not None:
            rd = _range_of(facts, entry, length, headers)
            if rd.kind == "partial" and len(rd.ranges) == 1:
                first, last = rd.ranges[0]
                headers["Content-Range"] = f"bytes {first}-{last}/{length}"
                headers["Content-Length"] = str(last - first + 1)
                body = StreamBody(spool.reader(first, last + 1), last - first + 1)
                return self._finish(206, headers, status_value, body, reason="Partial Content")
            if rd.kind == "unsatisfiable":
                h = CIMultiDict({"Content-Range": f"bytes */{length}"})
                return self._finish(416, h, status_value, None, reason="Range Not Satisfiable")
        if req.method == "HEAD":  # headers only; the fill goes on storing the body
            return self._finish(head.status, headers, status_value, None, reason=head.reason)
        body = StreamBody(spool.reader(), length)
        return self._finish(head.status, headers, status_value, body, reason=head.reason)

    async def _serve_stale_on_error(
        self,
        req: ProxyRequest,
        facts: RequestFacts,
        key: str,
        stale: Entry,
        decision: LookupDecision,
        status: int,
    ) -> ProxyResponse:
        self.stats.stale += 1
        return await self._serve_stored(
            req,
            facts,
            key,
            stale,
            decision,
            fwd="stale",
            fwd_status=status or None,
            detail="stale-if-error",
        )

    # -- straight to the origin -------------------------------------------------
    async def _pass(
        self,
        req: ProxyRequest,
        body: AsyncIterator[bytes] | None,
        fwd: str | None,
        detail: str | None,
        *,
        key: str | None = None,
    ) -> ProxyResponse:
        headers = self.fwd.upstream(req)
        self.stats.origin_requests += 1
        route = url_of_key(key or self.key_for(req.scheme, req.host, req.target))
        try:
            resp = await self.origin.fetch(req.method, req.target, headers, body, key=route)
        except UpstreamError:
            self.stats.origin_errors += 1
            raise
        return self._stream(resp, fwd or "bypass", detail, stored=False)

    async def _forward(
        self, req: ProxyRequest, body: AsyncIterator[bytes] | None, facts: RequestFacts
    ) -> ProxyResponse:
        """Methods the cache does not answer; unsafe ones invalidate (RFC 9111 §4.4)."""
        self.stats.passes += 1
        resp = await self._pass(req, body, "method", None)
        if req.method not in SAFE_METHODS:
            await self.invalidate_after(req, resp.status, resp.headers)
        return resp

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
        groups = group_invalidations(headers)
        if groups and 200 <= status < 400 and self.invalidate_groups is not None:
            removed += await self.invalidate_groups(groups, origin=f"{req.scheme}://{req.host}")
        self.stats.invalidations += removed
        return removed

    def _stream(
        self, resp: OriginResponse, fwd: str | None, detail: str | None, *, stored: bool
    ) -> ProxyResponse:
        status_value = cache_status(
            self._name,
            hit=False,
            fwd=fwd,
            fwd_status=resp.status,
            stored=stored,
            detail=detail or None,
        )
        body = StreamBody(resp.chunks(), resp.content_length)
        out = self._finish(
            resp.status, CIMultiDict(resp.headers), status_value, body, reason=resp.reason
        )
        out.upstream_status = resp.status
        return out

    def _finish(
        self,
        status: int,
        headers: CIMultiDict[str],
        status_value: str,
        body: BodySource | None,
        *,
        reason: str = "",
    ) -> ProxyResponse:
        headers.add("Cache-Status", status_value)
        out = ProxyResponse(status, self.fwd.downstream(headers), body or BytesBody(b""), reason)
        out.cache_status = status_value
        return out


def _range_of(
    facts: RequestFacts, entry: Entry, size: int, headers: CIMultiDict[str]
) -> RangeDecision:
    """The client's Range (and If-Range) against a full response of ``size`` bytes."""
    return evaluate_range(
        facts.range,
        facts.if_range,
        size=size,
        etag=entry.etag,
        last_modified=entry.last_modified,
        date=headers.get("Date"),
    )
