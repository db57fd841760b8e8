"""Building and freshening stored responses (RFC 9111 §3, §4.2, §4.3).

Everything the hit path needs (lifetime, ages, flags) is computed here
once, so a lookup reads numbers instead of parsing headers.
"""

from __future__ import annotations

from typing import TypedDict

import msgspec
from multidict import CIMultiDict

from edge.models import Entry, HeaderPairs
from edge.policy.cache_control import parse_cache_control
from edge.policy.freshness import (
    Directives,
    current_age,
    date_value,
    freshness_lifetime,
    initial_age,
    response_directives,
)
from edge.policy.headers import (
    HOP_BY_HOP,
    AnyHeaders,
    format_http_date,
    parse_http_date,
    split_list,
)
from edge.policy.options import PolicyOptions
from edge.policy.rules import with_extra_vary
from edge.policy.tags import extract_tags
from edge.policy.validators import parse_etag, weak_match
from edge.policy.vary import variant_key, vary_names

# Fields a 304 must not overwrite (RFC 9111 §3.2): Content-Length, fields
# the stored body depends on, and Vary (the variant key was computed from it).
_NOT_FRESHENED = frozenset(
    {"content-length", "content-encoding", "content-range", "vary", "age", "etag"}
)


class _Computed(TypedDict):
    initial_age: float
    lifetime: float
    heuristic: bool
    stale_while_revalidate: float
    stale_if_error: float
    must_revalidate: bool
    no_cache: bool
    immutable: bool
    etag: str | None
    last_modified: str | None
    request_time: float
    response_time: float


def _plain_pairs(headers: AnyHeaders) -> HeaderPairs:
    """Header pairs as exact ``str`` (multidict may hand out ``istr`` names; msgpack can't)."""
    return tuple((str.__str__(k), str.__str__(v)) for k, v in headers.items())


def _stored_headers(
    headers: AnyHeaders, d: Directives, opts: PolicyOptions, response_time: float
) -> CIMultiDict[str]:
    """Response fields worth storing (RFC 9111 §3.1).

    Hop-by-hop fields and those named by Connection go; so do fields named
    in private="…" (§5.2.2.7) and no-cache="…" (§5.2.2.4), which a shared
    cache may keep serving without; Age is recomputed on every serve; this
    node's targeted field is addressed to us only; upstream Cache-Status
    members describe the fetch, not a later hit (RFC 9211 §2). Named fields count from
    Cache-Control even when a targeted field is in effect (the safe side). A missing Date is added
    from the arrival time (RFC 9110 §6.6.1).
    """
    drop = set(HOP_BY_HOP)
    for value in headers.getall("connection", ()):
        drop.update(m.lower() for m in split_list(value))
    drop.update(d.cc.private_fields)
    drop.update(d.cc.no_cache_fields)
    if d.targeted:
        # Cache-Control is ignored for freshness (RFC 9213 §2.1), but a field
        # the origin marked private for any cache is still not worth keeping.
        cc = parse_cache_control(headers.getall("cache-control", ()))
        drop.update(cc.private_fields)
        drop.update(cc.no_cache_fields)
    drop.add("age")
    drop.add("cache-status")
    drop.add(opts.targeted_field)
    out = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)
    if parse_http_date(out.get("date")) is None:
        out.popall("date", None)
        out.add("Date", format_http_date(response_time))
    return out


def _computed(
    headers: CIMultiDict[str],
    full: AnyHeaders,
    d: Directives,
    status: int,
    request_time: float,
    response_time: float,
    opts: PolicyOptions,
) -> _Computed:
    """The Entry fields derived from directives, dates and validators."""
    date = date_value(headers)
    fresh = freshness_lifetime(d, full, status, date, opts)
    cc = d.cc
    etag = headers.get("etag")
    swr, sie = cc.stale_while_revalidate, cc.stale_if_error
    if opts.rules is not None:  # a route's defaults (edge.policy.rules), when it says none
        swr = swr if swr is not None else opts.rules.stale_while_revalidate
        sie = sie if sie is not None else opts.rules.stale_if_error
    return _Computed(
        initial_age=initial_age(full, date, request_time, response_time),
        lifetime=fresh.lifetime,
        heuristic=fresh.heuristic,
        stale_while_revalidate=swr or 0.0,
        stale_if_error=sie or 0.0,
        # s-maxage implies proxy-revalidate for a shared cache (§5.2.2.10).
        must_revalidate=cc.must_revalidate or cc.proxy_revalidate or cc.s_maxage is not None,
        no_cache=cc.no_cache,
        immutable=cc.immutable,
        etag=etag if parse_etag(etag) is not None else None,
        last_modified=headers.get("last-modified"),
        request_time=request_time,
        response_time=response_time,
    )


def make_entry(
    *,
    key: str,
    url: str,
    req_headers: AnyHeaders,
    method: str,
    status: int,
    reason: str,
    resp_headers: AnyHeaders,
    request_time: float,
    response_time: float,
    body_size: int,
    opts: PolicyOptions,
    stored_at: float,
) -> Entry:
    """Build the stored Entry for a response :func:`decide_store` accepted.

    Lifetime per RFC 9111 §4.2.1 (see :func:`freshness_lifetime`), initial
    age per §4.2.3, secondary key per §4.1, tags from the tag fields; a route's
    rules (``opts.rules``) may set the lifetime, the stale-* allowances and extra
    fields to vary on (:mod:`edge.policy.rules`).
    """
    d = response_directives(resp_headers, opts)
    headers = _stored_headers(resp_headers, d, opts, response_time)
    vary = vary_names(resp_headers)
    if opts.rules is not None:  # a route's extra fields to vary on (edge.policy.rules)
        vary = with_extra_vary(vary, opts.rules.vary)
    # Date maths uses the stored headers (a missing Date is the arrival
    # time); Expires, Age and Last-Modified come from the response itself.
    full = CIMultiDict(resp_headers)
    full.popall("date", None)
    full.add("Date", headers["date"])
    return Entry(
        key=key,
        variant=variant_key(vary, req_headers),
        url=url,
        method=method,
        status=status,
        reason=reason,
        headers=_plain_pairs(headers),
        vary=vary,
        body_size=body_size,
        tags=extract_tags(resp_headers),
        stored_at=stored_at,
        targeted=d.targeted_value,
        **_computed(headers, full, d, status, request_time, response_time, opts),
    )


def freshen(
    entry: Entry,
    resp_headers: AnyHeaders,
    *,
    request_time: float,
    response_time: float,
    opts: PolicyOptions,
) -> Entry:
    """Freshen a stored response with a 304 (RFC 9111 §4.3.4, §3.2).

    The 304's fields replace the stored ones, except Content-Length, the
    fields the stored body depends on (Content-Encoding, Content-Range),
    Vary (the variant key is fixed) and hop-by-hop fields. The stored ETag
    is kept: it describes the stored body; a 304's strong twin of a stored
    weak ETag (nginx with gzip) must not turn it strong, or If-Range would
    be answered with the wrong bytes. A 304 without Date gets the arrival
    time, so the stored Date does not make the entry look old. Lifetime,
    ages and flags are recomputed; a soft purge is cleared.
    """
    incoming = CIMultiDict(resp_headers)
    own = incoming.getall(opts.targeted_field, None)
    targeted = ", ".join(own) if own else entry.targeted
    if "date" not in incoming:
        incoming.add("Date", format_http_date(response_time))
    merged: CIMultiDict[str] = CIMultiDict(entry.headers)
    if entry.etag is None and not entry.coding and parse_etag(incoming.get("etag")) is not None:
        merged.popall("etag", None)
        merged.add("ETag", incoming["etag"])
    drop = _NOT_FRESHENED | HOP_BY_HOP
    for value in incoming.getall("connection", ()):
        drop = drop | {m.lower() for m in split_list(value)}
    for name in dict.fromkeys(k.lower() for k in incoming if k.lower() not in drop):
        merged.popall(name, None)
    for k, v in incoming.items():
        if k.lower() not in drop:
            merged.add(k, v)
    full = CIMultiDict(merged)
    if targeted is not None:
        full.popall(opts.targeted_field, None)
        full.add(opts.targeted_field, targeted)
    age = incoming.get("age")
    if age is not None:
        full.add("Age", age)
    d = response_directives(full, opts)
    headers = _stored_headers(full, d, opts, response_time)
    return msgspec.structs.replace(
        entry,
        headers=_plain_pairs(headers),
        invalidated=False,
        targeted=targeted,
        **_computed(headers, full, d, entry.status, request_time, response_time, opts),
    )


def matches_304(entry: Entry, resp_headers: AnyHeaders) -> bool:
    """Does this 304 apply to the stored response? (RFC 9111 §4.3.4.)

    The 304 answers a conditional request built from this entry's
    validators. When both carry an ETag, they must match by weak
    comparison: §4.3.4 asks for a strong match, but we accept the strong
    twin of a stored weak ETag (nginx sends both for one gzipped body) and
    never let it replace the stored one. Otherwise Last-Modified must be
    equal when both carry it. A 304 with no comparable validator applies
    (§4.3.4, third case, extended to our own conditional request).
    """
    new_tag = parse_etag(resp_headers.get("etag"))
    old_tag = parse_etag(origin_etag(entry))
    if new_tag is not None and old_tag is not None:
        return weak_match(new_tag, old_tag)
    new_lm = parse_http_date(resp_headers.get("last-modified"))
    old_lm = parse_http_date(entry.last_modified)
    if new_lm is not None and old_lm is not None:
        return new_lm == old_lm
    return True


def head_updates(entry: Entry, resp_headers: AnyHeaders) -> bool:
    """Does this 200 response to HEAD describe the stored GET response? (RFC 9111 §4.3.5.)

    Each validator the HEAD response carries (ETag, Last-Modified) must equal
    the stored one, and its Content-Length, if any, the stored body's length:
    then the stored response is updated with its fields (as from a 304,
    §3.2, see :func:`freshen`). Otherwise the stored response is to be
    considered stale.
    """
    etag = resp_headers.get("etag")
    if etag is not None and parse_etag(etag) != parse_etag(origin_etag(entry)):
        return False
    lm = resp_headers.get("last-modified")
    if lm is not None:
        new, old = parse_http_date(lm), parse_http_date(entry.last_modified)
        if new is None or new != old:
            return False
    length = resp_headers.get("content-length")
    size = entry.source_size if entry.coding else entry.body_size
    if length is not None and length.strip() != str(size):
        return False
    return True


def origin_etag(entry: Entry) -> str | None:
    """The origin's ETag for ``entry``: for a body the edge coded, the one behind its
    own weak tag (:func:`edge.policy.coding.coded_etag`), which the origin never saw."""
    return entry.source_etag if entry.coding else entry.etag


def conditional_headers(entry: Entry) -> list[tuple[str, str]]:
    """Validators for revalidating ``entry`` (RFC 9111 §4.3.1).

    If-None-Match with the stored ETag; If-Modified-Since with the stored
    Last-Modified, or the Date when there is none.
    """
    out: list[tuple[str, str]] = []
    etag = origin_etag(entry)
    if etag is not None:
        out.append(("If-None-Match", etag))
    if entry.last_modified is not None and parse_http_date(entry.last_modified) is not None:
        out.append(("If-Modified-Since", entry.last_modified))
    else:
        for name, value in entry.headers:
            if name.lower() == "date":
                out.append(("If-Modified-Since", value))
                break
    return out


def age_and_ttl(entry: Entry, now: float) -> tuple[float, float]:
    """The entry's current age (RFC 9111 §4.2.3) and the freshness it has left.

    The time to live is the lifetime minus the age (negative once stale, RFC 9211
    §2.5); a soft-purged entry has no lifetime left. The one computation behind
    the lookup, Age and Cache-Status ttl on answers, and the admin listing.
    """
    age = current_age(entry.initial_age, entry.response_time, now)
    return age, (0.0 if entry.invalidated else entry.lifetime) - age
