"""Freshness lifetime (RFC 9111 §4.2.1, §4.2.2, RFC 9213, Surrogate-Control) and age (§4.2.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import T0, date, entry

from edge.policy import PolicyOptions

LM_10_DAYS = date(T0 - 10 * 86400)


@pytest.mark.parametrize(
    ("fields", "status", "lifetime", "heuristic"),
    [
        ([("Cache-Control", "max-age=60")], 200, 60, False),
        ([("Cache-Control", "max-age=60, s-maxage=10")], 200, 10, False),
        ([("Cache-Control", "max-age=60"), ("Expires", date(T0 + 999))], 200, 60, False),
        ([("Expires", date(T0 + 300))], 200, 300, False),
        ([("Expires", date(T0 - 300))], 200, 0, False),
        ([("Expires", "0")], 200, 0, False),  # §5.3: invalid Expires = already expired
        ([("Expires", date(T0 + 300)), ("Expires", date(T0 + 600))], 200, 0, False),
        ([("Cache-Control", "max-age=abc")], 200, 0, False),  # §4.2.1: invalid → stale
        # §4.2.2: 10% of Date - Last-Modified, only without explicit freshness
        ([("Last-Modified", date(T0 - 1000))], 200, 100, True),
        ([("Last-Modified", LM_10_DAYS)], 200, 86400, True),  # capped
        ([("Last-Modified", date(T0 - 1000)), ("Expires", date(T0 - 1))], 200, 0, False),
        ([("Last-Modified", date(T0 + 1000))], 200, 0, False),  # LM after Date: no heuristic
        ([("Last-Modified", date(T0 - 1000))], 302, 0, False),  # not heuristically cacheable
        ([("Last-Modified", date(T0 - 1000)), ("Cache-Control", "public")], 302, 100, True),
        ([("Last-Modified", date(T0 - 1000))], 404, 100, True),
        ([], 200, 0, False),
    ],
)
def test_rfc9111_4_2_1_lifetime_table(
    fields: list[tuple[str, str]], status: int, lifetime: float, heuristic: bool
) -> None:
    e = entry(*fields, status=status)
    assert (e.lifetime, e.heuristic) == (lifetime, heuristic)


def test_rfc9111_4_2_1_s_maxage_beats_max_age() -> None:
    assert entry(("Cache-Control", "s-maxage=5, max-age=100")).lifetime == 5


def test_rfc9111_5_2_2_10_s_maxage_implies_proxy_revalidate() -> None:
    assert entry(("Cache-Control", "s-maxage=5")).must_revalidate
    assert entry(("Cache-Control", "proxy-revalidate, max-age=5")).must_revalidate
    assert not entry(("Cache-Control", "max-age=5")).must_revalidate


@pytest.mark.parametrize(
    ("fields", "lifetime"),
    [
        ([("Edge-Cache-Control", "max-age=30"), ("CDN-Cache-Control", "max-age=20")], 30),
        ([("CDN-Cache-Control", "max-age=20"), ("Cache-Control", "max-age=5")], 20),
        ([("CDN-Cache-Control", "max-age=20, s-maxage=7")], 7),
        # §2.1: Cache-Control and Expires are ignored once a targeted field is used
        ([("CDN-Cache-Control", "no-cache"), ("Cache-Control", "max-age=99")], 0),
        ([("CDN-Cache-Control", "public"), ("Expires", date(T0 + 99))], 0),
        # invalid targeted fields are ignored: fall back to the next one, then Cache-Control
        ([("Edge-Cache-Control", "max-age=,"), ("CDN-Cache-Control", "max-age=20")], 20),
        ([("CDN-Cache-Control", "max-age=20,"), ("Cache-Control", "max-age=5")], 5),
        ([("CDN-Cache-Control", ""), ("Cache-Control", "max-age=5")], 5),
        # Surrogate-Control max-age sits between targeted fields and Cache-Control
        ([("Surrogate-Control", "max-age=40"), ("Cache-Control", "max-age=5, s-maxage=6")], 40),
        ([("Surrogate-Control", "max-age=40"), ("CDN-Cache-Control", "max-age=20")], 20),
        ([("Surrogate-Control", "content=ESI/1.0"), ("Cache-Control", "max-age=5")], 5),
    ],
)
def test_rfc9213_2_1_targeted_precedence(fields: list[tuple[str, str]], lifetime: float) -> None:
    assert entry(*fields).lifetime == lifetime


def test_rfc9213_2_1_targeted_field_is_configurable() -> None:
    opts = PolicyOptions(targeted_field="acme-cache-control")
    e = entry(("Acme-Cache-Control", "max-age=9"), ("Edge-Cache-Control", "max-age=3"), opts=opts)
    assert e.lifetime == 9
    assert "acme-cache-control" not in {k.lower() for k, _ in e.headers}
    assert e.targeted == "max-age=9"


def test_surrogate_control_can_be_disabled() -> None:
    opts = PolicyOptions(surrogate_control=False)
    e = entry(("Surrogate-Control", "max-age=40"), ("Cache-Control", "max-age=5"), opts=opts)
    assert e.lifetime == 5


@pytest.mark.parametrize(
    ("fields", "request_time", "response_time", "initial_age"),
    [
        ([], T0, T0, 0),
        ([("Age", "100")], T0, T0, 100),
        ([("Age", "100")], T0 - 2, T0, 102),  # corrected_age_value adds response_delay
        ([("Date", date(T0 - 50))], T0, T0, 50),  # apparent_age
        ([("Date", date(T0 - 50)), ("Age", "10")], T0 - 1, T0, 50),  # max of the two
        ([("Date", date(T0 + 50))], T0, T0, 0),  # Date in the future: apparent_age 0
        ([("Age", "abc")], T0, T0, 0),  # §5.1: invalid Age ignored
        ([("Age", "7, 9")], T0, T0, 7),  # §5.1: first member of a list
        ([("Age", "-3")], T0, T0, 0),
    ],
)
def test_rfc9111_4_2_3_initial_age(
    fields: list[tuple[str, str]], request_time: float, response_time: float, initial_age: float
) -> None:
    e = entry(*fields, request_time=request_time, response_time=response_time)
    assert e.initial_age == initial_age


def test_rfc9110_6_6_1_missing_date_uses_response_time() -> None:
    e = entry(("Expires", date(T0 + 300)), with_date=False, response_time=T0)
    assert e.lifetime == 300
    assert dict(e.headers)["Date"] == date(T0)


@given(
    age=st.text(max_size=12),
    delay=st.floats(min_value=-1e6, max_value=1e6),
    skew=st.floats(min_value=-1e7, max_value=1e7),
)
def test_rfc9111_4_2_3_age_is_never_negative(age: str, delay: float, skew: float) -> None:
    e = entry(("Age", age), ("Date", date(T0 + skew)), request_time=T0 - delay)
    assert e.initial_age >= 0
