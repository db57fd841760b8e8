"""Freshness: how long a stored response is reused (RFC 9111 §4.2, §5.1, §5.2.2, §5.3).

max-age and s-maxage, Expires against Date, Age, heuristic freshness and the status
codes it applies to (RFC 9110 §15.1); scripted through ``/seq/<name>``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, is_hit, q
from tests.support.scripted_origin import hd, ok, reused, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


# -- max-age / s-maxage (RFC 9111 §4.2.1, §5.2.2) --------------------------------------


async def test_max_age_fresh_is_reused_then_stale_is_not(edge: Any) -> None:
    path = script(edge, "ma", ok(("Cache-Control", "max-age=100")))
    await fetch(edge, path)
    edge.clock.advance(99)
    r, _ = await fetch(edge, path)
    assert is_hit(r)
    edge.clock.advance(2)
    r, _ = await fetch(edge, path)
    assert not is_hit(r)
    assert len(seen(edge, "ma")) == 2


@pytest.mark.parametrize(
    "cc",
    [
        "max-age=0",
        "max-age=-3600",
        "max-age=a100",
        "max-age=100a",
        "max-age=1.5",
        "max-age=",
        "max-age='3600'",
        'extension="max-age=100", max-age=1',
        'max-age=1, extension="max-age=100"',
        'extension="max-age=100", max-age="1"',
        "max-age=1, max-age=1800",
    ],
)
async def test_invalid_or_short_max_age_is_not_reused(edge: Any, cc: str) -> None:
    """§4.2.1 / §5.2: invalid delta-seconds make the response stale; quoted text is no directive."""
    assert not await reused(edge, "/seq/cc", ("Cache-Control", cc), wait=2)


@pytest.mark.parametrize(
    "cc",
    [
        'max-age="3600"',  # §5.2: recipients accept the quoted-string form
        "MaX-aGe=3600",  # directive names are case-insensitive
        "foobar, max-age=3600",  # unknown extensions are ignored (§5.2.3)
        "max-age=003600",
        "max-age=2147483648",  # §1.2.2: as large as 2^31
        "max-age=99999999999",  # larger: treated as 2^31
    ],
)
async def test_valid_max_age_spellings_are_reused(edge: Any, cc: str) -> None:
    assert await reused(edge, "/seq/cc", ("Cache-Control", cc), wait=3000)


@pytest.mark.parametrize("cc", ["max-age =3600", "max-age= 3600"])
async def test_max_age_with_space_around_equals_is_ignored(edge: Any, cc: str) -> None:
    assert not await reused(edge, "/seq/cc", ("Cache-Control", cc), wait=2)


async def test_age_above_max_age_is_not_reused(edge: Any) -> None:
    assert not await reused(edge, "/seq/age", ("Cache-Control", "max-age=3600"), ("Age", "7200"))


async def test_apparent_age_from_date_is_used(edge: Any) -> None:
    """§4.2.3: apparent_age = response_time - date_value."""
    assert not await reused(
        edge, "/seq/d", ("Cache-Control", "max-age=3600"), ("Date", hd(edge, -7200))
    )


async def test_max_age_beats_past_or_invalid_expires(edge: Any) -> None:
    assert await reused(
        edge, "/seq/a", ("Cache-Control", "max-age=3600"), ("Expires", hd(edge, -7200)), wait=60
    )
    assert await reused(
        edge, "/seq/b", ("Cache-Control", "max-age=3600"), ("Expires", "0"), wait=60
    )


async def test_max_age_zero_beats_future_expires(edge: Any) -> None:
    assert not await reused(
        edge, "/seq/e", ("Cache-Control", "max-age=0"), ("Expires", hd(edge, 3600))
    )


@pytest.mark.parametrize(
    "lines",
    [
        ["max-age=3600, s-maxage=1"],
        ["s-maxage=1, max-age=3600"],
        ["max-age=3600", "s-maxage=1"],
    ],
)
async def test_short_s_maxage_beats_long_max_age(edge: Any, lines: list[str]) -> None:
    """§5.2.2.10: a shared cache uses s-maxage over max-age and Expires."""
    headers = [("Cache-Control", v) for v in lines]
    assert not await reused(edge, "/seq/s", *headers, wait=2)


async def test_long_s_maxage_beats_max_age_zero_and_past_expires(edge: Any) -> None:
    assert await reused(
        edge,
        "/seq/s",
        ("Cache-Control", "max-age=0, s-maxage=3600"),
        ("Expires", hd(edge, -10)),
        wait=60,
    )


async def test_s_maxage_forbids_serving_stale_even_with_max_stale(edge: Any) -> None:
    """§5.2.2.10: s-maxage carries proxy-revalidate semantics for a shared cache."""
    path = script(edge, "s", ok(("Cache-Control", "s-maxage=2")))
    await fetch(edge, path)
    edge.clock.advance(10)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-stale=1000"})
    assert not is_hit(r)


# -- Expires (RFC 9111 §5.3) -----------------------------------------------------------


async def test_future_expires_is_reused_until_it_passes(edge: Any) -> None:
    path = script(edge, "x", ok(("Expires", hd(edge, 100)), ("Date", hd(edge))))
    await fetch(edge, path)
    edge.clock.advance(90)
    r, _ = await fetch(edge, path)
    assert is_hit(r)
    edge.clock.advance(20)
    r, _ = await fetch(edge, path)
    assert not is_hit(r)


@pytest.mark.parametrize(
    "expires",
    [
        "0",
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "Thu, 18 Aug 50 02:01:18 GMT",
        "Thu 18 Aug 2050 02:01:18 GMT",
        "Thu, 18-Aug-2050 02:01:18 GMT",
        "Thu, 18 Aug 2050 02.01.18 GMT",
        "Thu, 18 Aug 2050 2:01:18 GMT",
    ],
)
async def test_invalid_expires_means_already_expired(edge: Any, expires: str) -> None:
    """§5.3: a cache recipient MUST interpret an invalid Expires as in the past."""
    assert not await reused(edge, "/seq/x", ("Expires", expires), wait=1)


async def test_expires_equal_to_or_before_date_is_stale(edge: Any) -> None:
    assert not await reused(edge, "/seq/a", ("Expires", hd(edge)), ("Date", hd(edge)))
    assert not await reused(edge, "/seq/b", ("Expires", hd(edge, 300)), ("Date", hd(edge, 400)))


async def test_two_expires_lines_mean_stale(edge: Any) -> None:
    """§4.2.1: with two Expires lines, use the first or consider the response stale."""
    r = await reused(
        edge,
        "/seq/x",
        ("Expires", hd(edge, -10)),
        ("Expires", hd(edge, 3600)),
        wait=1,
    )
    assert not r


@pytest.mark.parametrize(("date", "expires", "age"), [(-10, 10, "25"), (10, 20, "15")])
async def test_age_beyond_expires_minus_date_is_stale(
    edge: Any, date: int, expires: int, age: str
) -> None:
    assert not await reused(
        edge,
        "/seq/x",
        ("Date", hd(edge, date)),
        ("Expires", hd(edge, expires)),
        ("Age", age),
    )


async def test_expires_without_date_uses_arrival_time(edge: Any) -> None:
    """RFC 9110 §6.6.1: a missing Date is the time the response arrived."""
    assert await reused(edge, "/seq/x", ("Date", None), ("Expires", hd(edge, 100)), wait=50)


async def test_expires_with_invalid_date_is_still_reused(edge: Any) -> None:
    assert await reused(edge, "/seq/x", ("Date", "foo"), ("Expires", hd(edge, 100)), wait=10)


# -- Age (RFC 9111 §5.1, §4.2.3) -------------------------------------------------------


@pytest.mark.parametrize("age", ["abc", "-7200", "7200.0"])
async def test_invalid_age_is_ignored(edge: Any, age: str) -> None:
    assert await reused(edge, "/seq/a", ("Cache-Control", "max-age=3600"), ("Age", age))


async def test_age_is_generated_and_grows_with_upstream_age(edge: Any) -> None:
    path = script(
        edge, "a", ok(("Expires", hd(edge, 30 * 86400)), ("Date", hd(edge)), ("Age", "30"))
    )
    await fetch(edge, path)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path)
    assert is_hit(r) and int(r.headers["Age"]) == 35


async def test_huge_age_is_capped_and_not_fresh(edge: Any) -> None:
    path = script(edge, "a", ok(("Cache-Control", "max-age=2147483648"), ("Age", "99999999999")))
    await fetch(edge, path)
    r, _ = await fetch(edge, path)
    assert not is_hit(r)
    assert len(seen(edge, "a")) == 2
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-stale"})
    assert is_hit(r) and r.headers["Age"] == "2147483648"  # §1.2.2: capped at 2^31


async def test_hit_keeps_the_origin_date(edge: Any) -> None:
    date = hd(edge)
    path = script(edge, "d", ok(("Cache-Control", "max-age=600"), ("Date", date)))
    await fetch(edge, path)
    edge.clock.advance(30)
    r, _ = await fetch(edge, path)
    assert is_hit(r) and r.headers["Date"] == date and r.headers["Age"] == "30"


# -- heuristic freshness and status codes (RFC 9111 §4.2.2, RFC 9110 §15.1) ------------


@pytest.mark.parametrize("status", [200, 203, 204, 301, 308, 404, 405, 410, 414, 501])
async def test_heuristically_cacheable_statuses_are_reused(edge: Any, status: int) -> None:
    path = q(status=str(status), last_modified="86400")
    await fetch(edge, path)
    edge.clock.advance(60)
    r, _ = await fetch(edge, path)
    assert is_hit(r) and r.status == status


@pytest.mark.parametrize("status", [201, 202, 302, 303, 307, 403, 502, 503, 504, 599])
async def test_other_statuses_get_no_heuristic_freshness(edge: Any, status: int) -> None:
    path = q(status=str(status), last_modified="86400")
    await fetch(edge, path)
    edge.clock.advance(1)
    r, _ = await fetch(edge, path)
    assert not is_hit(r)
    assert await edge.origin_count(path) == 2


async def test_public_allows_heuristic_freshness_for_any_status(edge: Any) -> None:
    path = q(status="599", last_modified="86400", cc="public")
    await fetch(edge, path)
    edge.clock.advance(60)
    r, _ = await fetch(edge, path)
    assert is_hit(r)


@pytest.mark.parametrize(
    "status", [200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500, 502, 503, 599]
)
async def test_explicit_freshness_makes_any_final_status_reusable(edge: Any, status: int) -> None:
    path = q(status=str(status), cc="max-age=100")
    await fetch(edge, path)
    edge.clock.advance(50)
    r, _ = await fetch(edge, path)
    assert is_hit(r) and r.status == status
    edge.clock.advance(60)
    r, _ = await fetch(edge, path)
    assert not is_hit(r)


async def test_no_freshness_and_no_validator_is_not_reused(edge: Any) -> None:
    assert not await reused(edge, "/seq/n")
