"""RFC 9110 §5.6.7 dates, RFC 9111 §5.1 Age, RFC 9110 §7.6.1 hop-by-hop fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from edge.policy import age_value, format_http_date, parse_http_date, strip_hop_by_hop

SUNDAY = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime
    ],
)
def test_rfc9110_5_6_7_three_date_formats(value: str) -> None:
    assert parse_http_date(value) == SUNDAY


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "0",
        "-1",
        "yesterday",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
    ],
)
def test_rfc9110_5_6_7_invalid_dates_are_none(value: str | None) -> None:
    assert parse_http_date(value) is None


def test_rfc9110_5_6_7_rfc850_two_digit_year_pivot() -> None:
    assert parse_http_date("Monday, 01-Jan-24 00:00:00 GMT") == 1704067200.0


def test_rfc9110_5_6_7_format_round_trips() -> None:
    assert format_http_date(SUNDAY) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert parse_http_date(format_http_date(1_700_000_000.7)) == 1_700_000_000.0


@given(st.text(max_size=80))
def test_rfc9110_5_6_7_parser_never_raises(value: str) -> None:
    result = parse_http_date(value)
    assert result is None or isinstance(result, float)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0"), (-5, "0"), (1.9, "1"), (42.0, "42"), (1e12, "2147483648"), (float("nan"), "0")],
)
def test_rfc9111_5_1_age_value(seconds: float, expected: str) -> None:
    assert age_value(seconds) == expected


def test_rfc9110_7_6_1_strip_hop_by_hop_and_connection_named() -> None:
    h = CIMultiDict(
        [
            ("Connection", "close, X-Secret"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("X-Secret", "1"),
            ("Content-Type", "text/plain"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ]
    )
    out = strip_hop_by_hop(h)
    assert list(out.items()) == [
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
    assert "Connection" in h  # the input is untouched
