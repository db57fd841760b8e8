"""Edge compression decisions (edge/policy/coding.py) and the variant key they give."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from edge.policy.coding import CodingRules, choose_coding, coded_etag, plan_coding
from edge.policy.vary import variant_key

OFFERED = ("zstd", "br", "gzip")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, ""),  # no Accept-Encoding: identity
        ("", ""),
        ("gzip", "gzip"),
        ("gzip, br", "br"),  # a tie goes to the node's preference
        ("gzip, deflate, br, zstd", "zstd"),
        ("gzip;q=1, br;q=0.9", "gzip"),
        ("br;q=0.001", "br"),
        ("Gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("*", "zstd"),
        ("*;q=0.5, gzip", "gzip"),
        ("*, zstd;q=0", "br"),
        ("*;q=0", ""),
        ("identity", ""),
        ("identity;q=0", ""),  # nothing acceptable: identity anyway
        ("gzip;q=0", ""),
        ("gzip;q=0.5, identity;q=0.9", ""),
        ("gzip;q=0.9, identity;q=0.5", "gzip"),
        ("gzip;q=abc", ""),  # a bad q-value refuses
        ("gzip;q=2", ""),
        ("deflate, compress", ""),
        (" br ; q=0.8 , gzip ; q=0.7 ", "br"),
        ("gzip, gzip;q=0", "gzip"),  # repeated: the highest weight counts
    ],
)
def test_choose_coding(accept: str | None, expected: str) -> None:
    assert choose_coding(accept, OFFERED) == expected


def test_choose_coding_only_among_the_offered() -> None:
    assert choose_coding("zstd, br", ("gzip",)) == ""
    assert choose_coding("zstd, br, gzip", ("gzip", "br")) == "gzip"
    assert choose_coding("br", ()) == ""


def _headers(**fields: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in fields.items()})


RULES = CodingRules(OFFERED, ("text/*", "application/json"), 100)


@pytest.mark.parametrize(
    ("status", "fields", "length", "expected"),
    [
        (200, {"Content-Type": "text/html; charset=utf-8"}, 1000, True),
        (200, {"Content-Type": "TEXT/CSS"}, None, True),  # chunked: size unknown, coded
        (200, {"Content-Type": "application/json"}, 1000, True),
        (200, {"Content-Type": "application/octet-stream"}, 1000, False),
        (200, {}, 1000, False),
        (200, {"Content-Type": "text/html"}, 99, False),  # below min_size
        (404, {"Content-Type": "text/html"}, 1000, False),
        (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, 1000, False),
        (200, {"Content-Type": "text/html", "Content-Encoding": "identity"}, 1000, False),
        (200, {"Content-Type": "text/html", "Content-Range": "bytes 0-1/2"}, 1000, False),
        (
            200,
            {"Content-Type": "text/html", "Cache-Control": "max-age=1, no-transform"},
            1000,
            False,
        ),
        (200, {"Content-Type": "text/html", "Vary": "Origin, accept-encoding"}, 1000, False),
        (200, {"Content-Type": "text/html", "Vary": "Accept-Language"}, 1000, True),
    ],
)
def test_plan_coding(
    status: int, fields: dict[str, str], length: int | None, expected: bool
) -> None:
    assert plan_coding(RULES, status, CIMultiDict(fields), length) is expected


def test_plan_coding_off_without_codings() -> None:
    rules = CodingRules((), ("text/*",), 0)
    assert not plan_coding(rules, 200, _headers(Content_Type="text/html"), 1000)


@pytest.mark.parametrize(
    ("etag", "expected"),
    [('"abc"', 'W/"abc"'), ('W/"abc"', 'W/"abc"'), ('""', 'W/""'), ("abc", None), (None, None)],
)
def test_coded_etag_is_weak(etag: str | None, expected: str | None) -> None:
    assert coded_etag(etag) == expected


def test_negotiated_variant_key_is_the_chosen_coding() -> None:
    names = ("accept-encoding", "accept-language")
    key = variant_key(names, _headers(Accept_Encoding="gzip, br", Accept_Language="fr"), OFFERED)
    assert key == "accept-encoding:=br\naccept-language:fr"
    for spelling in ("br", "BR;q=1", "gzip;q=0.1, br"):
        same = variant_key(names, _headers(Accept_Encoding=spelling, Accept_Language="fr"), OFFERED)
        assert same == key
    absent = variant_key(names, _headers(Accept_Language="fr"), OFFERED)
    assert absent == "accept-encoding:=identity\naccept-language:fr"
    refused = variant_key(
        names, _headers(Accept_Encoding="br", Cache_Control="no-transform"), OFFERED
    )
    assert refused.startswith("accept-encoding:=identity")
    # the origin's own Vary: Accept-Encoding keeps the set-of-codings normalisation
    assert variant_key(names[:1], _headers(Accept_Encoding="gzip, br")) == "accept-encoding:br,gzip"
