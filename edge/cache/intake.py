"""What a fill does with the origin's response: store it through a spool, or pass it on.

:meth:`Intake.classify` decides (``edge.policy``) whether a response may be stored and
builds its entry (in the coding this client selects, with edge compression); a
response that may not is passed through and its key remembered as hit-for-miss.
:meth:`Intake.spool_body` streams a stored response's body into its spool and commits
it to the store once complete and length-checked, never when it broke off.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import msgspec
from multidict import CIMultiDict

from edge.cache.compress import Compression
from edge.cache.hit_for_miss import HitForMiss
from edge.cache.outcomes import PassThrough, Stored
from edge.cache.spool import Spool
from edge.errors import EdgeError, UpstreamBodyError
from edge.models import Entry, ProxyRequest
from edge.origin.client import InterimSink, OriginResponse
from edge.policy.decide import decide_store, make_entry
from edge.policy.fill import decide_fill
from edge.policy.options import PolicyOptions
from edge.policy.request import RequestFacts
from edge.runtime.stats import Stats
from edge.store.base import Store

log = logging.getLogger("edge.fetch")

_MAX_HINTS = 64  # Link field values kept from one fill's 103 responses


@dataclass(frozen=True, slots=True)
class Body:
    """A storable response: what is stored, and the origin response its body comes from."""

    stored: Stored
    response: OriginResponse


class Intake:
    def __init__(
        self,
        *,
        store: Store,
        opts: PolicyOptions,
        stats: Stats,
        spool_dir: Callable[[], str | None],
        mem_limit: int,
        hit_for_miss: HitForMiss,
        compression: Compression | None,
    ) -> None:
        self._store = store
        self._opts = opts
        self._stats = stats
        self._spool_dir = spool_dir
        self._mem_limit = mem_limit
        self._hfm = hit_for_miss
        self._compression = compression

    def classify(
        self,
        key: str,
        req: ProxyRequest,
        facts: RequestFacts,
        resp: OriginResponse,
        request_time: float,
        response_time: float,
        opts: PolicyOptions | None = None,
    ) -> Body | PassThrough:
        """Store it (a :class:`Body` to spool) or pass it on; ``opts``: the request's
        route's (its cache rules), else the node's."""
        opts = opts or self._opts
        spool_dir = self._spool_dir()
        decision = decide_fill(
            decide_store(facts, resp.status, resp.headers, opts, request_url=req.url),
            status=resp.status,
            content_length=resp.content_length,
            request_no_store=facts.cc.no_store,
            memory_limit=self._mem_limit,
            spool_available=spool_dir is not None,
        )
        if not decision.store:
            if decision.hit_for_miss:
                self._hfm.mark(key)
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
            opts=opts,
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
        stored = Stored(
            entry, resp.status, resp.reason, headers, spool, decision.detail, resp.elapsed
        )
        return Body(stored, resp)

    async def spool_body(self, stored: Stored, resp: OriginResponse) -> None:
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


def hint_sink(interim: InterimSink | None, hints: list[str]) -> InterimSink:
    """``interim``, also keeping the Link values of 103 Early Hints (RFC 8297)."""

    def sink(status: int, fields: list[tuple[str, str]]) -> None:
        if status == 103:
            for name, value in fields:
                if name.lower() == "link" and len(hints) < _MAX_HINTS:
                    hints.append(value)
        if interim is not None:
            interim(status, fields)

    return sink
