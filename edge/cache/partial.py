"""Partial content in the request flow: stored 206 parts reused, combined, completed.

RFC 9111 §3.3 lets a cache store an incomplete response and answer a Range
request wholly within it; §3.4 lets it combine a new 206 with stored parts of
the same representation (the same strong validator) and, once they cover it,
serve the whole. The rules are in :mod:`edge.policy.partial`; this module is
their I/O:

- :meth:`PartialContent.decide`: what a request does with a stored 206 (or a
  Range miss): answer from the parts, or fetch;
- :meth:`PartialContent.serve`: open the parts' body and hand it to delivery;
- :meth:`PartialContent.fetch`: a Range request the parts cannot answer goes
  upstream as a range request (a client never waits for a whole object it
  did not ask for); a full request whose stored part begins the
  representation asks for the rest with ``Range: bytes=N-`` and ``If-Range``.
  A storable 206 is read (parts are bounded by the memory tier's object limit,
  at most :data:`~edge.policy.partial.MAX_PARTS` per object) and stored,
  combined with the stored parts when it describes the same representation;
  a 200 is stored like any fill's response; anything else is relayed.

Range fills are not collapsed: each asks for its own bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os

import msgspec
from multidict import CIMultiDict

from edge.cache.asking import OriginAsk
from edge.cache.deliver import FromOrigin, FromParts, FromSpool, FromStore, Outcome
from edge.cache.fills import Fills
from edge.cache.forwarding import Forwarding
from edge.cache.states import Ask, Deliver, Fetch, FetchPart, Pass, ServePart, Step
from edge.clock import Clock
from edge.errors import OnlyIfCachedMiss
from edge.models import BodySource, BytesBody, Entry, FileBody
from edge.origin.client import OriginResponse, Upstream
from edge.policy.decide import LookupAction, LookupDecision, decide_store, make_entry
from edge.policy.fill import CLIENT_ONLY_FIELDS
from edge.policy.options import PolicyOptions
from edge.policy.partial import (
    MAX_PARTS,
    PART_FIELDS,
    completion_start,
    covering,
    entry_validator,
    is_complete,
    merge_parts,
    parse_content_range,
    same_representation,
    storable_part,
)
from edge.policy.ranges import evaluate_range
from edge.policy.request import RequestFacts
from edge.runtime.stats import Stats
from edge.store.base import HitShortcut, SpooledBody, Store

_ANY_SIZE = 1 << 62  # a Range is checked for syntax against an unknown (huge) length


def forwards_range(facts: RequestFacts) -> bool:
    """Is this a GET with a valid byte Range (RFC 9110 §14.2), worth asking upstream as one?"""
    if facts.method != "GET" or facts.range is None:
        return False
    rd = evaluate_range(facts.range, None, size=_ANY_SIZE, etag=None, last_modified=None, date=None)
    return rd.kind == "partial"


def _date_of(entry: Entry) -> str | None:
    return next((v for k, v in entry.headers if k.lower() == "date"), None)


def part_answer(facts: RequestFacts, entry: Entry) -> tuple[int | None, int, int] | None:
    """``(first, last, offset)`` when the stored parts answer this Range, else None.

    One range wholly within one stored part (RFC 9111 §3.3); ``first`` None when
    the range is unsatisfiable (§14.1.1: the complete length is known). A failed
    If-Range asks for the whole representation, which the parts are not.
    """
    if facts.range is None:
        return None
    rd = evaluate_range(
        facts.range,
        facts.if_range,
        size=entry.complete_length,
        etag=entry.etag,
        last_modified=entry.last_modified,
        date=_date_of(entry),
    )
    if rd.kind == "unsatisfiable":
        return (None, 0, 0)
    if rd.kind != "partial" or len(rd.ranges) != 1:
        return None
    first, last = rd.ranges[0]
    offset = covering(entry.parts, first, last)
    return None if offset is None else (first, last, offset)


class PartialContent:
    def __init__(
        self,
        *,
        origin: Upstream,
        forwarding: Forwarding,
        store: Store,
        shortcut: HitShortcut,
        clock: Clock,
        opts: PolicyOptions,
        stats: Stats,
        fills: Fills,
        max_part: int,
    ) -> None:
        self._ask = OriginAsk(origin, clock, stats)
        self._fwd = forwarding
        self._store = store
        self._shortcut = shortcut
        self._clock = clock
        self._opts = opts
        self._stats = stats
        self._fills = fills
        self._max_part = max_part  # the memory tier's object limit: a part is read whole

    # -- deciding ---------------------------------------------------------------
    def decide(self, ask: Ask, entry: Entry, decision: LookupDecision) -> Step:
        """The step for a request whose selected stored response is a 206."""
        facts = ask.facts
        if facts.method == "HEAD":  # a part says nothing of the whole's header section
            self._stats.passes += 1
            return Pass(ask, "partial", "head-miss")
        if decision.action is LookupAction.HIT:
            answer = part_answer(facts, entry)
            if answer is not None:
                return ServePart(ask, entry, decision, *answer)
        if facts.cc.only_if_cached:
            raise OnlyIfCachedMiss("only-if-cached: the stored parts do not hold this request")
        self._stats.misses += 1
        return FetchPart(ask, dataclasses.replace(decision, fwd="partial"), entry)

    # -- serving from parts ----------------------------------------------------------
    async def serve(self, step: ServePart) -> Step:
        ask, entry = step.ask, step.entry
        body: BodySource | None = None
        tier = "memory"
        if step.first is not None:
            data = self._shortcut.body_sync(entry)
            if data is not None:
                body = BytesBody(data)
            else:
                tier = self._shortcut.tier_of(entry) or "disk"
                body = await self._store.open_body(entry)
                if body is None:  # gone between lookup and read: ask upstream
                    await self._store.remove(ask.key, entry.variant)
                    self._stats.misses += 1
                    return FetchPart(ask, step.decision, None)
            self._stats.bytes_from_cache += step.last - step.first + 1
        self._stats.hits += 1
        source = FromParts(entry, body, step.first, step.last, step.offset, self._clock.now())
        return Deliver(ask, source, Outcome(hit=True, detail=tier))

    # -- fetching ---------------------------------------------------------------
    async def fetch(self, step: FetchPart) -> Step:
        ask, decision, part = step.ask, step.decision, step.part
        facts, req = ask.facts, ask.req
        headers = self._fwd.upstream(req)
        for name in CLIENT_ONLY_FIELDS:
            headers.popall(name, None)
        completing = not forwards_range(facts)
        if completing:
            start = completion_start(part) if part is not None else None
            if part is None or start is None or part.complete_length - start > self._max_part:
                return Fetch(ask, decision, None)  # a full fill: collapsed, streamed, stored
            headers["Range"] = f"bytes={start}-"
            validator = entry_validator(part)
            if validator is not None:  # a changed representation comes back whole (§13.1.5)
                headers["If-Range"] = validator
        else:
            assert facts.range is not None
            headers["Range"] = facts.range
            if facts.if_range is not None:
                headers["If-Range"] = facts.if_range
        resp, request_time, response_time = await self._ask.timed(
            "GET", ask.req.target, headers, ask.key, ask.interim, ask.route.upstream
        )
        fwd = decision.fwd or "uri-miss"
        if resp.status == 206:
            stored = await self._store_part(ask, part, resp, request_time, response_time)
            if stored is None:
                if completing:  # an answer that cannot complete what is stored: ask for all
                    resp.close()
                    return Fetch(ask, decision, None)
                return Deliver(ask, FromOrigin(resp, preconditions_sent=False), Outcome(fwd=fwd))
            entry, body, kept, received = stored
            outcome = Outcome(fwd=fwd, fwd_status=206, stored=kept)
            now = self._clock.now()
            if completing:
                if entry.parts:  # not the same representation: the parts could not combine
                    return Fetch(ask, decision, None)
                return Deliver(ask, FromStore(entry, BytesBody(body), now), outcome)
            if not entry.parts:  # combined into the whole: ranges come from it
                return Deliver(ask, FromStore(entry, BytesBody(body), now), outcome)
            answer = part_answer(facts, entry)
            if answer is None or answer[0] is None:  # the origin sent other bytes: those
                first, last = received
                offset = covering(entry.parts, first, last)
                assert offset is not None  # the merged parts hold what just arrived
                answer = (first, last, offset)
            source = FromParts(entry, BytesBody(body), *answer, now)
            return Deliver(ask, source, outcome)
        if resp.status == 200:  # the whole representation (Range ignored, If-Range failed)
            adopted = self._fills.adopt(
                ask.key, req, facts, resp, request_time, response_time, ask.route
            )
            if adopted is not None:
                spooled = FromSpool(
                    adopted.entry, adopted.status, adopted.reason, adopted.headers, adopted.spool
                )
                return Deliver(ask, spooled, Outcome(fwd=fwd, fwd_status=200, stored=True))
        return Deliver(ask, FromOrigin(resp, preconditions_sent=False), Outcome(fwd=fwd))

    # -- storing and combining --------------------------------------------------------
    async def _store_part(
        self,
        ask: Ask,
        part: Entry | None,
        resp: OriginResponse,
        request_time: float,
        response_time: float,
    ) -> tuple[Entry, bytes, bool, tuple[int, int]] | None:
        """Read and store a 206; ``(entry, body, stored, received range)``, or None (relay it).

        None leaves ``resp`` unread: it is not a single part whose body matches its
        Content-Range, it is larger than a part may be, or it may not be stored.
        """
        received = storable_part(resp.status, resp.headers, resp.content_length)
        if received is None or resp.content_length is None:
            return None
        if resp.content_length > self._max_part:
            return None
        facts = ask.facts
        # the part's cacheability is its representation's (RFC 9110 §15.3.7: 206 is
        # heuristically cacheable, as 200 is)
        if not decide_store(facts, 200, resp.headers, ask.route.opts).store:
            return None
        cr = parse_content_range(resp.headers.get("content-range"))
        assert cr is not None and cr.complete is not None
        complete = cr.complete
        data = await _read_all(resp)
        fields = CIMultiDict(resp.headers)
        for name in PART_FIELDS:
            fields.popall(name, None)
        entry = self._entry(ask, resp, fields, 206, request_time, response_time, len(data))
        entry = msgspec.structs.replace(entry, parts=(received,), complete_length=complete)
        body = data
        if (
            part is not None
            and part.variant == entry.variant
            and same_representation(part, resp.headers, complete)
            and part.body_size + len(data) <= self._max_part
        ):
            old = await self._read_stored(part)
            if old is not None:
                parts, merged = merge_parts(part.parts, old, received, data)
                if len(parts) <= MAX_PARTS:
                    entry = msgspec.structs.replace(entry, parts=parts, body_size=len(merged))
                    body = merged
        if is_complete(entry.parts, complete):  # §3.4: the parts are now the whole response
            fields["Content-Length"] = str(complete)
            entry = self._entry(ask, resp, fields, 200, request_time, response_time, complete)
        kept = await self._store.put(entry, SpooledBody(len(body), data=body))
        if kept:
            self._stats.stored += 1
        return entry, body, kept, received

    def _entry(
        self,
        ask: Ask,
        resp: OriginResponse,
        fields: CIMultiDict[str],
        status: int,
        request_time: float,
        response_time: float,
        size: int,
    ) -> Entry:
        return make_entry(
            key=ask.key,
            url=ask.req.url,
            req_headers=CIMultiDict(ask.req.headers),
            method="GET",
            status=status,
            reason="OK" if status == 200 else resp.reason,
            resp_headers=fields,
            request_time=request_time,
            response_time=response_time,
            body_size=size,
            opts=ask.route.opts,
            stored_at=response_time,
        )

    async def _read_stored(self, entry: Entry) -> bytes | None:
        """The stored parts' bytes (bounded by the part limit), or None if they are gone."""
        data = self._shortcut.body_sync(entry)
        if data is not None:
            return data
        body = await self._store.open_body(entry)
        if isinstance(body, BytesBody):
            return body.data
        if isinstance(body, FileBody):
            try:
                fd = body.file.fileno()
                read = await asyncio.to_thread(os.pread, fd, body.length, body.offset)
            finally:
                body.file.close()
            return read if len(read) == body.length else None
        return None


async def _read_all(resp: OriginResponse) -> bytes:
    """The whole body of a response whose Content-Length is known and bounded."""
    whole = resp.arrived()
    if whole is not None:
        return whole
    out = bytearray()
    async for chunk in resp.chunks():  # raises UpstreamBodyError on a short body
        out += chunk
    return bytes(out)
