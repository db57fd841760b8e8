"""Secondary keys (RFC 9111 §4.1) and primary keys (§2)."""

from __future__ import annotations

import msgspec
import pytest
from policy_helpers import T0, entry, hdrs

from edge.policy import (
    normalize,
    normalize_url,
    primary_key,
    select_variant,
    variant_key,
    vary_names,
)
from edge.policy.vary import first_choice_matches


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], ()),
        (["Accept-Encoding"], ("accept-encoding",)),
        (
            ["accept-encoding, Accept-Language", "ACCEPT-ENCODING"],
            ("accept-encoding", "accept-language"),
        ),
        (["Accept, *"], ("*",)),
        (["*"], ("*",)),
    ],
)
def test_rfc9111_4_1_vary_names(lines: list[str], expected: tuple[str, ...]) -> None:
    assert vary_names(hdrs(*[("Vary", v) for v in lines])) == expected


@pytest.mark.parametrize(
    ("name", "a", "b"),
    [
        ("accept-encoding", "gzip, br", "br,gzip"),
        ("accept-encoding", "gzip;q=1.0, br", "BR , GZIP"),
        ("accept-encoding", "gzip, identity;q=0", "gzip"),  # q=0 means not acceptable
        ("accept-language", "en-US, fr;q=0.5", "en-us,fr;q=0.4"),
        ("accept-language", "fr;q=0.5, en", "en, fr;q=0.9"),  # ordered by preference
        ("accept-language", "en, de", "de, en"),  # equal weight: order means nothing
        ("accept-language", "en, de", "eN ,De;q=1.0"),
        ("accept-language", "en, de, en;q=0.2", "de, en"),  # a repeated range: its best q
        ("x-custom", "a,   b", "a, b"),
    ],
)
def test_rfc9111_4_1_normalization_equal(name: str, a: str, b: str) -> None:
    assert normalize(name, a) == normalize(name, b)


@pytest.mark.parametrize(
    ("name", "a", "b"),
    [
        ("accept-encoding", "gzip", "br"),
        ("accept-language", "en, fr;q=0.5", "fr, en;q=0.5"),
        ("accept-language", "en, fr", "en, fr;q=0.5"),  # a tie is not a preference
        ("accept-language", "*", "*, fr;q=0"),  # refusing a language narrows "*"
        ("x-custom", "A", "a"),  # unknown fields keep their case
        ("accept-encoding", None, ""),  # absent matches only absent
    ],
)
def test_rfc9111_4_1_normalization_different(name: str, a: str | None, b: str | None) -> None:
    assert normalize(name, a) != normalize(name, b)


def test_rfc9111_4_1_variant_key_and_repeated_lines() -> None:
    names = ("accept-encoding", "accept-language")
    one = variant_key(names, hdrs(("Accept-Encoding", "gzip"), ("Accept-Encoding", "br")))
    two = variant_key(names, hdrs(("Accept-Encoding", "br, gzip")))
    assert one == two
    assert variant_key((), hdrs(("Accept-Encoding", "br"))) == ""


def test_rfc9111_4_1_select_most_recent_matching_variant() -> None:
    vary = ("Vary", "Accept-Encoding")
    gz_old = entry(vary, req_headers=hdrs(("Accept-Encoding", "gzip")), response_time=T0)
    gz_new = entry(vary, req_headers=hdrs(("Accept-Encoding", "gzip")), response_time=T0 + 5)
    br = entry(vary, req_headers=hdrs(("Accept-Encoding", "br")), response_time=T0 + 9)
    none = entry(vary, response_time=T0 + 10)
    star = msgspec.structs.replace(none, vary=("*",), variant="")
    pool = [gz_old, gz_new, br, none, star]
    assert select_variant(pool, hdrs(("Accept-Encoding", "gzip"))) is gz_new
    assert select_variant(pool, hdrs(("Accept-Encoding", "br"))) is br
    assert select_variant(pool, hdrs()) is none
    assert select_variant(pool, hdrs(("Accept-Encoding", "zstd"))) is None
    assert select_variant([star], hdrs()) is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("http", "Example.COM", "/a?b=1"), "v0|http://example.com/a?b=1"),
        (("http", "example.com:80", "/a"), "v0|http://example.com/a"),
        (("https", "example.com:443", "/a"), "v0|https://example.com/a"),
        (("https", "example.com:80", "/a"), "v0|https://example.com:80/a"),
        (("http", "[::1]:80", "/"), "v0|http://[::1]/"),
        (("http", "example.com", "/A%2f"), "v0|http://example.com/A%2f"),
    ],
)
def test_rfc9111_2_primary_key(args: tuple[str, str, str], expected: str) -> None:
    assert primary_key(*args) == expected
    assert primary_key(*args, version=3).startswith("v3|")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/a?b", ("http", "example.com", "/a?b")),
        ("https://Other.example:443/x?y#frag", ("https", "other.example", "/x?y")),
        ("http://user@h.example", ("http", "h.example", "/")),
    ],
)
def test_normalize_url(value: str, expected: tuple[str, str, str]) -> None:
    assert normalize_url(value, "http", "Example.com:80") == expected


@pytest.mark.parametrize("value", ["ftp://x/y", "example.com/a", ""])
def test_normalize_url_rejects_other_inputs(value: str) -> None:
    with pytest.raises(ValueError, match="expected a path"):
        normalize_url(value, "http", "example.com")


@pytest.mark.parametrize(
    ("accept", "language", "expected"),
    [("fr;q=0.5, de;q=1.0", "de", True), ("de", "de-CH", True), ("de-CH", "de", False),
     ("en, de", "de", False), ("de, en;q=0.9", "DE", True), ("*", "de", False),
     ("fr;q=0.5, de;q=0", "de", False), ("", "de", False)],
)  # fmt: skip
def test_rfc9110_12_5_4_first_choice(accept: str, language: str, expected: bool) -> None:
    assert first_choice_matches(accept, language) is expected


def test_rfc9111_4_1_a_response_in_the_first_choice_language_is_selected() -> None:
    stored = entry(
        ("Vary", "Accept-Language, Accept-Encoding"),
        ("Content-Language", "de"),
        req_headers=hdrs(("Accept-Language", "en, de"), ("Accept-Encoding", "gzip")),
    )
    assert select_variant([stored], hdrs(Accept_Language="fr;q=0.5, de", Accept_Encoding="gzip"))
    # every other field must still match, and a first choice elsewhere selects nothing
    assert not select_variant([stored], hdrs(Accept_Language="de", Accept_Encoding="br"))
    assert not select_variant(
        [stored], hdrs(Accept_Language="fr, de;q=0.5", Accept_Encoding="gzip")
    )
    assert not select_variant([stored], hdrs(Accept_Encoding="gzip"))
    unlabelled = entry(("Vary", "Accept-Language"), req_headers=hdrs(("Accept-Language", "en, de")))
    assert not select_variant([unlabelled], hdrs(Accept_Language="fr;q=0.5, de"))
