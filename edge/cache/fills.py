"""Origin fetches for the cache: single flight, read-while-writer, store on completion.

A *fill* is one origin request made on behalf of every client that wants the
same key at the same time (request collapsing). It runs as its own task, so a
client that goes away does not break the fill for the others. Its outcome,
the :class:`FillHead`, is one of:

- ``SPOOL``: a storable response; its body streams into a :class:`Spool` that
  every waiting client reads, and is committed to the store once complete and
  length-checked (never when it broke off);
- ``NOT_MODIFIED``: a 304 that freshened the stored entry (RFC 9111 §4.3.4);
- ``PASS``: a response the cache must not share; the client that started the
  fill streams it, the others go to the origin themselves, and the key is
  remembered as hit-for-miss for a while so requests stop queueing on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import msgspec
from multidict import CIMultiDict

from edge.cache.forwarding import Forwarding
from edge.cache.spool import Spool
from edge.clock import Clock
from edge.errors import EdgeError, UpstreamBodyError, UpstreamError
from edge.models import Entry, ProxyRequest
from edge.origin.client import OriginResponse, Upstream
from edge.policy.decide import conditional_headers, decide_store, freshen, make_entry, matches_304
from edge.policy.keys import url_of_key
from edge.policy.options import PolicyOptions
from edge.policy.request import RequestFacts
from edge.runtime.stats import Stats
from edge.store.base import Store

log = logging.getLogger("edge.fetch")

# Client conditionals and ranges are answered by the cache from the full
# response, so a fill asks the origin for the whole, unconditional object.
_CLIENT_ONLY = (
    "If-None-Match",
    "If-Modified-Since",
    "If-Match",
    "If-Unmodified-Since",
    "If-Range",
    "Range",
)
_HFM_MAX = 100_000


class HeadKind(Enum):
    SPOOL = "spool"
    NOT_MODIFIED = "not-modified"
    PASS = "pass"


@dataclass(slots=True)
class FillHead:
    kind: HeadKind
    status: int
    reason: str
    headers: CIMultiDict[str]
    entry: Entry | None = None
    spool: Spool | None = None
    store_detail: str = ""
    _response: OriginResponse | None = None

    def take_response(self) -> OriginResponse | None:
        """The PASS response, to the first (and only) caller that asks."""
        resp, self._response = self._response, None
        return resp


@dataclass(slots=True)
class Fill:
    key: str  # the primary cache key the response is stored under
    head: asyncio.Future[FillHead]
    slot: str  # what concurrent requests collapse on: the key, or key + one Vary variant
    background: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Fetcher:
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
    ) -> tuple[Fill, bool]:
        """The fill for ``key``: an existing one (collapsed=True) or a new one.

        ``variant`` narrows collapsing to requests that select that Vary variant,
        for a request that joined a fill of another variant and must fetch its own.
        """
        slot = key if variant is None else f"{key}\x00{variant}"
        shareable = not facts.authorization and not self._is_hit_for_miss(key)
        if shareable:
            fill = self._fills.get(slot)
            if fill is not None:
                self._stats.collapsed += 1
                return fill, True
        return self._start(key, slot, req, facts, stale, register=shareable), False

    def start_background(
        self, key: str, req: ProxyRequest, facts: RequestFacts, stale: Entry
    ) -> bool:
        """Revalidate ``stale`` in the background (stale-while-revalidate); at most one per key."""
        if key in self._fills or self._background >= self._max_background:
            return False
        self._start(key, key, req, facts, stale, register=True, background=True)
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
    ) -> Fill:
        loop = asyncio.get_running_loop()
        fill = Fill(key, loop.create_future(), slot, background=background)
        if register:
            self._fills[slot] = fill
        if background:
            self._background += 1
        task = loop.create_task(self._run(fill, req, facts, stale, register))
        fill.task = task
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
    ) -> None:
        try:
            head = await self._fetch_head(fill.key, req, facts, stale)
            if fill.background and head.kind is HeadKind.PASS:
                resp = head.take_response()
                if resp is not None:
                    resp.close()
            fill.head.set_result(head)
            if head.kind is HeadKind.SPOOL:
                await self._spool_body(head)
        except EdgeError as exc:
            if not fill.head.done():
                fill.head.set_exception(exc)
                fill.head.exception()  # retrieved: background fills may have no reader
        except Exception as exc:
            # A task boundary: whatever went wrong, nobody may wait for this head forever.
            log.exception("fill for %s failed", fill.key)
            if not fill.head.done():
                fill.head.set_exception(EdgeError(f"internal error while fetching: {exc!r}"))
                fill.head.exception()
        except asyncio.CancelledError:
            if not fill.head.done():
                fill.head.set_exception(UpstreamBodyError("edge is shutting down"))
                fill.head.exception()
            raise
        finally:
            if registered and self._fills.get(fill.slot) is fill:
                del self._fills[fill.slot]
            if fill.background:
                self._background -= 1

    async def _fetch_head(
        self, key: str, req: ProxyRequest, facts: RequestFacts, stale: Entry | None
    ) -> FillHead:
        headers = self._fwd.upstream(req)
        for name in _CLIENT_ONLY:
            headers.popall(name, None)
        if stale is not None:
            for name, value in conditional_headers(stale):
                headers[name] = value
        resp, request_time, response_time = await self._send(key, req, headers)
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
                return FillHead(HeadKind.NOT_MODIFIED, 304, resp.reason, resp.headers, entry=fresh)
            # RFC 9111 §4.3.4: a 304 that matches nothing we hold; ask again, unconditionally.
            resp.close()
            for name, _ in conditional_headers(stale):
                headers.popall(name, None)
            resp, request_time, response_time = await self._send(key, req, headers)
        return self._classify(key, req, facts, resp, request_time, response_time)

    async def _send(
        self, key: str, req: ProxyRequest, headers: CIMultiDict[str]
    ) -> tuple[OriginResponse, float, float]:
        self._stats.origin_requests += 1
        request_time = self._clock.now()
        try:
            resp = await self._origin.fetch("GET", req.target, headers, key=url_of_key(key))
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
    ) -> FillHead:
        decision = decide_store(facts, resp.status, resp.headers, self._opts)
        store, detail = decision.store, decision.detail
        spool_dir = self._spool_dir()
        too_big = resp.content_length is not None and resp.content_length > self._mem_limit
        if store and too_big and spool_dir is None:
            store, detail = False, "too-large"
        if not store:
            if not facts.cc.no_store and resp.status < 500:
                # uncacheable by nature: stop queueing on it. Not for errors: collapsing
                # must stay on exactly while the origin is struggling.
                self._mark_hit_for_miss(key)
            return FillHead(
                HeadKind.PASS,
                resp.status,
                resp.reason,
                resp.headers,
                store_detail=detail,
                _response=resp,
            )
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
        # Without a disk tier, a chunked body that outgrows memory still needs a spool
        # file to reach its readers; it is then not stored (nothing would hold it).
        spool = Spool(mem_limit=self._mem_limit, spool_dir=spool_dir or tempfile.gettempdir())
        return FillHead(
            HeadKind.SPOOL,
            resp.status,
            resp.reason,
            resp.headers,
            entry=entry,
            spool=spool,
            store_detail=detail,
            _response=resp,
        )

    async def _spool_body(self, head: FillHead) -> None:
        spool, entry, resp = head.spool, head.entry, head.take_response()
        assert spool is not None and entry is not None and resp is not None
        try:  # the writer's hold is kept until the commit is done: readers may still join
            try:
                async with contextlib.aclosing(resp.chunks()) as chunks:
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
            entry = msgspec.structs.replace(entry, body_size=body.size)
            if await self._store.put(entry, body):
                self._stats.stored += 1
        finally:
            spool.release()
