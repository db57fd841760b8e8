"""Lookup and storage decisions (RFC 9111 §3, §4, RFC 5861, RFC 8246).

Decisions are data: an action plus a detail token for Cache-Status
(RFC 9211). ``decide_lookup`` is on the hit path, so it reads only the
numbers an :class:`~edge.models.Entry` already holds and parses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import urljoin

from edge.models import Entry
from edge.policy.cache_control import EMPTY
from edge.policy.entries import age_and_ttl, conditional_headers, freshen, make_entry, matches_304
from edge.policy.freshness import (
    HEURISTIC_STATUSES,
    date_value,
    freshness_lifetime,
    has_validator,
    response_directives,
)
from edge.policy.headers import AnyHeaders, split_list
from edge.policy.keys import normalize_url
from edge.policy.options import PolicyOptions
from edge.policy.request import RequestFacts
from edge.policy.rules import RULE_NEVER_CACHE

__all__ = [
    "UNDERSTOOD_STATUSES",
    "LookupAction",
    "LookupDecision",
    "StoreDecision",
    "conditional_headers",
    "decide_lookup",
    "decide_store",
    "freshen",
    "make_entry",
    "matches_304",
    "post_answers_get",
]

#: Status codes whose caching rules this cache implements (RFC 9111 §5.2.2.3).
UNDERSTOOD_STATUSES: frozenset[int] = frozenset(
    {200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501}
)


class LookupAction(Enum):
    HIT = "hit"
    STALE_WHILE_REVALIDATE = "stale-while-revalidate"
    REVALIDATE = "revalidate"
    MISS = "miss"
    PASS = "pass"
    UNSATISFIABLE = "unsatisfiable"  # only-if-cached and nothing usable: 504


@dataclass(frozen=True, slots=True)
class LookupDecision:
    action: LookupAction
    fwd: str | None  # RFC 9211 fwd parameter; None when nothing is forwarded
    detail: str
    age: float = 0.0
    ttl: float = 0.0
    stale_if_error: bool = False


_PASS_METHOD = LookupDecision(LookupAction.PASS, "method", "method")
_UNSATISFIABLE = LookupDecision(LookupAction.UNSATISFIABLE, None, "only-if-cached")
_URI_MISS = LookupDecision(LookupAction.MISS, "uri-miss", "miss")
_VARY_MISS = LookupDecision(LookupAction.MISS, "vary-miss", "miss")


def decide_lookup(
    req: RequestFacts,
    entry: Entry | None,
    now: float,
    *,
    vary_miss: bool = False,
    stale_on_error: float = 0.0,
) -> LookupDecision:
    """What to do with a request given the selected stored response.

    - Only GET and HEAD are served from cache (RFC 9111 §4); others PASS.
    - Request no-store does not prevent using a stored response, only
      storing the new one (§5.2.1.5): it is handled by :func:`decide_store`.
    - No entry: MISS, or 504 for only-if-cached (§5.2.1.7).
    - A fresh entry (§4.2) is used unless the request's max-age (§5.2.1.1)
      or min-fresh (§5.2.1.3) rejects it (fwd=request; ``max-age=0`` always
      revalidates, whatever the sub-second age), the request says
      no-cache (§5.2.1.4, fwd=request), or the response said no-cache
      (§5.2.2.4, fwd=stale). A soft-purged entry is never fresh.
    - Immutable (RFC 8246 §2): a fresh immutable response satisfies a
      request max-age, the reload a browser sends; a request ``no-cache``
      is the user's explicit force-reload, which RFC 8246 says overrides
      immutable, so it still revalidates.
    - A stale entry is served when the request's max-stale allows it
      (§5.2.1.2) or within stale-while-revalidate (RFC 5861 §3), never when
      must-revalidate, proxy-revalidate or s-maxage forbid stale use
      (§5.2.2.2, §5.2.2.8, §5.2.2.10, §4.2.4); otherwise REVALIDATE.
    - only-if-cached turns any forward into UNSATISFIABLE (§5.2.1.7).
    - ``stale_if_error`` says whether the entry may answer if the origin fails:
      within the response's or the request's stale-if-error (RFC 5861 §4), or
      within ``stale_on_error`` seconds past its freshness, the grace a cache
      disconnected from the origin may take (§4.2.4); never when the response
      forbids stale use (must-revalidate, proxy-revalidate, s-maxage, no-cache)
      or the request says no-cache.
    """
    if req.method != "GET" and req.method != "HEAD":
        return _PASS_METHOD
    cc = req.cc
    if entry is None:
        if cc.only_if_cached:
            return _UNSATISFIABLE
        return _VARY_MISS if vary_miss else _URI_MISS

    age, ttl = age_and_ttl(entry, now)
    staleness = -ttl if ttl < 0.0 else 0.0
    forbid_stale = entry.must_revalidate or entry.no_cache
    sie = (
        not forbid_stale
        and not cc.no_cache
        and (
            (entry.stale_if_error > 0.0 and staleness <= entry.stale_if_error)
            or (cc.stale_if_error is not None and staleness <= cc.stale_if_error)
            or (stale_on_error > 0.0 and staleness <= stale_on_error)
        )
    )

    if cc is EMPTY and not entry.no_cache and ttl > 0.0:
        return LookupDecision(LookupAction.HIT, None, "fresh", age, ttl, sie)

    fresh = ttl > 0.0
    detail: str
    fwd: str
    if fresh:
        if cc.no_cache:
            fwd, detail = "request", "request-no-cache"
        elif entry.no_cache:
            fwd, detail = "stale", "no-cache"
        elif (
            cc.max_age is not None and (age > cc.max_age or cc.max_age == 0) and not entry.immutable
        ):
            fwd, detail = "request", "request-max-age"
        elif cc.min_fresh is not None and ttl < cc.min_fresh:
            fwd, detail = "request", "request-min-fresh"
        else:
            return LookupDecision(LookupAction.HIT, None, "fresh", age, ttl, sie)
    else:
        fwd = "stale"
        if forbid_stale:
            detail = "no-cache" if entry.no_cache else "must-revalidate"
        elif cc.no_cache:
            fwd, detail = "request", "request-no-cache"
        elif cc.max_stale is not None and staleness <= cc.max_stale:
            return LookupDecision(LookupAction.HIT, None, "max-stale", age, ttl, sie)
        elif (
            entry.stale_while_revalidate > 0.0
            and staleness <= entry.stale_while_revalidate
            and (cc.max_age is None or age <= cc.max_age)
            and cc.min_fresh is None
        ):
            return LookupDecision(
                LookupAction.STALE_WHILE_REVALIDATE,
                "stale",
                "stale-while-revalidate",
                age,
                ttl,
                sie,
            )
        else:
            detail = "invalidated" if entry.invalidated else "stale"
    if cc.only_if_cached:
        return LookupDecision(LookupAction.UNSATISFIABLE, None, "only-if-cached", age, ttl, False)
    return LookupDecision(LookupAction.REVALIDATE, fwd, detail, age, ttl, sie)


def plain_hit(entry: Entry, now: float) -> tuple[float, float] | None:
    """``(age, ttl)`` when :func:`decide_lookup` says HIT for a plain GET (one with no
    Cache-Control or Pragma, :data:`EMPTY` directives) of ``entry``, else None.

    The hit path's shortcut: with no request directives only a fresh entry without
    ``no-cache`` is a hit (RFC 9111 §4.2, §5.2.2.4); the stale cases all forward or
    revalidate. ``tests/policy`` checks it against ``decide_lookup`` over generated entries.
    """
    if entry.no_cache:
        return None
    age, ttl = age_and_ttl(entry, now)
    return (age, ttl) if ttl > 0.0 else None


@dataclass(frozen=True, slots=True)
class StoreDecision:
    store: bool
    detail: str


def decide_store(
    req: RequestFacts,
    status: int,
    resp_headers: AnyHeaders,
    opts: PolicyOptions,
    *,
    request_url: str | None = None,
) -> StoreDecision:
    """May this shared cache store the response? (RFC 9111 §3.)

    - GET responses are stored; a HEAD response can freshen a stored one but
      has no body to store. A POST response is stored (to answer later GETs)
      only as RFC 9110 §9.3.3 allows, see :func:`post_answers_get`
      (``request_url`` is the POST's target). Other methods: "method".
    - Only final, complete responses: not 1xx, not 304 (it freshens,
      §4.3.4), not 206: a part is stored by :mod:`edge.cache.partial` under the
      rules of :mod:`edge.policy.partial` (RFC 9111 §3.3), never by a fill ("status").
    - no-store in the request (§5.2.1.5), in the directives in effect
      (§5.2.2.5, RFC 9213) or in Surrogate-Control ("no-store"); but
      must-understand with a status we implement overrides a response
      no-store, and must-understand with one we don't forbids storing
      (§5.2.2.3, "must-understand").
    - Unqualified private (§5.2.2.7, "private"); qualified private is
      stored without the named fields (see :func:`make_entry`).
    - A request with Authorization only with public, s-maxage or
      must-revalidate (§3.5, "authorization").
    - ``Vary: *`` can never match (§4.1, "vary-star").
    - Set-Cookie only when the origin explicitly addressed shared caches
      (public, s-maxage, a targeted field) or named Set-Cookie in
      private/no-cache (then it is dropped). §7.3 allows storing it, but a
      shared cookie is the classic CDN leak: a deliberate default
      ("set-cookie"); ``opts.store_set_cookie == "rfc"`` follows §7.3 and
      stores (and serves) it like any other field.
    - Statuses not heuristically cacheable (RFC 9110 §15.1) need explicit
      freshness or public (§3, "status").
    - A response with no freshness, no validator and no stale-* allowance
      could never be reused ("no-freshness").
    - A route's rules (``opts.rules``, :mod:`edge.policy.rules`): ``never_cache``
      stores nothing ("rule-never-cache"); a lifetime a rule set is explicit, and the
      decision names that rule ("rule-ttl", "rule-default-ttl", "rule-max-ttl").
    """
    rules = opts.rules
    if rules is not None and rules.never_cache:
        return StoreDecision(False, RULE_NEVER_CACHE)
    if req.method != "GET" and not (
        req.method == "POST"
        and request_url is not None
        and post_answers_get(status, resp_headers, request_url, opts)
    ):
        return StoreDecision(False, "method")
    if status < 200 or status in (206, 304):
        return StoreDecision(False, "status")
    d = response_directives(resp_headers, opts)
    cc = d.cc
    understood = status in UNDERSTOOD_STATUSES
    if cc.must_understand and not understood:
        return StoreDecision(False, "must-understand")
    if req.cc.no_store or d.surrogate_no_store or (cc.no_store and not cc.must_understand):
        return StoreDecision(False, "no-store")
    if cc.private:
        return StoreDecision(False, "private")
    shared_ok = cc.public or cc.s_maxage is not None
    if req.authorization and not (shared_ok or cc.must_revalidate):
        return StoreDecision(False, "authorization")
    if any(m.strip() == "*" for line in resp_headers.getall("vary", ()) for m in split_list(line)):
        return StoreDecision(False, "vary-star")
    if "set-cookie" in resp_headers and not (
        opts.store_set_cookie == "rfc"
        or shared_ok
        or d.targeted
        or "set-cookie" in cc.private_fields
        or "set-cookie" in cc.no_cache_fields
    ):
        return StoreDecision(False, "set-cookie")
    fresh = freshness_lifetime(d, resp_headers, status, date_value(resp_headers), opts)
    if not fresh.explicit and status not in HEURISTIC_STATUSES and not cc.public:
        return StoreDecision(False, "status")
    if date_value(resp_headers) is None and "expires" in resp_headers and not d.targeted:
        # Without a (valid) Date, Expires is compared with the arrival time in make_entry.
        return StoreDecision(True, fresh.rule or "stored")
    if (
        fresh.lifetime <= 0.0
        and not has_validator(resp_headers)
        and not cc.stale_while_revalidate
        and not cc.stale_if_error
        and not (rules is not None and (rules.stale_while_revalidate or rules.stale_if_error))
    ):
        return StoreDecision(False, "no-freshness")
    return StoreDecision(True, fresh.rule or "stored")


def post_answers_get(
    status: int, resp_headers: AnyHeaders, request_url: str, opts: PolicyOptions
) -> bool:
    """Can this POST response answer later GETs of its target? (RFC 9110 §9.3.3.)

    Only with explicit freshness (RFC 9111 §4.2.1) and a Content-Location
    that names the POST's own target URI: the response is then a
    representation of that resource, which a GET would have fetched. The
    invalidation that every unsafe request causes (RFC 9111 §4.4) removes what
    was stored before it; this response is stored after it.
    """
    location = resp_headers.get("content-location")
    if not location:
        return False
    try:
        target = normalize_url(request_url, "http", "")
        named = normalize_url(urljoin(request_url, location.strip()), "http", "")
    except ValueError:
        return False
    if named != target:
        return False
    d = response_directives(resp_headers, opts)
    return freshness_lifetime(d, resp_headers, status, date_value(resp_headers), opts).explicit
