"""Client conditionals answered from a stored response (RFC 9110 §13.1, §13.2.2)."""

from __future__ import annotations

import pytest
from policy_helpers import T0, date, entry, req

from edge.policy import ConditionalResult, evaluate_conditionals, not_modified_headers

R = ConditionalResult
LM = date(T0 - 100)
STORED = entry(
    ("Cache-Control", "max-age=60"),
    ("ETag", '"v1"'),
    ("Last-Modified", LM),
    ("Content-Type", "text/plain"),
)
WEAK = entry(("Cache-Control", "max-age=60"), ("ETag", 'W/"v1"'))
NO_LM = entry(("Cache-Control", "max-age=60"))


@pytest.mark.parametrize(
    ("name", "e", "method", "fields", "expected"),
    [
        ("none", STORED, "GET", [], R.NONE),
        ("inm match", STORED, "GET", [("If-None-Match", '"v1"')], R.NOT_MODIFIED),
        ("inm list", STORED, "GET", [("If-None-Match", '"x", "v1"')], R.NOT_MODIFIED),
        ("inm weak compare", WEAK, "GET", [("If-None-Match", '"v1"')], R.NOT_MODIFIED),
        ("inm star", STORED, "GET", [("If-None-Match", "*")], R.NOT_MODIFIED),
        ("inm miss", STORED, "GET", [("If-None-Match", '"v2"')], R.NONE),
        ("inm head", STORED, "HEAD", [("If-None-Match", '"v1"')], R.NOT_MODIFIED),
        # §13.2.2 step 3 over step 4: If-Modified-Since ignored when If-None-Match present
        (
            "inm over ims",
            STORED,
            "GET",
            [("If-None-Match", '"v2"'), ("If-Modified-Since", date(T0))],
            R.NONE,
        ),
        ("ims not modified", STORED, "GET", [("If-Modified-Since", date(T0 - 50))], R.NOT_MODIFIED),
        ("ims equal", STORED, "GET", [("If-Modified-Since", LM)], R.NOT_MODIFIED),
        ("ims modified", STORED, "GET", [("If-Modified-Since", date(T0 - 200))], R.NONE),
        ("ims invalid", STORED, "GET", [("If-Modified-Since", "yesterday")], R.NONE),
        (
            "ims uses date without lm",
            NO_LM,
            "GET",
            [("If-Modified-Since", date(T0))],
            R.NOT_MODIFIED,
        ),
        # §13.1.1 If-Match: strong comparison
        ("im match", STORED, "GET", [("If-Match", '"v1"')], R.NONE),
        ("im star", STORED, "GET", [("If-Match", "*")], R.NONE),
        ("im miss", STORED, "GET", [("If-Match", '"v2"')], R.PRECONDITION_FAILED),
        ("im weak fails", WEAK, "GET", [("If-Match", 'W/"v1"')], R.PRECONDITION_FAILED),
        (
            "im before inm",
            STORED,
            "GET",
            [("If-Match", '"v2"'), ("If-None-Match", '"v1"')],
            R.PRECONDITION_FAILED,
        ),
        # §13.1.4 If-Unmodified-Since, only without If-Match
        ("ius ok", STORED, "GET", [("If-Unmodified-Since", date(T0))], R.NONE),
        (
            "ius fails",
            STORED,
            "GET",
            [("If-Unmodified-Since", date(T0 - 200))],
            R.PRECONDITION_FAILED,
        ),
        ("ius invalid", STORED, "GET", [("If-Unmodified-Since", "soon")], R.NONE),
        (
            "ius ignored with im",
            STORED,
            "GET",
            [("If-Match", '"v1"'), ("If-Unmodified-Since", date(T0 - 200))],
            R.NONE,
        ),
    ],
)
def test_rfc9110_13_2_2_precedence(
    name: str, e: object, method: str, fields: list[tuple[str, str]], expected: ConditionalResult
) -> None:
    assert evaluate_conditionals(req(method, *fields), e) is expected, name  # type: ignore[arg-type]


def test_rfc9110_15_4_5_not_modified_fields() -> None:
    names = [k.lower() for k, _ in not_modified_headers(STORED)]
    assert set(names) == {"cache-control", "etag", "last-modified", "date"}


@pytest.mark.parametrize(
    ("since", "expected"),
    [(T0 + 60, R.NOT_MODIFIED), (T0, R.NOT_MODIFIED), (T0 - 3000, R.NONE)],
)
def test_rfc9111_4_3_2_ims_without_last_modified_compares_the_date(
    since: float, expected: ConditionalResult
) -> None:
    """The stored Date stands in for the missing Last-Modified: the representation may have
    changed at any time up to it, so an earlier If-Modified-Since gets the full response
    (the suite's conditional-lm-fresh-no-lm wants a 304 there; see README, Conformance)."""
    assert evaluate_conditionals(req("GET", ("If-Modified-Since", date(since))), NO_LM) is expected


@pytest.mark.parametrize("value", ["v1", 'v1, "v2"', "W/v1"])
def test_rfc9110_13_1_2_an_unquoted_entity_tag_matches_nothing(value: str) -> None:
    assert evaluate_conditionals(req("GET", ("If-None-Match", value)), STORED) is R.NONE
