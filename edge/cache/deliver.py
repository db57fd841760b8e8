"""The one delivery step: the only place that answers a client.

Whatever the body's source (a stored entry, a fill's spool, an origin
response relayed as it comes), :meth:`Delivery.answer` applies the same rules
in the same order, as Varnish's ``cnt_deliver`` does:

1. the client's own preconditions: 304 / 412 (RFC 9110 §13.2.2);
2. HEAD: the header section only (RFC 9110 §9.3.2);
3. Range / If-Range: 206, multipart/byteranges or 416 (RFC 9110 §14);
4. Age from the stored entry, capped at 2^31 (RFC 9111 §5.1);
5. Cache-Status (RFC 9211) and the downstream header rules (Via, tags).

Fronts only render the :class:`~edge.models.ProxyResponse` returned here.
"""

from __future__ import annotations

from typing import assert_never

import msgspec
from multidict import CIMultiDict

from edge.cache.bodies import close_body, multipart_body, slice_body
from edge.cache.forwarding import Forwarding
from edge.cache.spool import Spool
from edge.models import BodySource, BytesBody, Entry, ProxyResponse, StreamBody
from edge.origin.client import OriginResponse
from edge.policy.cache_status import cache_status
from edge.policy.conditional import (
    ConditionalResult,
    evaluate_conditionals,
    not_modified_fields,
    not_modified_headers,
    response_conditionals,
)
from edge.policy.entries import age_and_ttl
from edge.policy.fill import range_applies
from edge.policy.headers import age_value
from edge.policy.ranges import RangeDecision, evaluate_range
from edge.policy.request import RequestFacts
from edge.telemetry.outcomes import DISK, MEMORY, ORIGIN, SPOOL, outcome_of

_EMPTY = BytesBody(b"")


class FromStore(msgspec.Struct, frozen=True):
    """A stored entry. ``body`` is None when :meth:`Delivery.needs_body` said so."""

    entry: Entry
    body: BodySource | None
    now: float


class FromSpool(msgspec.Struct, frozen=True):
    """A response being filled: its headers as the origin sent them, its body as it arrives.

    ``now`` is set when the response is reused from a fill that had already
    delivered it (a hit): the answer then carries this cache's Age and ttl.
    """

    entry: Entry
    status: int
    reason: str
    headers: CIMultiDict[str]
    spool: Spool
    now: float | None = None
    upstream_time: float | None = None  # this request's fetch: seconds to the origin's head


class FromOrigin(msgspec.Struct, frozen=True):
    """An origin response relayed as it comes.

    ``preconditions_sent``: the origin saw the client's preconditions and answered
    them itself (a pass); a fill strips them, so they are evaluated here.
    """

    response: OriginResponse
    preconditions_sent: bool


class FromParts(msgspec.Struct, frozen=True):
    """A stored 206's parts (RFC 9111 §3.3): bytes ``first..last`` of the representation,
    at ``offset`` in ``body``; ``first`` None answers 416 (the range is beyond its end)."""

    entry: Entry
    body: BodySource | None
    first: int | None
    last: int
    offset: int
    now: float


Source = FromStore | FromSpool | FromOrigin | FromParts


class Outcome(msgspec.Struct, frozen=True):
    """What this cache did, for Cache-Status (RFC 9211 §2)."""

    hit: bool = False
    fwd: str | None = None
    fwd_status: int | None = None
    stored: bool = False
    collapsed: bool = False
    detail: str | None = None


class Delivery:
    """Builds every answer to a client; one per node (its name and header rules)."""

    __slots__ = ("_name", "_fwd")

    def __init__(self, name: str, forwarding: Forwarding) -> None:
        self._name = name
        self._fwd = forwarding

    @staticmethod
    def needs_body(facts: RequestFacts, entry: Entry) -> bool:
        """Will answering from ``entry`` send its body? (Else do not open it.)"""
        if facts.method == "HEAD":
            return False
        return evaluate_conditionals(facts, entry) is ConditionalResult.NONE

    def answer(self, facts: RequestFacts, source: Source, outcome: Outcome) -> ProxyResponse:
        resp: ProxyResponse
        match source:
            case FromStore():
                resp = self._from_store(facts, source, outcome)
                resp.tier = _tier(source.body, outcome)
            case FromSpool():
                resp = self._from_spool(facts, source, outcome)
                resp.tier = SPOOL if outcome.hit else ORIGIN
                resp.upstream_time = source.upstream_time
            case FromOrigin():
                resp = self._from_origin(facts, source, outcome)
                resp.tier = ORIGIN
                resp.upstream_time = source.response.elapsed
            case FromParts():
                resp = self._from_parts(facts, source, outcome)
                resp.tier = _tier(source.body, outcome)
            case _:
                assert_never(source)
        resp.outcome = outcome_of(outcome)
        if resp.upstream_status is None and not outcome.hit:
            resp.upstream_status = outcome.fwd_status
        return resp

    # -- the three sources --------------------------------------------------
    def _stored_status(self, entry: Entry, now: float, out: Outcome) -> tuple[float, str]:
        """The stored entry's age now and the Cache-Status of an answer made from it."""
        age, ttl = age_and_ttl(entry, now)
        status_value = cache_status(
            self._name,
            hit=out.hit,
            fwd=out.fwd,
            fwd_status=out.fwd_status,
            ttl=ttl,
            stored=out.stored,
            detail=out.detail,
        )
        return age, status_value

    def _from_store(self, facts: RequestFacts, src: FromStore, out: Outcome) -> ProxyResponse:
        entry, body = src.entry, src.body
        age, status_value = self._stored_status(entry, src.now, out)
        cond = evaluate_conditionals(facts, entry)
        if cond is not ConditionalResult.NONE:
            if body is not None:
                close_body(body)
            if cond is ConditionalResult.NOT_MODIFIED:
                headers = CIMultiDict(not_modified_headers(entry))
                headers["Age"] = age_value(age)
                return self._finish(304, "Not Modified", headers, status_value, None)
            return self._precondition_failed(status_value)
        headers = CIMultiDict(entry.headers)
        headers["Age"] = age_value(age)
        if facts.method == "HEAD":
            if body is not None:
                close_body(body)
            headers["Content-Length"] = str(entry.body_size)
            return self._finish(entry.status, entry.reason, headers, status_value, None)
        if body is None:
            raise ValueError("a stored answer with a body needs the body opened")
        size = entry.body_size
        if facts.range is not None and range_applies(entry.status, size):
            rd = _range_of(facts, entry, size, headers)
            if rd.kind == "unsatisfiable":
                close_body(body)
                return self._unsatisfiable(size, status_value)
            if rd.kind == "partial":
                headers.popall("Content-Length", None)
                if len(rd.ranges) == 1:
                    first, last = rd.ranges[0]
                    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
                    part = slice_body(body, first, last)
                    return self._finish(206, "Partial Content", headers, status_value, part)
                ctype, mbody = multipart_body(body, rd.ranges, size, headers.get("Content-Type"))
                headers["Content-Type"] = ctype
                return self._finish(206, "Partial Content", headers, status_value, mbody)
        return self._finish(entry.status, entry.reason, headers, status_value, body)

    def _from_spool(self, facts: RequestFacts, src: FromSpool, out: Outcome) -> ProxyResponse:
        entry = src.entry
        age: str | None = None
        ttl: float | None = None
        if src.now is not None:
            age_s, ttl = age_and_ttl(entry, src.now)
            age = age_value(age_s)
        status_value = cache_status(
            self._name,
            hit=out.hit,
            fwd=out.fwd,
            fwd_status=out.fwd_status,
            ttl=ttl,
            stored=out.stored,
            collapsed=out.collapsed,
            detail=out.detail,
        )
        cond = evaluate_conditionals(facts, entry)
        if cond is ConditionalResult.NOT_MODIFIED:
            headers = CIMultiDict(not_modified_headers(entry))
            if age is not None:
                headers["Age"] = age
            return self._finish(304, "Not Modified", headers, status_value, None)
        if cond is ConditionalResult.PRECONDITION_FAILED:
            return self._precondition_failed(status_value)
        headers = CIMultiDict(src.headers)
        if age is not None:
            headers.popall("Age", None)
            headers["Age"] = age
        length = entry.body_size if "Content-Length" in headers else None
        if facts.range is not None and range_applies(src.status, length):
            assert length is not None
            rd = _range_of(facts, entry, length, headers)
            if rd.kind == "unsatisfiable":
                return self._unsatisfiable(length, status_value)
            if rd.kind == "partial" and len(rd.ranges) == 1:
                # one range streams from the spool as it fills; several wait for no one:
                # the full body is sent (RFC 9110 §14.2 lets a server ignore Range)
                first, last = rd.ranges[0]
                headers["Content-Range"] = f"bytes {first}-{last}/{length}"
                headers["Content-Length"] = str(last - first + 1)
                part = StreamBody(src.spool.reader(first, last + 1), last - first + 1)
                return self._finish(206, "Partial Content", headers, status_value, part)
        if facts.method == "HEAD":  # headers only; the fill goes on storing the body
            return self._finish(src.status, src.reason, headers, status_value, None)
        body = StreamBody(src.spool.reader(), length)
        return self._finish(src.status, src.reason, headers, status_value, body)

    def _from_origin(self, facts: RequestFacts, src: FromOrigin, out: Outcome) -> ProxyResponse:
        resp = src.response
        status_value = cache_status(
            self._name,
            hit=False,
            fwd=out.fwd,
            fwd_status=resp.status,
            detail=out.detail,
        )
        if not src.preconditions_sent and facts.conditional and 200 <= resp.status < 300:
            # RFC 9110 §13.2.1: the fill did not send them, so they are evaluated here
            cond = response_conditionals(facts, resp.headers)
            if cond is not ConditionalResult.NONE:
                resp.close()
                if cond is ConditionalResult.NOT_MODIFIED:
                    headers = CIMultiDict(not_modified_fields(resp.headers))
                    return self._finish(304, "Not Modified", headers, status_value, None)
                return self._precondition_failed(status_value)
        headers = CIMultiDict(resp.headers)
        body: BodySource | None
        if facts.method == "HEAD" and resp.content_length != 0:
            resp.close()  # a GET's body nobody wants: never read it
            body = None
        elif (whole := resp.arrived()) is not None:  # all in already: one write, no stream
            body = BytesBody(whole)
        else:  # read to its (possibly empty) end, so the connection can be reused
            body = StreamBody(resp.chunks(), resp.content_length)
        answer = self._finish(resp.status, resp.reason, headers, status_value, body)
        answer.upstream_status = resp.status
        return answer

    def _from_parts(self, facts: RequestFacts, src: FromParts, out: Outcome) -> ProxyResponse:
        entry, body = src.entry, src.body
        age, status_value = self._stored_status(entry, src.now, out)
        cond = evaluate_conditionals(facts, entry)
        if cond is not ConditionalResult.NONE or src.first is None:
            if body is not None:
                close_body(body)
            if cond is ConditionalResult.NOT_MODIFIED:
                headers = CIMultiDict(not_modified_headers(entry))
                headers["Age"] = age_value(age)
                return self._finish(304, "Not Modified", headers, status_value, None)
            if cond is ConditionalResult.PRECONDITION_FAILED:
                return self._precondition_failed(status_value)
            return self._unsatisfiable(entry.complete_length, status_value)
        if body is None:
            raise ValueError("an answer from stored parts needs the body opened")
        headers = CIMultiDict(entry.headers)
        headers["Age"] = age_value(age)
        headers["Content-Range"] = f"bytes {src.first}-{src.last}/{entry.complete_length}"
        length = src.last - src.first + 1
        headers["Content-Length"] = str(length)
        part = slice_body(body, src.offset, src.offset + length - 1)
        return self._finish(206, entry.reason, headers, status_value, part)

    def server_options(self) -> ProxyResponse:
        """``OPTIONS *`` (RFC 9110 §9.3.7): about this server, not a resource, so answered
        here; no origin is asked (edge talks to its origins only about their resources)."""
        headers = CIMultiDict({"Allow": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"})
        status_value = cache_status(self._name, hit=False, fwd="method", detail="server-options")
        return self._finish(200, "OK", headers, status_value, None)

    # -- shared endings -----------------------------------------------------
    def _precondition_failed(self, status_value: str) -> ProxyResponse:
        return self._finish(412, "Precondition Failed", CIMultiDict(), status_value, None)

    def _unsatisfiable(self, size: int, status_value: str) -> ProxyResponse:
        headers = CIMultiDict({"Content-Range": f"bytes */{size}"})
        return self._finish(416, "Range Not Satisfiable", headers, status_value, None)

    def _finish(
        self,
        status: int,
        reason: str,
        headers: CIMultiDict[str],
        status_value: str,
        body: BodySource | None,
    ) -> ProxyResponse:
        headers.add("Cache-Status", status_value)
        out = ProxyResponse(status, self._fwd.downstream(headers), body or _EMPTY, reason)
        out.cache_status = status_value
        return out


def _tier(body: BodySource | None, outcome: Outcome) -> str:
    """Which tier a stored answer's body came from (memory bodies are bytes in hand)."""
    if body is None:  # no body sent: Cache-Status's detail names the tier when it knows
        return MEMORY if outcome.detail == MEMORY else DISK
    return MEMORY if isinstance(body, BytesBody) else DISK


def _range_of(
    facts: RequestFacts, entry: Entry, size: int, headers: CIMultiDict[str]
) -> RangeDecision:
    """The client's Range (and If-Range) against a full response of ``size`` bytes.

    Ranges of a body the edge coded count in its coded bytes (RFC 9110 §14.1.1: the
    selected representation). Its ETag is weak, so an If-Range never matches it, nor
    does a date: the edge's bytes are not the origin's, and a coded variant made
    again (another level, another codec version) may differ byte for byte; such a
    request gets the whole coded body.
    """
    return evaluate_range(
        facts.range,
        facts.if_range,
        size=size,
        etag=entry.etag,
        last_modified=None if entry.coding else entry.last_modified,
        date=headers.get("Date"),
    )
