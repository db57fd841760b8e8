"""A route's cache rules (edge.policy.rules): one table per rule, no event loop."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from multidict import CIMultiDict
from policy_helpers import OPTS, T0, date, entry, hdrs, req

from edge.policy import PolicyOptions
from edge.policy.cache_control import EMPTY
from edge.policy.decide import LookupAction, decide_lookup, decide_store, freshen
from edge.policy.rules import CacheRules, QueryRule, ignoring_client_no_cache, ruled_lifetime

LM = ("Last-Modified", date(T0 - 1000))  # a 100 s heuristic lifetime


def ruled(**rules: Any) -> PolicyOptions:
    return dataclasses.replace(OPTS, rules=CacheRules(**rules))


# -- ttl: replaces the lifetime of what a heuristic could cache -------------------------
@pytest.mark.parametrize(
    ("fields", "status", "lifetime", "detail"),
    [
        ([("Cache-Control", "max-age=5")], 200, 600, "rule-ttl"),
        ([LM], 200, 600, "rule-ttl"),
        ([], 200, 600, "rule-ttl"),
        ([("Cache-Control", "max-age=0")], 404, 600, "rule-ttl"),
        ([("Cache-Control", "max-age=30")], 302, 30, "stored"),  # not heuristic: as said
        ([("Cache-Control", "public, max-age=30")], 302, 600, "rule-ttl"),
    ],
)
def test_rule_ttl_table(
    fields: list[tuple[str, str]], status: int, lifetime: float, detail: str
) -> None:
    opts = ruled(ttl=600.0)
    e = entry(*fields, status=status, opts=opts)
    assert e.lifetime == lifetime
    decision = decide_store(req(), status, hdrs(("Date", date(T0)), *fields), opts)
    assert (decision.store, decision.detail) == (True, detail)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ([("Cache-Control", "no-store")], "no-store"),
        ([("Cache-Control", "private")], "private"),
        ([("Set-Cookie", "a=1")], "set-cookie"),
    ],
)
def test_rule_ttl_never_stores_what_http_forbids(fields: list[tuple[str, str]], why: str) -> None:
    decision = decide_store(req(), 200, hdrs(*fields), ruled(ttl=600.0))
    assert (decision.store, decision.detail) == (False, why)


def test_rule_ttl_keeps_no_cache_and_must_revalidate() -> None:
    e = entry(("Cache-Control", "no-cache, must-revalidate"), opts=ruled(ttl=60.0))
    assert e.lifetime == 60 and e.no_cache and e.must_revalidate


# -- default_ttl: only without explicit freshness, instead of the heuristic -------------
@pytest.mark.parametrize(
    ("fields", "lifetime", "heuristic", "detail"),
    [
        ([LM], 3600, False, "rule-default-ttl"),  # the 100 s heuristic replaced
        ([], 3600, False, "rule-default-ttl"),
        ([("Cache-Control", "max-age=5")], 5, False, "stored"),
        ([("Expires", date(T0 + 50))], 50, False, "stored"),
        ([("Cache-Control", "max-age=0")], 0, False, "stored"),  # explicit: stays 0
    ],
)
def test_rule_default_ttl_table(
    fields: list[tuple[str, str]], lifetime: float, heuristic: bool, detail: str
) -> None:
    opts = ruled(default_ttl=3600.0)
    e = entry(*fields, opts=opts)
    assert (e.lifetime, e.heuristic) == (lifetime, heuristic)
    headers = hdrs(("Date", date(T0)), ("ETag", '"x"'), *fields)
    assert decide_store(req(), 200, headers, opts).detail == detail


def test_rule_default_ttl_stores_what_had_no_freshness() -> None:
    plain = hdrs(("Date", date(T0)))
    assert decide_store(req(), 200, plain, OPTS).detail == "no-freshness"
    assert decide_store(req(), 200, plain, ruled(default_ttl=60.0)).store


# -- max_ttl: caps every lifetime -------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "status", "lifetime", "heuristic", "detail"),
    [
        ([("Cache-Control", "max-age=86400")], 200, 300, False, "rule-max-ttl"),
        ([("Cache-Control", "max-age=100")], 200, 100, False, "stored"),
        ([("Last-Modified", date(T0 - 86400 * 30))], 200, 300, True, "rule-max-ttl"),
        ([("Cache-Control", "max-age=9999")], 302, 300, False, "rule-max-ttl"),
    ],
)
def test_rule_max_ttl_table(
    fields: list[tuple[str, str]], status: int, lifetime: float, heuristic: bool, detail: str
) -> None:
    opts = ruled(max_ttl=300.0)
    e = entry(*fields, status=status, opts=opts)
    assert (e.lifetime, e.heuristic) == (lifetime, heuristic)
    headers = hdrs(("Date", date(T0)), *fields)
    assert decide_store(req(), status, headers, opts).detail == detail


@pytest.mark.parametrize(
    ("lifetime", "explicit", "eligible", "rules", "out"),
    [
        (5.0, True, True, CacheRules(), None),
        (5.0, True, False, CacheRules(ttl=60.0), None),
        (5.0, True, True, CacheRules(ttl=60.0, max_ttl=60.0), (60.0, "rule-ttl")),
        (0.0, False, True, CacheRules(default_ttl=10.0, max_ttl=5.0), (5.0, "rule-max-ttl")),
        (100.0, False, True, CacheRules(max_ttl=5.0), (5.0, "rule-max-ttl")),
    ],
)
def test_ruled_lifetime_table(
    lifetime: float,
    explicit: bool,
    eligible: bool,
    rules: CacheRules,
    out: tuple[float, str] | None,
) -> None:
    assert ruled_lifetime(lifetime, explicit, eligible, rules) == out


# -- the rules hold after a 304 too ------------------------------------------------------
def test_rules_apply_again_when_freshened() -> None:
    opts = ruled(max_ttl=300.0)
    e = entry(("Cache-Control", "max-age=60"), ("ETag", '"a"'), opts=opts)
    fresh = freshen(
        e,
        hdrs(("Cache-Control", "max-age=99999"), ("Date", date(T0 + 10))),
        request_time=T0 + 10,
        response_time=T0 + 10,
        opts=opts,
    )
    assert fresh.lifetime == 300


# -- stale-while-revalidate / stale-if-error defaults ----------------------------------
@pytest.mark.parametrize(
    ("cc", "swr", "sie"),
    [
        ("max-age=10", 30, 600),
        ("max-age=10, stale-while-revalidate=5", 5, 600),
        ("max-age=10, stale-if-error=1", 30, 1),
    ],
)
def test_rule_stale_defaults_table(cc: str, swr: float, sie: float) -> None:
    opts = ruled(stale_while_revalidate=30.0, stale_if_error=600.0)
    e = entry(("Cache-Control", cc), opts=opts)
    assert (e.stale_while_revalidate, e.stale_if_error) == (swr, sie)
    later = decide_lookup(req(), e, T0 + 20)
    assert later.action is (
        LookupAction.STALE_WHILE_REVALIDATE if swr >= 10 else LookupAction.REVALIDATE
    )


def test_rule_stale_default_makes_a_bare_response_storable() -> None:
    headers = hdrs(("Date", date(T0)))
    assert decide_store(req(), 200, headers, ruled(stale_if_error=60.0)).store


# -- never_cache --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields",
    [[("Cache-Control", "max-age=600")], [("Cache-Control", "public, s-maxage=60")], []],
)
def test_rule_never_cache_table(fields: list[tuple[str, str]]) -> None:
    decision = decide_store(req(), 200, hdrs(*fields), ruled(never_cache=True, ttl=60.0))
    assert (decision.store, decision.detail) == (False, "rule-never-cache")


# -- ignore client no-cache ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "hit"),
    [
        ([("Cache-Control", "no-cache")], True),
        ([("Cache-Control", "max-age=0")], True),
        ([("Pragma", "no-cache")], True),
        ([("Cache-Control", "no-cache, min-fresh=9999")], False),  # the rest still counts
        ([("Cache-Control", "only-if-cached, no-cache")], True),
    ],
)
def test_rule_ignore_client_no_cache_table(fields: list[tuple[str, str]], hit: bool) -> None:
    e = entry(("Cache-Control", "max-age=600"))
    facts = req("GET", *fields)
    assert decide_lookup(facts, e, T0 + 1).action is not LookupAction.HIT  # RFC 9111 as is
    ignoring = dataclasses.replace(facts, cc=ignoring_client_no_cache(facts.cc))
    assert (decide_lookup(ignoring, e, T0 + 1).action is LookupAction.HIT) is hit


def test_ignoring_gives_the_shared_empty_directives() -> None:
    assert ignoring_client_no_cache(req("GET", ("Pragma", "no-cache")).cc) is EMPTY


# -- the query in the key -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "target", "key"),
    [
        (QueryRule(), "/a?b=2&a=1", "/a?b=2&a=1"),
        (QueryRule("sort"), "/a?b=2&a=1&b=1", "/a?a=1&b=2&b=1"),
        (QueryRule("ignore"), "/a?b=2&a=1", "/a"),
        (QueryRule("keep", drop=("utm_*",)), "/a?utm_source=x&id=7&utm_medium=y", "/a?id=7"),
        (QueryRule("keep", drop=("utm_*",)), "/a?utm_source=x", "/a"),
        (QueryRule("keep", drop=("utm_*", "fbclid")), "/a?fbclid=1&x=%20", "/a?x=%20"),
        (QueryRule("sort", keep=("id", "page")), "/s?z=1&page=2&id=9", "/s?id=9&page=2"),
        (QueryRule("keep", drop=("a",)), "/p", "/p"),
        (QueryRule("keep", drop=("a",)), "/p?aa=1&a=2", "/p?aa=1"),
        (QueryRule("sort"), "/p?", "/p"),
    ],
)
def test_query_rule_table(rule: QueryRule, target: str, key: str) -> None:
    assert rule.key_target(target) == key


# -- extra fields to vary on --------------------------------------------------------------
def test_rule_vary_adds_fields_to_the_secondary_key() -> None:
    opts = ruled(vary=("x-device",))
    mobile = CIMultiDict([("X-Device", "mobile")])
    e = entry(
        ("Cache-Control", "max-age=60"), ("Vary", "Accept-Language"), req_headers=mobile, opts=opts
    )
    assert e.vary == ("accept-language", "x-device")
    assert "x-device:mobile" in e.variant
    star = entry(("Cache-Control", "max-age=60"), ("Vary", "*"), opts=opts)
    assert star.vary == ("*",)
