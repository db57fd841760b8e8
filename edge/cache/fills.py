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
import contextlib
import logging
import tempfile
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import msgspec
from multidict import CIMultiDict

from edge.cache.compress import Compression
from edge.cache.forwarding import Forwarding
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
from edge.cache.spool import Spool
from edge.clock import Clock
from edge.errors import EdgeError, UpstreamBodyError, UpstreamError
from edge.models import Entry, ProxyRequest
from edge.origin.client import InterimSink, OriginResponse, Upstream
from edge.policy.decide import conditional_headers, decide_store, freshen, make_entry, matches_304
from edge.policy.fill import CLIENT_ONLY_FIELDS, decide_fill, joins_running_fill
from edge.policy.headers import AnyHeaders
from edge.policy.keys import url_of_key
from edge.policy.options import PolicyOptions
from edge.policy.request import RequestFacts
from edge.policy.vary import entry_variant
from edge.runtime.stats import Stats
from edge.store.base import Store

__all__ = ["Fill", "Fills", "Freshened", "Own", "PassThrough", "Shared", "Stored", "Uncacheable"]

log = logging.getLogger("edge.fetch")

#: Told of each response a fill stores: (request, status, fields, Link values of its 103s).
StoredHook = Callable[[ProxyRequest, int, CIMultiDict[str], list[str]], object]
_MAX_HINTS = 64  # Link field values kept from one fill's 103 responses

_HFM_MAX = 100_000


@dataclass(frozen=True, slots=True)
class _Body:
    stored: Stored
    response: OriginResponse


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
        self._origin = origin
        self._fwd = forwarding
        self._store = store
        self._clock = clock
        self._opts = opts
        self._stats = stats
        self._spool_dir = spool_dir
        self._mem_limit = mem_limit
        self._hfm_ttl = hit_for_miss
        self._max_background = max_background
        self._compression = compression  # None: bodies are stored as the origin sent them
        self.on_stored: StoredHook | None = None  # preload prefetch (edge.runtime.prefetch)
        self._fills: dict[str, Fill] = {}
        self._hfm: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._background = 0

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
    ) -> tuple[Fill, bool]:
        """The fill for ``key``: a running one (collapsed=True) or a new one.

        Only a fill whose response is still outstanding is joined, and only by a
        request that may join one (:func:`joins_running_fill`); a response that
        has arrived is found by :meth:`delivered` and looked up like a stored one.
        ``variant`` narrows collapsing to requests that select that Vary variant,
        for a request that joined a fill of another variant and must fetch its own.
        ``interim`` gets the origin's 1xx responses (RFC 9110 §15.2) when this request
        starts the fill; a request that joins one gets none.
        """
        slot = key if variant is None else f"{key}\x00{variant}"
        shareable = not facts.authorization and not self._is_hit_for_miss(key)
        if shareable and joins_running_fill(facts):
            fill = self._fills.get(slot)
            if fill is not None and fill.pending:
                self._stats.collapsed += 1
                return fill, True
        fill = self._start(key, slot, req, facts, stale, register=shareable, interim=interim)
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
    ) -> Stored | None:
        """Store a response fetched outside any fill, if it may answer later GETs.

        That is a POST response as RFC 9110 §9.3.3 allows (the flow forwards the
        POST itself): its body streams to the client and into a spool, committed
        once complete, like a fill's. None when it may not be stored.
        """
        decision = decide_store(facts, resp.status, resp.headers, self._opts, request_url=req.url)
        if not decision.store:
            return None
        result = self._classify(key, req, facts, resp, request_time, response_time)
        if isinstance(result, PassThrough):
            return None
        task = asyncio.get_running_loop().create_task(
            self._spool_body(result.stored, result.response)
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
    ) -> bool:
        """Revalidate ``stale`` in the background (stale-while-revalidate, refresh-ahead);
        at most one per key, at most ``max_background`` at once on the node.

        ``on_outcome`` hears how it ended: ``"freshened"`` (a 304), ``"replaced"`` (a new
        response is being stored), ``"uncacheable"`` or ``"failed"``.
        """
        if key in self._fills or self._background >= self._max_background:
            return False
        fill = self._start(key, key, req, facts, stale, register=True, background=True)
        if on_outcome is not None:
            fill.shared.add_done_callback(lambda f: on_outcome(_outcome_name(f)))
        return True

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
    ) -> Fill:
        loop = asyncio.get_running_loop()
        fill = Fill(
            key, slot, loop.create_future(), loop.create_future(), background, asyncio.Event()
        )
        if register:
            self._fills[slot] = fill
        if background:
            self._background += 1
        task = loop.create_task(self._run(fill, req, facts, stale, register, interim))
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

    # -- hit-for-miss -------------------------------------------------------
    def hit_for_miss(self, key: str) -> bool:
        """``key``'s last answer could not be shared, within ``cache.hit_for_miss``."""
        return bool(self._hfm) and self._is_hit_for_miss(key)

    def _is_hit_for_miss(self, key: str) -> bool:
        until = self._hfm.get(key)
        if until is None:
            return False
        if until > self._clock.monotonic():
            return True
        del self._hfm[key]
        return False

    def _mark_hit_for_miss(self, key: str) -> None:
        now = self._clock.monotonic()
        if len(self._hfm) >= _HFM_MAX:
            self._hfm = {k: t for k, t in self._hfm.items() if t > now}
            if len(self._hfm) >= _HFM_MAX:
                self._hfm.clear()
        self._hfm[key] = now + self._hfm_ttl

    # -- the fill itself ------------------------------------------------------
    async def _run(
        self,
        fill: Fill,
        req: ProxyRequest,
        facts: RequestFacts,
        stale: Entry | None,
        registered: bool,
        interim: InterimSink | None = None,
    ) -> None:
        try:
            result = await self._fetch(fill.key, req, facts, stale, interim)
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
                case _Body():
                    fill.shared.set_result(result.stored)
                    fill.own.set_result(result.stored)
                    await self._spool_body(result.stored, result.response)
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
    ) -> _Body | Freshened | PassThrough:
        headers = self._fwd.upstream(req)
        for name in CLIENT_ONLY_FIELDS:
            headers.popall(name, None)
        if stale is not None:
            for name, value in conditional_headers(stale):
                headers[name] = value
        hints: list[str] = []
        if self.on_stored is not None:
            interim = _hint_sink(interim, hints)
        resp, request_time, response_time = await self._send(key, req, headers, interim)
        if stale is not None and resp.status == 304:
            if matches_304(stale, resp.headers):
                resp.close()
                fresh = freshen(
                    stale,
                    resp.headers,
                    request_time=request_time,
                    response_time=response_time,
                    opts=self._opts,
                )
                await self._store.update(fresh)
                self._stats.revalidated += 1
                return Freshened(fresh)
            # RFC 9111 §4.3.4: a 304 that matches nothing we hold; ask again, unconditionally.
            resp.close()
            for name, _ in conditional_headers(stale):
                headers.popall(name, None)
            resp, request_time, response_time = await self._send(key, req, headers, interim)
        result = self._classify(key, req, facts, resp, request_time, response_time)
        if self.on_stored is not None and isinstance(result, _Body):
            self.on_stored(req, resp.status, resp.headers, hints)
        return result

    async def _send(
        self,
        key: str,
        req: ProxyRequest,
        headers: CIMultiDict[str],
        interim: InterimSink | None = None,
    ) -> tuple[OriginResponse, float, float]:
        self._stats.origin_requests += 1
        request_time = self._clock.now()
        try:
            resp = await self._origin.fetch(
                "GET", req.target, headers, key=url_of_key(key), on_interim=interim
            )
        except UpstreamError:
            self._stats.origin_errors += 1
            raise
        if resp.status >= 500:
            self._stats.origin_errors += 1
        return resp, request_time, self._clock.now()

    def _classify(
        self,
        key: str,
        req: ProxyRequest,
        facts: RequestFacts,
        resp: OriginResponse,
        request_time: float,
        response_time: float,
    ) -> _Body | PassThrough:
        spool_dir = self._spool_dir()
        decision = decide_fill(
            decide_store(facts, resp.status, resp.headers, self._opts, request_url=req.url),
            status=resp.status,
            content_length=resp.content_length,
            request_no_store=facts.cc.no_store,
            memory_limit=self._mem_limit,
            spool_available=spool_dir is not None,
        )
        if not decision.store:
            if decision.hit_for_miss:
                self._mark_hit_for_miss(key)
            return PassThrough(resp, decision.detail)
        entry = make_entry(
            key=key,
            url=req.url,
            req_headers=CIMultiDict(req.headers),
            method="GET",
            status=resp.status,
            reason=resp.reason,
            resp_headers=resp.headers,
            request_time=request_time,
            response_time=response_time,
            body_size=resp.content_length or 0,
            opts=self._opts,
            stored_at=response_time,
        )
        headers = resp.headers
        if self._compression is not None:  # the variant of the coding this client selects
            coded = self._compression.negotiate(entry, headers, req.headers, resp.content_length)
            if coded is not None:
                entry, headers = coded
        # Without a disk tier, a chunked body that outgrows memory still needs a spool
        # file to reach its readers; it is then not stored (nothing would hold it).
        spool = Spool(mem_limit=self._mem_limit, spool_dir=spool_dir or tempfile.gettempdir())
        stored = Stored(entry, resp.status, resp.reason, headers, spool, decision.detail)
        return _Body(stored, resp)

    async def _spool_body(self, stored: Stored, resp: OriginResponse) -> None:
        spool, entry = stored.spool, stored.entry
        counted = [0, 0]  # a coded body: the identity bytes read, the coded bytes written
        try:  # the writer's hold is kept until the commit is done: readers may still join
            try:
                async with contextlib.aclosing(self._body_of(resp, entry, counted)) as chunks:
                    async for chunk in chunks:
                        await spool.write(chunk)
                await spool.finish()
            except EdgeError as exc:
                spool.fail(exc)
                log.warning("not stored, body incomplete: %s: %s", entry.url, exc.message)
                return
            except BaseException:
                spool.fail(UpstreamBodyError("fill cancelled"))
                raise
            body = spool.take_body()
            if entry.coding:
                entry = msgspec.structs.replace(entry, body_size=body.size, source_size=counted[0])
            else:
                entry = msgspec.structs.replace(entry, body_size=body.size)
            if await self._store.put(entry, body):
                self._stats.stored += 1
        finally:
            spool.release()

    def _body_of(
        self, resp: OriginResponse, entry: Entry, counted: list[int]
    ) -> AsyncGenerator[bytes, None]:
        """The origin's body as the entry stores it: coded here when its coding says so."""
        if not entry.coding or self._compression is None:
            return resp.chunks()
        return self._compression.encode(resp.chunks(), entry.coding, counted)


def _hint_sink(interim: InterimSink | None, hints: list[str]) -> InterimSink:
    """``interim``, also keeping the Link values of 103 Early Hints (RFC 8297)."""

    def sink(status: int, fields: list[tuple[str, str]]) -> None:
        if status == 103:
            for name, value in fields:
                if name.lower() == "link" and len(hints) < _MAX_HINTS:
                    hints.append(value)
        if interim is not None:
            interim(status, fields)

    return sink
