"""The rules around a fill: what is asked upstream, what is kept, what is reused.

These are the decisions the request flow used to make inline in its I/O
code; each is a pure function (or constant) here, cited and table-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.policy.decide import StoreDecision
from edge.policy.invalidate import SAFE_METHODS
from edge.policy.request import RequestFacts

#: Request fields the cache answers itself from the full response, so a fill
#: never sends them upstream: the client's preconditions (RFC 9110 §13.2.1 lets
#: a cache evaluate them against the selected stored response) and its ranges
#: (a fill fetches the whole; a Range miss is not a fill but a range request of its
#: own, :mod:`edge.cache.partial`, RFC 9111 §3.3).
CLIENT_ONLY_FIELDS: tuple[str, ...] = (
    "If-None-Match",
    "If-Modified-Since",
    "If-Match",
    "If-Unmodified-Since",
    "If-Range",
    "Range",
)

#: RFC 5861 §4: stale-if-error applies when "an error is encountered", which it
#: names as a 500, 502, 503 or 504 response (and failures to reach the server).
STALE_IF_ERROR_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504})


def client_only(name: str) -> bool:
    """Is ``name`` a field the cache answers itself (never forwarded by a fill)?"""
    return name.lower() in _CLIENT_ONLY_LOWER


_CLIENT_ONLY_LOWER = frozenset(n.lower() for n in CLIENT_ONLY_FIELDS)


def serves_stale_on(status: int) -> bool:
    """May a stale response replace this upstream status? (RFC 5861 §4.)"""
    return status in STALE_IF_ERROR_STATUSES


def head_miss_passes(method: str) -> bool:
    """A HEAD that finds nothing stored goes upstream as HEAD, not as a fill.

    RFC 9110 §9.3.2: the response to HEAD has no content, so it cannot fill the
    cache (RFC 9111 §3: only a GET response is stored here); fetching the whole
    GET body to answer a HEAD would cost the origin a full transfer for nothing.
    """
    return method == "HEAD"


def joins_running_fill(facts: RequestFacts) -> bool:
    """May this request wait for the answer to a fill that is already running?

    RFC 9111 §4 lets a cache satisfy requests with one response when sending
    one request upstream is equivalent to sending each: a request that arrives
    while the fill's response is still outstanding could have been sent at the
    same time. A request whose own directives forbid reusing a response
    without validation (``no-cache``, §5.2.1.4; ``max-age=0``, §5.2.1.1) asks
    for an answer newer than its own arrival, which a fill sent before it
    cannot promise: it never joins. Once the fill's response has arrived, a new
    request looks it up like a stored response instead (:func:`decide_lookup`).
    """
    cc = facts.cc
    return not cc.no_cache and cc.max_age != 0


def range_applies(status: int, length: int | None) -> bool:
    """Can the client's Range be answered from this response? (RFC 9110 §14.2.)

    Only from a complete 200 representation of known length: ranges of other
    statuses mean nothing, and a chunked body has no end to count from.
    """
    return status == 200 and length is not None


def unsafe(method: str) -> bool:
    """RFC 9110 §9.2.1: anything but GET, HEAD, OPTIONS and TRACE is unsafe."""
    return method.upper() not in SAFE_METHODS


def group_invalidation_applies(method: str, status: int) -> bool:
    """RFC 9875 §3: Cache-Group-Invalidation counts on a non-error (2xx/3xx)
    response to an unsafe method, as RFC 9111 §4.4 invalidation does."""
    return unsafe(method) and 200 <= status < 400


@dataclass(frozen=True, slots=True)
class FillDecision:
    """What a fill does with the response it got.

    ``store``: spool it for every waiting client and commit it when complete;
    otherwise it is passed to the one client that caused the fetch.
    ``hit_for_miss``: remember the key as uncacheable for a while, so requests
    stop queueing behind fills that never share anything.
    """

    store: bool
    detail: str
    hit_for_miss: bool = False


def decide_fill(
    decision: StoreDecision,
    *,
    status: int,
    content_length: int | None,
    request_no_store: bool,
    memory_limit: int,
    spool_available: bool,
) -> FillDecision:
    """The store decision (RFC 9111 §3) adjusted for this node's capacity.

    - Too large: a body announced larger than the memory tier's object limit
      can only be kept on disk; without a usable disk tier it is not stored
      ("too-large"). A chunked body of unknown size is still spooled (it may fit).
    - Hit-for-miss (Varnish's term): a response uncacheable by nature makes later
      requests for the key go upstream at once instead of collapsing onto a fill
      that will not share (RFC 9111 §4 lets a cache collapse; it need not when
      nothing can come of it). Not when the request alone forbade storing
      (no-store: the next request may well be cacheable), and not for 5xx:
      collapsing must stay on exactly while the origin is struggling.
    """
    store, detail = decision.store, decision.detail
    too_big = content_length is not None and content_length > memory_limit
    if store and too_big and not spool_available:
        store, detail = False, "too-large"
    if store:
        return FillDecision(True, detail)
    return FillDecision(False, detail, hit_for_miss=not request_no_store and status < 500)
