"""Invalidation (RFC 9111 §4.4), tags (RFC 9875), Cache-Status (RFC 9211), request facts."""

from __future__ import annotations

from typing import Any

import http_sf
import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import hdrs

from edge.policy import (
    analyze_request,
    cache_status,
    extract_tags,
    group_invalidations,
    invalidation_urls,
)
from edge.policy.cache_control import EMPTY

URL = "http://example.com/a/b"


@pytest.mark.parametrize(
    ("method", "status", "fields", "expected"),
    [
        ("GET", 200, [], []),
        ("POST", 500, [], []),
        ("POST", 404, [], []),
        ("POST", 200, [], [URL]),
        ("DELETE", 204, [], [URL]),
        ("FOO", 302, [], [URL]),  # unknown methods are unsafe
        ("POST", 201, [("Location", "/a/c")], [URL, "http://example.com/a/c"]),
        ("PUT", 200, [("Content-Location", "d?x=1")], [URL, "http://example.com/a/d?x=1"]),
        ("POST", 201, [("Location", "http://EXAMPLE.com:80/z")], [URL, "http://EXAMPLE.com:80/z"]),
        ("POST", 201, [("Location", "http://evil.example/a")], [URL]),  # other origin
        ("POST", 201, [("Location", "https://example.com/a")], [URL]),  # other scheme
        ("POST", 201, [("Location", "http://example.com:8080/a")], [URL]),  # other port
        ("POST", 201, [("Location", "/a/b")], [URL]),  # deduplicated
    ],
)
def test_rfc9111_4_4_invalidation(
    method: str, status: int, fields: list[tuple[str, str]], expected: list[str]
) -> None:
    got = invalidation_urls(
        method=method, status=status, request_url=URL, resp_headers=hdrs(*fields)
    )
    assert got == expected


def test_tags_from_all_three_fields_deduplicated_in_order() -> None:
    h = hdrs(
        ("Surrogate-Key", "a  b"),
        ("Surrogate-Key", "c"),
        ("Cache-Tag", "b, d,,e"),
        ("Cache-Groups", '"f", "a"'),
        ("Cache-Groups", 'g, "h"'),  # a Token member is not a String: ignored
    )
    assert extract_tags(h) == ("a", "b", "c", "d", "e", "f", "h")


def test_rfc9875_invalid_cache_groups_ignored() -> None:
    assert extract_tags(hdrs(("Cache-Groups", '"unterminated'), ("Cache-Tag", "x"))) == ("x",)
    assert group_invalidations(hdrs(("Cache-Group-Invalidation", '"a", "b", "a"'))) == ("a", "b")
    assert group_invalidations(hdrs(("Cache-Group-Invalidation", "(("))) == ()


@given(st.text(max_size=40), st.text(max_size=40))
def test_tag_parsers_never_raise(a: str, b: str) -> None:
    h = hdrs(("Surrogate-Key", a), ("Cache-Tag", b), ("Cache-Groups", a))
    assert all(isinstance(t, str) for t in extract_tags(h))
    assert isinstance(group_invalidations(hdrs(("Cache-Group-Invalidation", b))), tuple)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"hit": True, "ttl": 41.6, "detail": "memory"}, "edge; hit; ttl=42; detail=memory"),
        (
            {"hit": False, "fwd": "uri-miss", "fwd_status": 200, "stored": True},
            "edge; fwd=uri-miss; fwd-status=200; stored",
        ),
        ({"hit": False, "fwd": "stale", "collapsed": True}, "edge; fwd=stale; collapsed"),
        ({"hit": True, "ttl": -5.0}, "edge; hit; ttl=-5"),
        ({"hit": False, "detail": "max-age=0-request"}, 'edge; detail="max-age=0-request"'),
        ({"hit": False, "detail": 'a "b" \\ é'}, 'edge; detail="a \\"b\\" \\\\ ?"'),
    ],
)
def test_rfc9211_2_cache_status(kwargs: dict[str, object], text: str) -> None:
    assert cache_status("edge", **kwargs) == text  # type: ignore[arg-type]


@given(
    name=st.text(max_size=20),
    hit=st.booleans(),
    fwd=st.one_of(st.none(), st.sampled_from(["uri-miss", "vary-miss", "stale", "request"])),
    fwd_status=st.one_of(st.none(), st.integers(min_value=100, max_value=599)),
    ttl=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32)),
    detail=st.one_of(st.none(), st.text(max_size=20)),
)
def test_rfc9211_2_cache_status_parses_as_sf_list(
    name: str,
    hit: bool,
    fwd: str | None,
    fwd_status: int | None,
    ttl: float | None,
    detail: str | None,
) -> None:
    value = cache_status(name, hit=hit, fwd=fwd, fwd_status=fwd_status, ttl=ttl, detail=detail)
    parsed: Any = http_sf.parse(value.encode(), tltype="list")
    assert len(parsed) == 1
    _, params = parsed[0]
    assert ("hit" in params) is hit
    if fwd is not None:
        assert str(params["fwd"]) == fwd
    if fwd_status is not None:
        assert params["fwd-status"] == fwd_status
    if ttl is not None:
        assert isinstance(params["ttl"], int)


def test_analyze_request_fast_path_and_fields() -> None:
    plain = analyze_request("get", hdrs(("Host", "x")))
    assert plain.cc is EMPTY and plain.method == "GET" and not plain.authorization
    full = analyze_request(
        "GET",
        hdrs(
            ("Authorization", "Bearer x"),
            ("If-None-Match", '"a"'),
            ("If-None-Match", '"b"'),
            ("Range", "bytes=0-1"),
            ("If-Range", '"a"'),
            ("Cache-Control", "max-age=5"),
            ("Pragma", "no-cache"),  # ignored when Cache-Control is present (§5.4)
        ),
    )
    assert full.authorization and full.if_none_match == '"a", "b"'
    assert (full.range, full.if_range, full.cc.max_age, full.cc.no_cache) == (
        "bytes=0-1",
        '"a"',
        5,
        False,
    )
