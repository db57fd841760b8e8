"""Freshening stored responses with 304 (RFC 9111 §4.3.4, §3.2) and validation (§4.3.1)."""

from __future__ import annotations

import msgspec
import pytest
from policy_helpers import OPTS, T0, date, entry, hdrs

from edge.policy import conditional_headers, freshen, matches_304
from edge.policy.decide import LookupAction, decide_lookup
from edge.policy.entries import head_updates
from edge.policy.request import analyze_request


def _h(e_headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {k.lower(): v for k, v in e_headers}


def test_rfc9111_4_3_4_freshen_updates_headers_and_lifetime() -> None:
    e = entry(
        ("Cache-Control", "max-age=10"), ("ETag", '"a"'), ("X-Old", "1"), ("Content-Length", "10")
    )
    e = msgspec.structs.replace(e, invalidated=True)
    later = T0 + 100
    new = freshen(
        e,
        hdrs(
            ("Cache-Control", "max-age=60"),
            ("Date", date(later)),
            ("X-Old", "2"),
            ("Content-Length", "0"),
            ("Connection", "close"),
            ("Age", "5"),
        ),
        request_time=later,
        response_time=later,
        opts=OPTS,
    )
    h = _h(new.headers)
    assert (new.lifetime, new.initial_age, new.response_time) == (60, 5, later)
    assert h["x-old"] == "2" and h["content-length"] == "10"
    assert "connection" not in h and "age" not in h
    assert not new.invalidated
    assert decide_lookup(analyze_request("GET", hdrs()), new, later + 1).action is LookupAction.HIT


def test_rfc9111_4_3_4_304_strong_etag_never_overwrites_stored_weak_etag() -> None:
    e = entry(("Cache-Control", "max-age=10"), ("ETag", 'W/"abc"'))
    resp = hdrs(("ETag", '"abc"'), ("Cache-Control", "max-age=60"))
    assert matches_304(e, resp)
    new = freshen(e, resp, request_time=T0 + 50, response_time=T0 + 50, opts=OPTS)
    assert new.etag == 'W/"abc"'
    assert _h(new.headers)["etag"] == 'W/"abc"'


def test_rfc9111_4_3_4_304_without_date_gets_arrival_time() -> None:
    e = entry(("Cache-Control", "max-age=10"), ("ETag", '"a"'))
    new = freshen(
        e, hdrs(("ETag", '"a"')), request_time=T0 + 500, response_time=T0 + 500, opts=OPTS
    )
    assert new.initial_age == 0
    assert _h(new.headers)["date"] == date(T0 + 500)
    assert new.lifetime == 10


def test_rfc9213_targeted_lifetime_survives_freshening_without_it() -> None:
    e = entry(
        ("Edge-Cache-Control", "max-age=300"), ("Cache-Control", "max-age=5"), ("ETag", '"a"')
    )
    assert e.lifetime == 300
    new = freshen(e, hdrs(("ETag", '"a"')), request_time=T0 + 1, response_time=T0 + 1, opts=OPTS)
    assert new.lifetime == 300
    assert "edge-cache-control" not in _h(new.headers)


def test_rfc9111_3_2_vary_and_content_encoding_are_not_freshened() -> None:
    e = entry(
        ("Cache-Control", "max-age=1"),
        ("Vary", "Accept-Encoding"),
        ("Content-Encoding", "gzip"),
        ("ETag", '"a"'),
    )
    resp = hdrs(("Vary", "Accept-Language"), ("Content-Encoding", "br"), ("ETag", '"a"'))
    new = freshen(e, resp, request_time=T0, response_time=T0, opts=OPTS)
    assert _h(new.headers)["vary"] == "Accept-Encoding"
    assert _h(new.headers)["content-encoding"] == "gzip"
    assert new.vary == e.vary and new.variant == e.variant


@pytest.mark.parametrize(
    ("stored", "resp", "applies"),
    [
        ([("ETag", '"a"')], [("ETag", '"a"')], True),
        ([("ETag", '"a"')], [("ETag", '"b"')], False),
        ([("ETag", 'W/"a"')], [("ETag", '"a"')], True),  # strong twin of our weak tag
        ([("ETag", '"a"')], [("ETag", 'W/"a"')], True),
        ([("Last-Modified", date(T0 - 9))], [("Last-Modified", date(T0 - 9))], True),
        ([("Last-Modified", date(T0 - 9))], [("Last-Modified", date(T0 - 1))], False),
        (
            [("ETag", '"a"'), ("Last-Modified", date(T0 - 9))],
            [("Last-Modified", date(T0 - 9))],
            True,
        ),
        ([("ETag", '"a"')], [], True),  # no validator in the 304: answers our request
        ([], [], True),
    ],
)
def test_rfc9111_4_3_4_selection(
    stored: list[tuple[str, str]], resp: list[tuple[str, str]], applies: bool
) -> None:
    assert matches_304(entry(("Cache-Control", "max-age=1"), *stored), hdrs(*resp)) is applies


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            [("ETag", '"a"'), ("Last-Modified", date(T0 - 9))],
            [("If-None-Match", '"a"'), ("If-Modified-Since", date(T0 - 9))],
        ),
        ([("ETag", 'W/"a"')], [("If-None-Match", 'W/"a"'), ("If-Modified-Since", date(T0))]),
        ([], [("If-Modified-Since", date(T0))]),  # §4.3.1: Date when no Last-Modified
    ],
)
def test_rfc9111_4_3_1_conditional_headers(
    fields: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    assert conditional_headers(entry(("Cache-Control", "max-age=1"), *fields)) == expected


def test_rfc9111_3_1_stored_headers_drop_hop_by_hop_private_and_age() -> None:
    e = entry(
        ("Cache-Control", 'max-age=60, private="X-User", no-cache="X-Debug"'),
        ("Connection", "X-Conn"),
        ("X-Conn", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("X-User", "bob"),
        ("X-Debug", "1"),
        ("Age", "3"),
        ("Edge-Cache-Control", "max-age=60"),
        ("Content-Type", "text/plain"),
        ("Surrogate-Key", "a b"),
        ("Cache-Status", "shield; fwd=uri-miss; stored"),  # RFC 9211 §2: about that fetch only
    )
    names = {k.lower() for k, _ in e.headers}
    assert names == {"cache-control", "content-type", "date", "surrogate-key"}
    assert e.tags == ("a", "b")


_LM = ("Last-Modified", date(T0 - 100))


@pytest.mark.parametrize(
    ("stored", "resp", "updates"),
    [([], [], True), ([], [("Content-Length", "10")], True),
     ([], [("Content-Length", "11")], False),
     ([("ETag", '"a"')], [("ETag", '"a"')], True), ([("ETag", '"a"')], [("ETag", '"b"')], False),
     ([("ETag", '"a"')], [("ETag", 'W/"a"')], False), ([], [("ETag", '"a"')], False),
     ([("ETag", '"a"')], [], True),  # only the validators it carries are compared
     ([_LM], [_LM], True), ([_LM], [("Last-Modified", date(T0))], False),
     ([], [_LM], False)],
)  # fmt: skip
def test_rfc9111_4_3_5_head_response_updates_the_stored_one(
    stored: list[tuple[str, str]], resp: list[tuple[str, str]], updates: bool
) -> None:
    e = entry(("Cache-Control", "max-age=1"), *stored)  # body_size 10
    assert head_updates(e, hdrs(*resp)) is updates
