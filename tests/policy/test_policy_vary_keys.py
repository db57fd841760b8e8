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
        ("x-custom", "a,   b", "a, b"),
    ],
)
def test_rfc9111_4_1_normalization_equal(name: str, a: str, b: str) -> None:
    assert normalize(name, a) == normalize(name, b)


@pytest.mark.parametrize(
    ("name", "a", "b"),
    [
        ("accept-encoding", "gzip", "br"),
        ("accept-language", "en, fr", "fr, en"),
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
