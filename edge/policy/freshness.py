"""Response directives in effect for this cache, freshness lifetime and age.

RFC 9111 §4.2 (freshness), §4.2.3 (age), RFC 9213 (targeted fields) and
the Edge Architecture ``Surrogate-Control`` convention. Pure arithmetic:
the clock is always a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.policy.cache_control import CacheControl, parse_cache_control, parse_targeted
from edge.policy.headers import AnyHeaders, parse_delta_seconds, parse_http_date, split_list
from edge.policy.options import PolicyOptions
from edge.policy.rules import RULE_MAX_TTL, ruled_lifetime

#: RFC 9110 §15.1: status codes heuristically cacheable by default.
HEURISTIC_STATUSES: frozenset[int] = frozenset(
    {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501}
)


@dataclass(frozen=True, slots=True)
class Directives:
    """The response directives this cache obeys.

    ``targeted`` is True when a targeted field (RFC 9213 §2.1) was used: then
    Cache-Control and Expires are ignored altogether. ``surrogate_max_age``
    comes from Surrogate-Control and overrides only the freshness lifetime.
    """

    cc: CacheControl
    targeted: bool
    targeted_value: str | None  # raw value of this node's own targeted field
    surrogate_max_age: float | None
    surrogate_no_store: bool


def response_directives(headers: AnyHeaders, opts: PolicyOptions) -> Directives:
    """Select the directives for this cache (RFC 9213 §2.1).

    The first targeted field, in target-list order (this node's field, then
    CDN-Cache-Control), with a valid non-empty value wins; an invalid one is
    ignored as if absent.
    """
    own_value = _joined(headers, opts.targeted_field)
    for name in dict.fromkeys((opts.targeted_field, "cdn-cache-control")):
        value = own_value if name == opts.targeted_field else _joined(headers, name)
        if value is not None and (cc := parse_targeted(value)) is not None:
            return Directives(cc, True, own_value, None, False)
    sc_max_age: float | None = None
    sc_no_store = False
    if opts.surrogate_control and (sc_lines := headers.getall("surrogate-control", None)):
        sc = parse_cache_control(sc_lines)
        sc_max_age, sc_no_store = sc.max_age, sc.no_store
    cc = parse_cache_control(headers.getall("cache-control", ()))
    return Directives(cc, False, own_value, sc_max_age, sc_no_store)


def _joined(headers: AnyHeaders, name: str) -> str | None:
    lines = headers.getall(name, None)
    return ", ".join(lines) if lines else None


@dataclass(frozen=True, slots=True)
class Freshness:
    lifetime: float
    heuristic: bool
    explicit: bool  # any explicit expiration (max-age, s-maxage, Expires, Surrogate-Control)
    rule: str = ""  # the route's cache rule that set the lifetime (edge.policy.rules), if any


def date_value(headers: AnyHeaders) -> float | None:
    return parse_http_date(headers.get("date"))


def freshness_lifetime(
    d: Directives,
    headers: AnyHeaders,
    status: int,
    date: float | None,
    opts: PolicyOptions,
) -> Freshness:
    """Freshness lifetime for a shared cache (RFC 9111 §4.2.1, §4.2.2).

    Precedence: targeted s-maxage/max-age (RFC 9213) > Surrogate-Control
    max-age > s-maxage > max-age > Expires − Date > heuristic. More than one
    Expires line, or an invalid Expires, means already expired (§5.3). The
    heuristic (10% of Date − Last-Modified, capped) applies only to
    heuristically cacheable statuses or ``public`` responses, and never when
    explicit freshness is present (§4.2.2). ``date`` is the Date field value,
    or the response time when the field is missing.

    A route's cache rules (``opts.rules``) then have their say
    (:func:`edge.policy.rules.ruled_lifetime`): a lifetime they set counts as explicit.
    """
    fresh = _lifetime(d, headers, status, date, opts)
    rules = opts.rules
    if rules is None:
        return fresh
    eligible = status in HEURISTIC_STATUSES or d.cc.public
    ruled = ruled_lifetime(fresh.lifetime, fresh.explicit, eligible, rules)
    if ruled is None:
        return fresh
    lifetime, rule = ruled
    if rule == RULE_MAX_TTL:  # the response's own lifetime, shortened
        return Freshness(lifetime, fresh.heuristic, fresh.explicit, rule)
    return Freshness(lifetime, False, True, rule)


def _lifetime(
    d: Directives,
    headers: AnyHeaders,
    status: int,
    date: float | None,
    opts: PolicyOptions,
) -> Freshness:
    cc = d.cc
    if d.targeted:
        for v in (cc.s_maxage, cc.max_age):
            if v is not None:
                return Freshness(v, False, True)
    else:
        for v in (d.surrogate_max_age, cc.s_maxage, cc.max_age):
            if v is not None:
                return Freshness(v, False, True)
        expires = headers.getall("expires", None)
        if expires is not None:
            exp = parse_http_date(expires[0]) if len(expires) == 1 else None
            if exp is None or date is None:
                return Freshness(0.0, False, True)
            return Freshness(max(0.0, exp - date), False, True)
    if status in HEURISTIC_STATUSES or cc.public:
        lm = parse_http_date(headers.get("last-modified"))
        if lm is not None and date is not None and lm < date:
            lifetime = min(opts.heuristic_fraction * (date - lm), opts.heuristic_max)
            return Freshness(max(0.0, lifetime), True, False)
    return Freshness(0.0, False, False)


def upstream_age(headers: AnyHeaders) -> float:
    """Age field value (RFC 9111 §5.1): first member; an invalid value is ignored."""
    value = headers.get("age")
    if value is None:
        return 0.0
    members = split_list(value)
    if not members:
        return 0.0
    age = parse_delta_seconds(members[0])
    return 0.0 if age is None else float(age)


def initial_age(
    headers: AnyHeaders, date: float | None, request_time: float, response_time: float
) -> float:
    """corrected_initial_age (RFC 9111 §4.2.3).

    apparent_age = max(0, response_time − date_value);
    corrected_age_value = age_value + (response_time − request_time);
    result = max(apparent_age, corrected_age_value), never negative.
    """
    apparent = max(0.0, response_time - date) if date is not None else 0.0
    delay = max(0.0, response_time - request_time)
    return max(apparent, upstream_age(headers) + delay)


def current_age(initial: float, response_time: float, now: float) -> float:
    """current_age = corrected_initial_age + resident_time (RFC 9111 §4.2.3).

    A clock that stepped backwards yields zero resident time, not a negative age.
    """
    return max(0.0, initial) + max(0.0, now - response_time)


def has_validator(headers: AnyHeaders) -> bool:
    return "etag" in headers or "last-modified" in headers
