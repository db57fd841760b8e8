"""Fills: one origin request on behalf of every client that wants a key at once.

A fill runs as its own task, so a client that goes away does not break it for
the others (request collapsing, RFC 9111 §4). It ends in one frozen outcome:

- :class:`Stored`: a storable response; its body streams into a
  :class:`~edge.cache.spool.Spool` that every waiting client reads, and is
  committed to the store once complete and length-checked (never when it broke off);
- :class:`Freshened`: a 304 that freshened the stored entry (RFC 9111 §4.3.4);
- :class:`Uncacheable`: a response the cache must not share. The client that
  started the fill gets it as :class:`PassThrough` (with the response to stream);
  the others see :class:`Uncacheable` and go to the origin themselves.

:class:`Fills` is the registry: at most one fill per key (or per key and Vary
variant), hit-for-miss memory, and the tasks, drained and cancelled on shutdown.
The outcome types and :class:`Fill` live in :mod:`edge.cache.outcomes`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

from multidict import CIMultiDict

from edge.cache.asking import OriginAsk
from edge.cache.compress import Compression
from edge.cache.forwarding import Forwarding
from edge.cache.hit_for_miss import HitForMiss
from edge.cache.intake import Body, Intake, hint_sink
from edge.cache.outcomes import (
    Fill,
    Freshened,
    Own,
    PassThrough,
    Shared,
    Stored,
    Uncacheable,
    fail,
    stored_of,
)
from edge.cache.routes import Route
from edge.clock import Clock
from edge.errors import EdgeError, UpstreamBodyError
from edge.models import Entry, ProxyRequest
from edge.origin.client import InterimSink, OriginResponse, Upstream
from edge.policy.decide import conditional_headers, decide_store, freshen, matches_304
from edge.policy.fill import CLIENT_ONLY_FIELDS, joins_running_fill
from edge.policy.headers import AnyHeaders
from edge.policy.options import PolicyOptions
from edge.policy.request import RequestFacts
from edge.policy.vary import entry_variant
from edge.runtime.stats import Stats
from edge.store.base import Store
from edge.telemetry.catalogue import (
    BACKGROUND_REVALIDATIONS,
    FILL_WAITERS,
    FILLS_IN_FLIGHT,
    Spec,
)

__all__ = ["Fill", "Fills", "Freshened", "Own", "PassThrough", "Shared", "Stored", "Uncacheable"]

log = logging.getLogger("edge.fetch")

#: The ``result`` label of edge_background_revalidations_total.
REVALIDATION_RESULTS = ("freshened", "replaced", "uncacheable", "failed", "over_cap")

#: Told of each response a fill stores: (request, status, fields, Link values of its 103s).
StoredHook = Callable[[ProxyRequest, int, CIMultiDict[str], list[str]], object]


def _outcome_name(future: asyncio.Future[Shared]) -> str:
    if future.cancelled() or future.exception() is not None:
        return "failed"
    result = future.result()
    if isinstance(result, Freshened):
        return "freshened"
    return "replaced" if isinstance(result, Stored) else "uncacheable"


class Fills:
    def __init__(
        self,
        *,
        origin: Upstream,
        forwarding: Forwarding,
        store: Store,
        clock: Clock,
        opts: PolicyOptions,
        stats: Stats,
        spool_dir: Callable[[], str | None],
        mem_limit: int,
        hit_for_miss: float,
        max_background: int,
        compression: Compression | None = None,
    ) -> None:
        self._fwd = forwarding
        self._store = store
        self._clock = clock
        self._opts = opts
        self._stats = stats
        self._max_background = max_background
        self._ask = OriginAsk(origin, clock, stats)
        self._hfm = HitForMiss(clock, hit_for_miss)
        # what a fill does with the response: store it (spooled) or pass it on
        self._intake = Intake(
            store=store,
            opts=opts,
            stats=stats,
            spool_dir=spool_dir,
            mem_limit=mem_limit,
            hit_for_miss=self._hfm,
            compression=compression,  # None: bodies are stored as the origin sent them
        )
        self.on_stored: StoredHook | None = None  # preload prefetch (edge.runtime.prefetch)
        self._fills: dict[str, Fill] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._background = 0
        self._waiting: dict[str, int] = {}  # slot -> requests that joined its fill
        # background revalidations by how they ended (and those the cap did not start)
        self._revalidations = dict.fromkeys(REVALIDATION_RESULTS, 0)

    # -- starting and joining -------------------------------------------
    def join_or_start(
        self,
        key: str,
        req: ProxyRequest,
        facts: RequestFacts,
        stale: Entry | None,
        *,
        variant: str | None = None,
        interim: InterimSink | None = None,
        route: Route | None = None,
    ) -> tuple[Fill, bool]:
        """The fill for ``key``: a running one (collapsed=True) or a new one.

        Only a fill whose response is still outstanding is joined, and only by a
        request that may join one (:func:`joins_running_fill`); a response that
        has arrived is found by :meth:`delivered` and looked up like a stored one.
        ``variant`` narrows collapsing to requests that select that Vary variant,
        for a request that joined a fill of another variant and must fetch its own.
        ``interim`` gets the origin's 1xx responses (RFC 9110 §15.2) when this request
        starts the fill; a request that joins one gets none. ``route``: the request's
        (:mod:`edge.cache.routes`): its fills' upstream and cache rules; None: the node's.
        """
        slot = key if variant is None else f"{key}\x00{variant}"
        shareable = not facts.authorization and not self._hfm.holds(key)
        if shareable and joins_running_fill(facts):
            fill = self._fills.get(slot)
            if fill is not None and fill.pending:
                self._stats.collapsed += 1
                self._waiting[slot] = self._waiting.get(slot, 0) + 1
                return fill, True
        fill = self._start(
            key, slot, req, facts, stale, register=shareable, interim=interim, route=route
        )
        return fill, False

    def delivered(self, key: str, req_headers: AnyHeaders) -> tuple[Fill, Stored] | None:
        """The fill of ``key`` whose storable response has arrived and is still streaming in.

        Its entry is not in the store yet; a request that selects its variant may be
        answered from its spool (when the entry may be reused for it), or waits for
        it to be committed and looks it up again. Never a fill that broke off.
        """
        fill = self._fills.get(key)
        if fill is None:
            return None
        stored = stored_of(fill)
        if stored is None:
            return None
        want = entry_variant(stored.entry, req_headers)
        if stored.entry.variant != want:
            fill = self._fills.get(f"{key}\x00{want}")
            stored = stored_of(fill) if fill is not None else None
            if fill is None or stored is None or stored.entry.variant != want:
                return None
        return fill, stored

    def adopt(
        self,
        key: str,
        req: ProxyRequest,
        facts: RequestFacts,
        resp: OriginResponse,
        request_time: float,
        response_time: float,
        route: Route | None = None,
    ) -> Stored | None:
        """Store a response fetched outside any fill, if it may answer later GETs.

        That is a POST response as RFC 9110 §9.3.3 allows (the flow forwards the
        POST itself): its body streams to the client and into a spool, committed
        once complete, like a fill's. None when it may not be stored.
        """
        opts = route.opts if route is not None else self._opts
        decision = decide_store(facts, resp.status, resp.headers, opts, request_url=req.url)
        if not decision.store:
            return None
        result = self._intake.classify(key, req, facts, resp, request_time, response_time, opts)
        if isinstance(result, PassThrough):
            return None
        task = asyncio.get_running_loop().create_task(
            self._intake.spool_body(result.stored, result.response)
        )
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return result.stored

    def start_background(
        self,
        key: str,
        req: ProxyRequest,
        facts: RequestFacts,
        stale: Entry,
        on_outcome: Callable[[str], None] | None = None,
        route: Route | None = None,
    ) -> bool:
        """Revalidate ``stale`` in the background (stale-while-revalidate, refresh-ahead);
        at most one per key, at most ``max_background`` at once on the node.

        ``on_outcome`` hears how it ended: ``"freshened"`` (a 304), ``"replaced"`` (a new
        response is being stored), ``"uncacheable"`` or ``"failed"``.
        """
        if key in self._fills:
            return False
        if self._background >= self._max_background:
            self._revalidations["over_cap"] += 1
            return False
        fill = self._start(key, key, req, facts, stale, register=True, background=True, route=route)
        fill.shared.add_done_callback(self._revalidated)
        if on_outcome is not None:
            fill.shared.add_done_callback(lambda f: on_outcome(_outcome_name(f)))
        return True

    def _revalidated(self, future: asyncio.Future[Shared]) -> None:
        self._revalidations[_outcome_name(future)] += 1

    def figures(self) -> Iterator[tuple[Spec, tuple[str, ...], float]]:
        """Scrape-time figures: requests waiting on fills, fills running, revalidations."""
        waiting = 0
        for slot, n in self._waiting.items():
            fill = self._fills.get(slot)
            if fill is not None and fill.pending:
                waiting += n
        yield FILL_WAITERS, (), float(waiting)
        yield FILLS_IN_FLIGHT, (), float(len(self._fills))
        for result, n in self._revalidations.items():
            yield BACKGROUND_REVALIDATIONS, (result,), float(n)

    def _start(
        self,
        key: str,
        slot: str,
        req: ProxyRequest,
        facts: RequestFacts,
        stale: Entry | None,
        *,
        register: bool,
        background: bool = False,
        interim: InterimSink | None = None,
        route: Route | None = None,
    ) -> Fill:
        loop = asyncio.get_running_loop()
        fill = Fill(
            key, slot, loop.create_future(), loop.create_future(), background, asyncio.Event()
        )
        if register:
            self._fills[slot] = fill
        if background:
            self._background += 1
        task = loop.create_task(self._run(fill, req, facts, stale, register, interim, route))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return fill

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a fill failed unexpectedly", exc_info=exc)

    async def drain(self) -> None:
        """Wait until every fill running now (background revalidations too) has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def hit_for_miss(self, key: str) -> bool:
        """``key``'s last answer could not be shared, within ``cache.hit_for_miss``."""
        return bool(self._hfm) and self._hfm.holds(key)

    # -- the fill itself ------------------------------------------------------
    async def _run(
        self,
        fill: Fill,
        req: ProxyRequest,
        facts: RequestFacts,
        stale: Entry | None,
        registered: bool,
        interim: InterimSink | None = None,
        route: Route | None = None,
    ) -> None:
        try:
            result = await self._fetch(fill.key, req, facts, stale, interim, route)
            match result:
                case PassThrough():
                    fill.shared.set_result(Uncacheable(result.response.status, result.detail))
                    if fill.background:
                        result.response.close()
                    else:
                        fill.own.set_result(result)
                case Freshened():
                    fill.shared.set_result(result)
                    fill.own.set_result(result)
                case Body():
                    fill.shared.set_result(result.stored)
                    fill.own.set_result(result.stored)
                    await self._intake.spool_body(result.stored, result.response)
        except EdgeError as exc:
            fail(fill, exc)
        except Exception as exc:
            # A task boundary: whatever went wrong, nobody may wait for this fill forever.
            log.exception("fill for %s failed", fill.key)
            fail(fill, EdgeError(f"internal error while fetching: {exc!r}"))
        except asyncio.CancelledError:
            fail(fill, UpstreamBodyError("edge is shutting down"))
            raise
        finally:
            if registered and self._fills.get(fill.slot) is fill:
                del self._fills[fill.slot]
                self._waiting.pop(fill.slot, None)
            if fill.background:
                self._background -= 1
            fill.finished.set()

    async def _fetch(
        self,
        key: str,
        req: ProxyRequest,
        facts: RequestFacts,
        stale: Entry | None,
        interim: InterimSink | None = None,
        route: Route | None = None,
    ) -> Body | Freshened | PassThrough:
        via = route.fill_upstream if route is not None else None
        opts = route.opts if route is not None else self._opts
        headers = self._fwd.upstream(req)
        for name in CLIENT_ONLY_FIELDS:
            headers.popall(name, None)
        if stale is not None:
            for name, value in conditional_headers(stale):
                headers[name] = value
        hints: list[str] = []
        if self.on_stored is not None:
            interim = hint_sink(interim, hints)
        resp, request_time, response_time = await self._ask.timed(
            "GET", req.target, headers, key, interim, via
        )
        if stale is not None and resp.status == 304:
            if matches_304(stale, resp.headers):
                resp.close()
                fresh = freshen(
                    stale,
                    resp.headers,
                    request_time=request_time,
                    response_time=response_time,
                    opts=opts,
                )
                await self._store.update(fresh)
                self._stats.revalidated += 1
                return Freshened(fresh)
            # RFC 9111 §4.3.4: a 304 that matches nothing we hold; ask again, unconditionally.
            resp.close()
            for name, _ in conditional_headers(stale):
                headers.popall(name, None)
            resp, request_time, response_time = await self._ask.timed(
                "GET", req.target, headers, key, interim, via
            )
        result = self._intake.classify(key, req, facts, resp, request_time, response_time, opts)
        if self.on_stored is not None and isinstance(result, Body):
            self.on_stored(req, resp.status, resp.headers, hints)
        return result
