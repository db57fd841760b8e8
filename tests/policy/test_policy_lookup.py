"""Lookup decisions (RFC 9111 §4, §5.2.1; RFC 5861; RFC 8246; RFC 9211 fwd values)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import T0, date, entry, req

from edge.policy import LookupAction, LookupDecision, decide_lookup
from edge.policy.decide import plain_hit

A = LookupAction
FRESH = [("Cache-Control", "max-age=100")]


@pytest.mark.parametrize(
    ("name", "method", "req_cc", "fields", "elapsed", "action", "fwd", "detail"),
    [
        ("post passes", "POST", None, FRESH, 0, A.PASS, "method", "method"),
        ("fresh hit", "GET", None, FRESH, 10, A.HIT, None, "fresh"),
        ("fresh head hit", "HEAD", None, FRESH, 10, A.HIT, None, "fresh"),
        ("expired", "GET", None, FRESH, 100, A.REVALIDATE, "stale", "stale"),
        # §5.2.1.1 max-age
        ("req max-age ok", "GET", "max-age=50", FRESH, 10, A.HIT, None, "fresh"),
        (
            "req max-age too old",
            "GET",
            "max-age=5",
            FRESH,
            10,
            A.REVALIDATE,
            "request",
            "request-max-age",
        ),
        ("req max-age=0", "GET", "max-age=0", FRESH, 0, A.REVALIDATE, "request", "request-max-age"),
        # §5.2.1.3 min-fresh
        ("req min-fresh ok", "GET", "min-fresh=50", FRESH, 10, A.HIT, None, "fresh"),
        (
            "req min-fresh fails",
            "GET",
            "min-fresh=95",
            FRESH,
            10,
            A.REVALIDATE,
            "request",
            "request-min-fresh",
        ),
        # §5.2.1.4 no-cache, §5.4 Pragma
        ("req no-cache", "GET", "no-cache", FRESH, 10, A.REVALIDATE, "request", "request-no-cache"),
        # §5.2.1.5 no-store does not prevent reuse
        ("req no-store", "GET", "no-store", FRESH, 10, A.HIT, None, "fresh"),
        # §5.2.1.2 max-stale
        ("max-stale any", "GET", "max-stale", FRESH, 1000, A.HIT, None, "max-stale"),
        ("max-stale within", "GET", "max-stale=20", FRESH, 110, A.HIT, None, "max-stale"),
        ("max-stale exceeded", "GET", "max-stale=5", FRESH, 110, A.REVALIDATE, "stale", "stale"),
        (
            "max-stale vs must-revalidate",
            "GET",
            "max-stale",
            [("Cache-Control", "max-age=100, must-revalidate")],
            110,
            A.REVALIDATE,
            "stale",
            "must-revalidate",
        ),
        (
            "max-stale vs s-maxage",
            "GET",
            "max-stale",
            [("Cache-Control", "s-maxage=100")],
            110,
            A.REVALIDATE,
            "stale",
            "must-revalidate",
        ),
        # §5.2.1.7 only-if-cached
        ("only-if-cached fresh", "GET", "only-if-cached", FRESH, 10, A.HIT, None, "fresh"),
        (
            "only-if-cached stale",
            "GET",
            "only-if-cached",
            FRESH,
            200,
            A.UNSATISFIABLE,
            None,
            "only-if-cached",
        ),
        (
            "only-if-cached max-stale",
            "GET",
            "only-if-cached, max-stale",
            FRESH,
            200,
            A.HIT,
            None,
            "max-stale",
        ),
        # §5.2.2.4 response no-cache
        (
            "resp no-cache",
            "GET",
            None,
            [("Cache-Control", "no-cache, max-age=100")],
            1,
            A.REVALIDATE,
            "stale",
            "no-cache",
        ),
        (
            "resp no-cache max-stale",
            "GET",
            "max-stale",
            [("Cache-Control", "no-cache")],
            1,
            A.REVALIDATE,
            "stale",
            "no-cache",
        ),
        # RFC 8246 immutable: a reload's max-age=0 is satisfied, a force reload is not
        (
            "immutable reload",
            "GET",
            "max-age=0",
            [("Cache-Control", "max-age=100, immutable")],
            10,
            A.HIT,
            None,
            "fresh",
        ),
        (
            "immutable force reload",
            "GET",
            "no-cache",
            [("Cache-Control", "max-age=100, immutable")],
            10,
            A.REVALIDATE,
            "request",
            "request-no-cache",
        ),
        (
            "immutable stale",
            "GET",
            None,
            [("Cache-Control", "max-age=100, immutable")],
            101,
            A.REVALIDATE,
            "stale",
            "stale",
        ),
        # RFC 5861 §3 stale-while-revalidate
        (
            "swr window",
            "GET",
            None,
            [("Cache-Control", "max-age=100, stale-while-revalidate=30")],
            120,
            A.STALE_WHILE_REVALIDATE,
            "stale",
            "stale-while-revalidate",
        ),
        (
            "swr expired",
            "GET",
            None,
            [("Cache-Control", "max-age=100, stale-while-revalidate=30")],
            131,
            A.REVALIDATE,
            "stale",
            "stale",
        ),
        (
            "swr must-revalidate",
            "GET",
            None,
            [("Cache-Control", "max-age=100, stale-while-revalidate=30, must-revalidate")],
            120,
            A.REVALIDATE,
            "stale",
            "must-revalidate",
        ),
        (
            "swr req no-cache",
            "GET",
            "no-cache",
            [("Cache-Control", "max-age=100, stale-while-revalidate=30")],
            120,
            A.REVALIDATE,
            "request",
            "request-no-cache",
        ),
        (
            "swr req max-age",
            "GET",
            "max-age=110",
            [("Cache-Control", "max-age=100, stale-while-revalidate=30")],
            120,
            A.REVALIDATE,
            "stale",
            "stale",
        ),
        (
            "swr targeted",
            "GET",
            None,
            [("CDN-Cache-Control", "max-age=100, stale-while-revalidate=30")],
            120,
            A.STALE_WHILE_REVALIDATE,
            "stale",
            "stale-while-revalidate",
        ),
        (
            "swr only-if-cached",
            "GET",
            "only-if-cached",
            [("Cache-Control", "max-age=100, stale-while-revalidate=30")],
            120,
            A.STALE_WHILE_REVALIDATE,
            "stale",
            "stale-while-revalidate",
        ),
    ],
)
def test_rfc9111_4_lookup_table(
    name: str,
    method: str,
    req_cc: str | None,
    fields: list[tuple[str, str]],
    elapsed: float,
    action: LookupAction,
    fwd: str | None,
    detail: str,
) -> None:
    r = req(method, *([("Cache-Control", req_cc)] if req_cc else []))
    d = decide_lookup(r, entry(*fields), T0 + elapsed)
    assert (d.action, d.fwd, d.detail) == (action, fwd, detail), name
    assert d.age == pytest.approx(elapsed)


def test_rfc9111_5_4_pragma_no_cache_without_cache_control() -> None:
    e = entry(*FRESH)
    assert decide_lookup(req("GET", Pragma="no-cache"), e, T0).action is A.REVALIDATE
    both = req("GET", Pragma="no-cache", Cache_Control="max-stale")
    assert decide_lookup(both, e, T0).action is A.HIT


@pytest.mark.parametrize(
    ("req_cc", "vary_miss", "expected"),
    [
        (None, False, LookupDecision(A.MISS, "uri-miss", "miss")),
        (None, True, LookupDecision(A.MISS, "vary-miss", "miss")),
        ("only-if-cached", False, LookupDecision(A.UNSATISFIABLE, None, "only-if-cached")),
    ],
)
def test_rfc9211_2_2_miss_fwd(
    req_cc: str | None, vary_miss: bool, expected: LookupDecision
) -> None:
    r = req("GET", *([("Cache-Control", req_cc)] if req_cc else []))
    assert decide_lookup(r, None, T0, vary_miss=vary_miss) == expected


def test_soft_purge_is_never_fresh_but_may_serve_stale() -> None:
    e = msgspec.structs.replace(
        entry(("Cache-Control", "max-age=100, stale-while-revalidate=60, stale-if-error=60")),
        invalidated=True,
    )
    d = decide_lookup(req(), e, T0 + 10)
    assert d.action is A.STALE_WHILE_REVALIDATE
    assert d.stale_if_error
    plain = msgspec.structs.replace(entry(*FRESH), invalidated=True)
    d = decide_lookup(req(), plain, T0 + 10)
    assert (d.action, d.detail) == (A.REVALIDATE, "invalidated")


@pytest.mark.parametrize(
    ("resp_cc", "req_cc", "elapsed", "allowed"),
    [
        ("max-age=100, stale-if-error=60", None, 150, True),  # RFC 5861 §4
        ("max-age=100, stale-if-error=60", None, 161, False),
        ("max-age=100", None, 150, False),
        ("max-age=100", "stale-if-error=100", 150, True),  # request directive
        ("max-age=100, stale-if-error=60, must-revalidate", None, 150, False),  # §4.2.4
        ("max-age=100, stale-if-error=60, proxy-revalidate", None, 150, False),
        ("s-maxage=100, stale-if-error=60", None, 150, False),
        ("no-cache, stale-if-error=60", None, 10, False),
        ("max-age=100, stale-if-error=60", "no-cache", 150, False),
    ],
)
def test_rfc5861_4_stale_if_error(
    resp_cc: str, req_cc: str | None, elapsed: float, allowed: bool
) -> None:
    r = req("GET", *([("Cache-Control", req_cc)] if req_cc else []))
    assert (
        decide_lookup(r, entry(("Cache-Control", resp_cc)), T0 + elapsed).stale_if_error is allowed
    )


def test_rfc9111_4_2_3_clock_going_backwards_gives_zero_age() -> None:
    d = decide_lookup(req(), entry(*FRESH), T0 - 50)
    assert (d.action, d.age, d.ttl) == (A.HIT, 0.0, 100.0)


@given(
    lifetime=st.integers(min_value=1, max_value=10**6),
    age=st.integers(min_value=0, max_value=10**6),
    steps=st.lists(st.floats(min_value=0, max_value=1e5), min_size=1, max_size=20),
)
def test_rfc9111_4_2_fresh_until_lifetime_passes(
    lifetime: int, age: int, steps: list[float]
) -> None:
    e = entry(("Cache-Control", f"max-age={lifetime}"), ("Age", str(age)))
    now = T0
    for step in steps:
        now += step
        d = decide_lookup(req(), e, now)
        assert d.age >= 0
        expected_fresh = age + (now - T0) < lifetime
        assert (d.action is A.HIT) is expected_fresh
        assert d.ttl == pytest.approx(lifetime - d.age)


@pytest.mark.parametrize(
    ("fields", "req_cc", "elapsed", "grace", "expected"),
    [(FRESH, None, 500, 3600.0, True), (FRESH, None, 5000, 3600.0, False),
     (FRESH, None, 500, 0.0, False), (FRESH, "no-cache", 500, 3600.0, False),
     ([("Cache-Control", "max-age=100, must-revalidate")], None, 500, 3600.0, False),
     ([("Cache-Control", "max-age=100, proxy-revalidate")], None, 500, 3600.0, False),
     ([("Cache-Control", "max-age=100, s-maxage=100")], None, 500, 3600.0, False),
     ([("Cache-Control", "max-age=100, no-cache")], None, 500, 3600.0, False),
     ([("Cache-Control", "max-age=100, stale-if-error=9000")], None, 5000, 0.0, True)],
)  # fmt: skip
def test_rfc9111_4_2_4_stale_on_error_grace(
    fields: list[tuple[str, str]], req_cc: str | None, elapsed: float, grace: float, expected: bool
) -> None:
    facts = req("GET", *([("Cache-Control", req_cc)] if req_cc else []))
    d = decide_lookup(facts, entry(*fields), T0 + elapsed, stale_on_error=grace)
    assert d.stale_if_error is expected


_DIRECTIVES = st.sampled_from(
    [
        "max-age=100",
        "s-maxage=50",
        "no-cache",
        "must-revalidate",
        "proxy-revalidate",
        "immutable",
        "stale-while-revalidate=30",
        "stale-if-error=60",
        "public",
        "max-age=0",
    ]
)


@given(
    directives=st.lists(_DIRECTIVES, max_size=4),
    age=st.integers(min_value=0, max_value=200),
    elapsed=st.floats(min_value=-10, max_value=400),
    expires=st.one_of(st.none(), st.integers(min_value=-100, max_value=300)),
    invalidated=st.booleans(),
)
def test_plain_hit_is_decide_lookup_for_a_plain_get(
    directives: list[str], age: int, elapsed: float, expires: int | None, invalidated: bool
) -> None:
    """The hot path's shortcut answers exactly when decide_lookup says HIT for a plain GET,
    with the same age and ttl."""
    fields = [("Age", str(age))]
    if directives:
        fields.append(("Cache-Control", ", ".join(directives)))
    if expires is not None:
        fields.append(("Expires", date(T0 + expires)))
    e = entry(*fields)
    if invalidated:
        e = msgspec.structs.replace(e, invalidated=True)
    now = T0 + elapsed
    d = decide_lookup(req(), e, now)
    got = plain_hit(e, now)
    if d.action is A.HIT:
        assert got == (d.age, d.ttl)
    else:
        assert got is None
