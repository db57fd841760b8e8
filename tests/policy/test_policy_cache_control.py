"""RFC 9111 §5.2 directive parsing, §4.2.1 duplicates, RFC 9213 §2.1 targeted fields."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.policy import CacheControl, parse_cache_control, parse_targeted
from edge.policy.cache_control import EMPTY


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], EMPTY),
        ([""], EMPTY),
        (["max-age=60"], CacheControl(max_age=60)),
        (["MAX-AGE=60"], CacheControl(max_age=60)),
        (['max-age="60"'], CacheControl(max_age=60)),  # §5.2: quoted form accepted
        (["public", "max-age=60"], CacheControl(public=True, max_age=60)),  # field lines join
        (["public,,  max-age=60 ,"], CacheControl(public=True, max_age=60)),
        (["s-maxage=10, max-age=60"], CacheControl(s_maxage=10, max_age=60)),
        (["no-cache"], CacheControl(no_cache=True)),
        (['no-cache="Set-Cookie, X-A"'], CacheControl(no_cache_fields=("set-cookie", "x-a"))),
        (["no-cache=set-cookie"], CacheControl(no_cache_fields=("set-cookie",))),
        (['private="x-a", private'], CacheControl(private=True, private_fields=("x-a",))),
        (["no-store, must-understand"], CacheControl(no_store=True, must_understand=True)),
        (
            ["must-revalidate, proxy-revalidate, immutable, no-transform"],
            CacheControl(
                must_revalidate=True, proxy_revalidate=True, immutable=True, no_transform=True
            ),
        ),
        (
            ["stale-while-revalidate=30, stale-if-error=600"],
            CacheControl(stale_while_revalidate=30, stale_if_error=600),
        ),
        (["max-stale"], CacheControl(max_stale=math.inf)),
        (["max-stale=5, min-fresh=3"], CacheControl(max_stale=5, min_fresh=3)),
        (["only-if-cached"], CacheControl(only_if_cached=True)),
        (["x-unknown=1, foo"], EMPTY),  # §5.2.3: unknown directives ignored
        (['community="UCI", max-age=5'], CacheControl(max_age=5)),
        (['x="a,b", max-age=5'], CacheControl(max_age=5)),  # comma inside quotes
        (["max-age=99999999999999999999"], CacheControl(max_age=2147483648)),  # §1.2.2
    ],
)
def test_rfc9111_5_2_parse(lines: list[str], expected: CacheControl) -> None:
    assert parse_cache_control(lines) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=abc", CacheControl(max_age=0)),  # §4.2.1: invalid → stale
        ("max-age=-1", CacheControl(max_age=0)),
        ("max-age", CacheControl(max_age=0)),
        ("max-age=1.5", CacheControl(max_age=0)),
        ("s-maxage=x", CacheControl(s_maxage=0)),
        ("stale-while-revalidate=x", CacheControl(stale_while_revalidate=0)),
        ("min-fresh=x", EMPTY),
        ("max-stale=x", EMPTY),
    ],
)
def test_rfc9111_4_2_1_invalid_values(value: str, expected: CacheControl) -> None:
    assert parse_cache_control([value]) == expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["max-age=60, max-age=10"], CacheControl(max_age=10)),
        (["max-age=10", "max-age=60"], CacheControl(max_age=10)),
        (["max-age=60, max-age=abc"], CacheControl(max_age=0)),
        (["s-maxage=5, s-maxage=50"], CacheControl(s_maxage=5)),
        (["min-fresh=5, min-fresh=50"], CacheControl(min_fresh=50)),
        (["max-stale, max-stale=5"], CacheControl(max_stale=5)),
    ],
)
def test_rfc9111_4_2_1_conflicting_duplicates_most_restrictive(
    lines: list[str], expected: CacheControl
) -> None:
    assert parse_cache_control(lines) == expected


@given(st.lists(st.text(max_size=60), max_size=4))
def test_rfc9111_5_2_parser_never_raises(lines: list[str]) -> None:
    assert isinstance(parse_cache_control(lines), CacheControl)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=60", CacheControl(max_age=60)),
        (
            "max-age=60, stale-while-revalidate=10",
            CacheControl(max_age=60, stale_while_revalidate=10),
        ),
        ("no-store", CacheControl(no_store=True)),
        ("no-store=?0, max-age=5", CacheControl(max_age=5)),  # Boolean false: absent
        ('private="x-a"', CacheControl(private_fields=("x-a",))),
        ("max-age=1.5", None),  # not an Integer: the field is invalid and ignored (§2.1)
        ('max-age="10"', None),  # a String: likewise
        ("max-age=-5", CacheControl(max_age=0)),
        ("public;x=1, s-maxage=30", CacheControl(public=True, s_maxage=30)),
    ],
)
def test_rfc9213_2_1_targeted_dictionary(value: str, expected: CacheControl | None) -> None:
    assert parse_targeted(value) == expected


@pytest.mark.parametrize("value", ["", "   ", "max-age=", "max-age=60,", "Max-Age=60", "a=(", "é"])
def test_rfc9213_2_1_invalid_or_empty_is_ignored(value: str) -> None:
    assert parse_targeted(value) is None


@given(st.text(max_size=60))
def test_rfc9213_2_1_parser_never_raises(value: str) -> None:
    result = parse_targeted(value)
    assert result is None or isinstance(result, CacheControl)
