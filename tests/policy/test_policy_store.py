"""Storing responses in a shared cache (RFC 9111 §3)."""

from __future__ import annotations

import pytest
from policy_helpers import OPTS, T0, date, hdrs, req

from edge.policy import PolicyOptions, StoreDecision, decide_store

LM = ("Last-Modified", date(T0 - 1000))
DATE = ("Date", date(T0))
AUTH = ("Authorization", "Basic eA==")


@pytest.mark.parametrize(
    ("name", "method", "req_fields", "status", "fields", "expected"),
    [
        ("explicit max-age", "GET", [], 200, [("Cache-Control", "max-age=60")], "stored"),
        ("head only freshens", "HEAD", [], 200, [("Cache-Control", "max-age=60")], "method"),
        ("post", "POST", [], 200, [("Cache-Control", "max-age=60")], "method"),
        ("1xx", "GET", [], 103, [("Cache-Control", "max-age=60")], "status"),
        ("304 freshens", "GET", [], 304, [("Cache-Control", "max-age=60")], "status"),
        ("206 partial", "GET", [], 206, [("Cache-Control", "max-age=60")], "status"),
        ("no-store", "GET", [], 200, [("Cache-Control", "no-store, max-age=60")], "no-store"),
        (
            "req no-store",
            "GET",
            [("Cache-Control", "no-store")],
            200,
            [("Cache-Control", "max-age=60")],
            "no-store",
        ),
        (
            "targeted no-store",
            "GET",
            [],
            200,
            [("CDN-Cache-Control", "no-store"), ("Cache-Control", "max-age=60")],
            "no-store",
        ),
        (
            "targeted overrides cc no-store",
            "GET",
            [],
            200,
            [("CDN-Cache-Control", "max-age=60"), ("Cache-Control", "no-store")],
            "stored",
        ),
        (
            "surrogate no-store",
            "GET",
            [],
            200,
            [("Surrogate-Control", "no-store"), ("Cache-Control", "max-age=60")],
            "no-store",
        ),
        (
            "must-understand known",
            "GET",
            [],
            200,
            [("Cache-Control", "must-understand, no-store, max-age=60")],
            "stored",
        ),
        (
            "must-understand unknown",
            "GET",
            [],
            299,
            [("Cache-Control", "must-understand, no-store, max-age=60")],
            "must-understand",
        ),
        ("private", "GET", [], 200, [("Cache-Control", "private, max-age=60")], "private"),
        (
            "private fields",
            "GET",
            [],
            200,
            [("Cache-Control", 'private="x-user", max-age=60')],
            "stored",
        ),
        ("authorization", "GET", [AUTH], 200, [("Cache-Control", "max-age=60")], "authorization"),
        (
            "authorization public",
            "GET",
            [AUTH],
            200,
            [("Cache-Control", "public, max-age=60")],
            "stored",
        ),
        (
            "authorization s-maxage",
            "GET",
            [AUTH],
            200,
            [("Cache-Control", "s-maxage=60")],
            "stored",
        ),
        (
            "authorization must-revalidate",
            "GET",
            [AUTH],
            200,
            [("Cache-Control", "must-revalidate, max-age=60")],
            "stored",
        ),
        (
            "authorization targeted s-maxage",
            "GET",
            [AUTH],
            200,
            [("CDN-Cache-Control", "s-maxage=60")],
            "stored",
        ),
        (
            "vary star",
            "GET",
            [],
            200,
            [("Cache-Control", "max-age=60"), ("Vary", "accept, *")],
            "vary-star",
        ),
        (
            "set-cookie",
            "GET",
            [],
            200,
            [("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1")],
            "set-cookie",
        ),
        (
            "set-cookie public",
            "GET",
            [],
            200,
            [("Cache-Control", "public, max-age=60"), ("Set-Cookie", "a=1")],
            "stored",
        ),
        (
            "set-cookie targeted",
            "GET",
            [],
            200,
            [("CDN-Cache-Control", "max-age=60"), ("Set-Cookie", "a=1")],
            "stored",
        ),
        (
            "set-cookie stripped",
            "GET",
            [],
            200,
            [("Cache-Control", 'no-cache="set-cookie", max-age=60'), ("Set-Cookie", "a=1")],
            "stored",
        ),
        ("heuristic 200", "GET", [], 200, [DATE, LM], "stored"),
        ("heuristic 404", "GET", [], 404, [DATE, LM], "stored"),
        ("302 heuristic not allowed", "GET", [], 302, [DATE, LM], "status"),
        ("500 heuristic not allowed", "GET", [], 500, [DATE, LM], "status"),
        ("302 explicit", "GET", [], 302, [("Cache-Control", "max-age=60")], "stored"),
        ("500 expires", "GET", [], 500, [DATE, ("Expires", date(T0 + 60))], "stored"),
        ("302 public", "GET", [], 302, [DATE, LM, ("Cache-Control", "public")], "stored"),
        ("200 nothing", "GET", [], 200, [DATE], "no-freshness"),
        ("200 etag only", "GET", [], 200, [DATE, ("ETag", '"x"')], "stored"),
        (
            "no-cache with validator",
            "GET",
            [],
            200,
            [("Cache-Control", "no-cache"), ("ETag", '"x"')],
            "stored",
        ),
        (
            "max-age=0 no validator",
            "GET",
            [],
            200,
            [("Cache-Control", "max-age=0")],
            "no-freshness",
        ),
        (
            "max-age=0 sie",
            "GET",
            [],
            200,
            [("Cache-Control", "max-age=0, stale-if-error=60")],
            "stored",
        ),
    ],
)
def test_rfc9111_3_storability(
    name: str,
    method: str,
    req_fields: list[tuple[str, str]],
    status: int,
    fields: list[tuple[str, str]],
    expected: str,
) -> None:
    decision = decide_store(req(method, *req_fields), status, hdrs(*fields), OPTS)
    assert decision == StoreDecision(expected == "stored", expected), name


URL = "http://example.com/form?x=1"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [([("Cache-Control", "max-age=60"), ("Content-Location", URL)], "stored"),
     ([("Cache-Control", "max-age=60"), ("Content-Location", "/form?x=1")], "stored"),
     ([("Cache-Control", "max-age=60"), ("Content-Location", "http://EXAMPLE.com:80/form?x=1")],
      "stored"),
     ([("Expires", date(T0 + 60)), DATE, ("Content-Location", "/form?x=1")], "stored"),
     ([("Cache-Control", "max-age=60")], "method"),
     ([("Cache-Control", "max-age=60"), ("Content-Location", "/form")], "method"),
     ([("Cache-Control", "max-age=60"), ("Content-Location", "http://other.example/form?x=1")],
      "method"),
     ([LM, DATE, ("Content-Location", "/form?x=1")], "method"),  # heuristic freshness: no
     ([("Cache-Control", "max-age=60, no-store"), ("Content-Location", URL)], "no-store")],
)  # fmt: skip
def test_rfc9110_9_3_3_post_response_stored_for_gets(
    fields: list[tuple[str, str]], expected: str
) -> None:
    decision = decide_store(req("POST"), 200, hdrs(*fields), OPTS, request_url=URL)
    assert decision.detail == expected


@pytest.mark.parametrize(
    ("mode", "fields", "expected"),
    [("shared-only", [("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1")], "set-cookie"),
     ("rfc", [("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1")], "stored"),
     ("rfc", [("Cache-Control", "max-age=60, private"), ("Set-Cookie", "a=1")], "private")],
)  # fmt: skip
def test_rfc9111_7_3_set_cookie_modes(
    mode: str, fields: list[tuple[str, str]], expected: str
) -> None:
    opts = PolicyOptions(store_set_cookie=mode)
    assert decide_store(req("GET"), 200, hdrs(*fields), opts).detail == expected
