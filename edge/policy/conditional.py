"""Answering a client's own conditional request from a stored response.

RFC 9110 §13.2.2 gives the order of evaluation. RFC 9111 §4.3.2 says
If-Match and If-Unmodified-Since are not for caches; as a reverse proxy
(a gateway acting for the origin) edge evaluates them against a response
it is allowed to serve, which is what the origin would do with that
representation.
"""

from __future__ import annotations

from enum import Enum

from edge.models import Entry
from edge.policy.headers import AnyHeaders, parse_http_date
from edge.policy.request import RequestFacts
from edge.policy.validators import parse_etag, parse_etag_list, strong_match, weak_match

#: Fields a 304 carries (RFC 9110 §15.4.5), plus Last-Modified for If-Modified-Since.
_NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
)


class ConditionalResult(Enum):
    NONE = "none"  # serve the response normally
    NOT_MODIFIED = "not-modified"  # 304
    PRECONDITION_FAILED = "precondition-failed"  # 412


def _modified(entry: Entry) -> float | None:
    """Last modification time; the Date when there is no Last-Modified (RFC 9111 §4.3.2)."""
    lm = parse_http_date(entry.last_modified)
    if lm is not None:
        return lm
    for name, value in entry.headers:
        if name.lower() == "date":
            return parse_http_date(value)
    return entry.response_time


def evaluate_conditionals(req: RequestFacts, entry: Entry) -> ConditionalResult:
    """The client's preconditions against a stored response (see :func:`evaluate_preconditions`)."""
    if not req.conditional:
        return ConditionalResult.NONE
    return evaluate_preconditions(
        req, etag=entry.etag, last_modified=entry.last_modified, modified=_modified(entry)
    )


def response_conditionals(req: RequestFacts, headers: AnyHeaders) -> ConditionalResult:
    """The client's preconditions against a response fresh from the origin.

    Used when that response is not stored: the cache stripped the client's
    conditionals from its request (to fill with a full response), so it must
    evaluate them itself (RFC 9110 §13.2.1).
    """
    lm = headers.get("last-modified")
    modified = parse_http_date(lm)
    if modified is None:
        modified = parse_http_date(headers.get("date"))
    return evaluate_preconditions(
        req, etag=headers.get("etag"), last_modified=lm, modified=modified
    )


def not_modified_fields(headers: AnyHeaders) -> list[tuple[str, str]]:
    """The fields of a response that a 304 carries (RFC 9110 §15.4.5)."""
    return [(k, v) for k, v in headers.items() if k.lower() in _NOT_MODIFIED_FIELDS]


def evaluate_preconditions(
    req: RequestFacts, *, etag: str | None, last_modified: str | None, modified: float | None
) -> ConditionalResult:
    """Evaluate preconditions in RFC 9110 §13.2.2 order.

    1. If-Match (§13.1.1, strong comparison; ``*`` matches a stored response)
       → 412 when false.
    2. Otherwise If-Unmodified-Since (§13.1.4) → 412 when modified since;
       an invalid date (including a list of dates) is ignored.
    3. If-None-Match (§13.1.2, weak comparison, ``*``) → 304 for GET/HEAD.
    4. Otherwise, for GET/HEAD, If-Modified-Since (§13.1.3) → 304 when not
       modified since; an invalid date is ignored.
    """
    if req.if_match is not None:
        tags = parse_etag_list(req.if_match)
        if tags is not None:
            stored = parse_etag(etag)
            if not any(strong_match(t, stored) for t in tags):
                return ConditionalResult.PRECONDITION_FAILED
    elif req.if_unmodified_since is not None:
        since = parse_http_date(req.if_unmodified_since)
        changed = parse_http_date(last_modified)
        if since is not None and (changed is None or changed > since):
            return ConditionalResult.PRECONDITION_FAILED
    get_or_head = req.method in ("GET", "HEAD")
    if req.if_none_match is not None:
        tags = parse_etag_list(req.if_none_match)
        stored = parse_etag(etag)
        if tags is None or any(weak_match(t, stored) for t in tags):
            return ConditionalResult.NOT_MODIFIED if get_or_head else ConditionalResult.NONE
        return ConditionalResult.NONE
    if get_or_head and req.if_modified_since is not None:
        since = parse_http_date(req.if_modified_since)
        if since is not None and modified is not None and modified <= since:
            return ConditionalResult.NOT_MODIFIED
    return ConditionalResult.NONE


def not_modified_headers(entry: Entry) -> list[tuple[str, str]]:
    """The stored fields a 304 carries (RFC 9110 §15.4.5)."""
    return [(k, v) for k, v in entry.headers if k.lower() in _NOT_MODIFIED_FIELDS]
