"""Conformance of edge as a *shared* cache, modelled on cache-tests.fyi.

Each test drives the running proxy against a scripted origin route,
``/seq/<name>``, added to the origin stub for this module: a test lists the
responses the origin gives, in order (the last one repeats), and can read
back the requests the origin saw (to check conditional revalidation). A
scripted ``Date`` is sent verbatim (``None`` drops the field), so Date/Age
arithmetic can be exercised exactly. Time moves only through the fake clock.

Each test names the RFC rule it checks; the review that wrote them found four
deviations (client preconditions on unstored responses, a wrongly typed RFC 9213
value, Expires with an invalid Date, whitespace around "=") and all are fixed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import http_sf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from edge.clock import FakeClock
from origin_stub.app import make_app as make_origin_app
from origin_stub.httpdate import format_http_date

pytestmark = pytest.mark.timeout(60)

Header = tuple[str, str | None]


# -- the scripted origin -------------------------------------------------------


@dataclass
class Reply:
    """One scripted origin response."""

    status: int = 200
    headers: list[Header] = field(default_factory=list)
    body: bytes | None = None  # None: a body naming the route and serve number


@dataclass
class Seen:
    method: str
    headers: CIMultiDict[str]


SCRIPTS = web.AppKey("seq_scripts", dict)
SEEN = web.AppKey("seq_seen", dict)
DATE = web.RequestKey("seq_date", object)
_NO_DATE = object()


async def _seq(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    scripts: dict[str, list[Reply]] = request.app[SCRIPTS]
    seen: dict[str, list[Seen]] = request.app[SEEN]
    await request.read()
    seen.setdefault(name, []).append(Seen(request.method, CIMultiDict(request.headers)))
    queue = scripts.get(name) or [Reply(404, [("Cache-Control", "no-store")], b"unscripted")]
    reply = queue.pop(0) if len(queue) > 1 else queue[0]
    headers: CIMultiDict[str] = CIMultiDict()
    for k, v in reply.headers:
        if k.lower() == "date":
            request[DATE] = _NO_DATE if v is None else v
        elif v is not None:
            headers.add(k, v)
    if reply.status == 304 or reply.status == 204:
        return web.Response(status=reply.status, headers=headers)
    body = reply.body
    if body is None:
        body = f"{name} #{len(seen[name])}".encode()
    headers.setdefault("Content-Type", "text/plain")
    return web.Response(status=reply.status, headers=headers, body=body)


async def _scripted_date(request: web.Request, response: web.StreamResponse) -> None:
    # Runs after the stub's own hook, which stamps Date from the fake clock.
    if DATE in request:
        value = request[DATE]
        response.headers.popall("Date", None)
        if value is not _NO_DATE:
            response.headers["Date"] = str(value)


@pytest.fixture
async def origin(aiohttp_server: Any, clock: FakeClock) -> TestServer:
    """The origin stub plus ``/seq/<name>`` (overrides the conftest fixture)."""
    app = make_origin_app(clock=clock.now)
    app[SCRIPTS] = {}
    app[SEEN] = {}
    app.router.add_route("*", "/seq/{name}", _seq)
    app.on_response_prepare.append(_scripted_date)
    server: TestServer = await aiohttp_server(app)
    return server


# -- helpers --------------------------------------------------------------------


def script(edge: Any, name: str, *replies: Reply) -> str:
    edge.origin.app[SCRIPTS][name] = list(replies)
    return f"/seq/{name}"


def seen(edge: Any, name: str) -> list[Seen]:
    out: list[Seen] = edge.origin.app[SEEN].get(name, [])
    return out


def ok(*headers: Header, body: bytes | None = None, status: int = 200) -> Reply:
    return Reply(status, list(headers), body)


def not_modified(*headers: Header) -> Reply:
    return Reply(304, list(headers))


def hd(edge: Any, offset: float = 0) -> str:
    """An HTTP-date ``offset`` seconds from the fake clock's now."""
    return format_http_date(edge.clock.now() + offset)


def q(**params: str) -> str:
    return "/script?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def status_of(resp: Any) -> dict[str, Any]:
    members: Any = http_sf.parse(resp.headers["Cache-Status"].encode(), tltype="list")
    _, params = members[-1]
    return dict(params.items())


def is_hit(resp: Any) -> bool:
    return status_of(resp).get("hit") is True


async def fetch(edge: Any, path: str, method: str = "GET", **kw: Any) -> tuple[Any, bytes]:
    resp = await edge.client.request(method, path, **kw)
    body = await resp.read()
    await edge.settle()
    return resp, body


async def reused(edge: Any, path: str, *reply_headers: Header, wait: float = 0, **kw: Any) -> bool:
    """Store once, wait, ask again: was the second answer served from the cache?"""
    name = path.rsplit("/", 1)[-1]
    script(edge, name, ok(*reply_headers))
    await fetch(edge, path, **kw)
    edge.clock.advance(wait)
    r, _ = await fetch(edge, path, **kw)
    hit = is_hit(r)
    assert hit == (len(seen(edge, name)) == 1)
    return hit


# -- freshness: Cache-Control max-age / s-maxage (RFC 9111 §4.2.1, §5.2.2) -------


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


# -- Expires (RFC 9111 §5.3) -------------------------------------------------------


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


# -- Age (RFC 9111 §5.1, §4.2.3) -------------------------------------------------


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


# -- heuristic freshness and status codes (RFC 9111 §4.2.2, RFC 9110 §15.1) -----


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


# -- response directives (RFC 9111 §5.2.2) ----------------------------------------


@pytest.mark.parametrize(
    "cc", ["private, max-age=3600", "no-store", "No-StOrE", "max-age=10000, no-store"]
)
async def test_private_and_no_store_are_not_stored(edge: Any, cc: str) -> None:
    assert not await reused(edge, "/seq/p", ("Cache-Control", cc), ("Expires", hd(edge, 9999)))


@pytest.mark.parametrize("cc", ["max-age=10000, no-cache", "max-age=10000, No-CaChE"])
async def test_no_cache_revalidates_before_every_use(edge: Any, cc: str) -> None:
    path = script(
        edge,
        "nc",
        ok(("Cache-Control", cc), ("ETag", '"abcd"')),
        not_modified(("Cache-Control", cc), ("ETag", '"abcd"')),
    )
    await fetch(edge, path)
    r, _ = await fetch(edge, path)
    assert not is_hit(r) and status_of(r)["fwd-status"] == 304
    assert seen(edge, "nc")[1].headers["If-None-Match"] == '"abcd"'


async def test_no_cache_field_names_are_not_served_from_cache(edge: Any) -> None:
    path = script(
        edge,
        "f",
        ok(
            ("Cache-Control", 'no-cache="a, b"'),
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("Cache-Control", "max-age=3600"),
        ),
    )
    await fetch(edge, path)
    r, _ = await fetch(edge, path)
    assert is_hit(r)
    assert "a" not in r.headers and "b" not in r.headers and r.headers["c"] == "3"


async def test_must_revalidate_fresh_is_reused_stale_is_validated(edge: Any) -> None:
    cc = ("Cache-Control", "max-age=2, must-revalidate")
    path = script(edge, "mr", ok(cc, ("ETag", '"abcd"')), not_modified(cc, ("ETag", '"abcd"')))
    await fetch(edge, path)
    r, _ = await fetch(edge, path)
    assert is_hit(r)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path)
    assert status_of(r)["fwd-status"] == 304
    assert seen(edge, "mr")[-1].headers["If-None-Match"] == '"abcd"'


@pytest.mark.parametrize("cc", ["must-revalidate", "proxy-revalidate", "no-cache", "s-maxage=2"])
async def test_directives_forbidding_stale_beat_stale_if_error(edge: Any, cc: str) -> None:
    """§4.2.4: never serve stale when must-revalidate, proxy-revalidate, no-cache or s-maxage."""
    path = q(cc=f"max-age=2, {cc}, stale-if-error=600")
    await fetch(edge, path)
    await edge.origin_post("/__origin/down")
    edge.clock.advance(10)
    r, _ = await fetch(edge, path)
    assert r.status == 503


async def test_stale_if_error_serves_stale_on_503_and_on_reset(edge: Any) -> None:
    path = q(cc="max-age=2, stale-if-error=60")
    _, b1 = await fetch(edge, path)
    await edge.origin_post("/__origin/down")
    edge.clock.advance(10)
    r, b = await fetch(edge, path)
    assert r.status == 200 and b == b1
    await edge.origin_post("/__origin/down?mode=reset")
    r, b = await fetch(edge, path)
    assert r.status == 200 and b == b1


async def test_must_understand_with_known_status_overrides_no_store(edge: Any) -> None:
    """§5.2.2.3: a cache that understands the status ignores no-store next to must-understand."""
    assert await reused(
        edge, "/seq/mu", ("Cache-Control", "max-age=3600, must-understand, no-store")
    )


async def test_cdn_cache_control_with_invalid_syntax_is_ignored(edge: Any) -> None:
    """RFC 9213 §2.1: an invalid targeted field is ignored; Cache-Control applies."""
    assert not await reused(
        edge,
        "/seq/c",
        ("CDN-Cache-Control", "max-age=10000, &&&&&"),
        ("Cache-Control", "no-store"),
    )


async def test_cdn_cache_control_max_age_string_is_not_consumed(edge: Any) -> None:
    assert not await reused(
        edge,
        "/seq/c",
        ("CDN-Cache-Control", 'max-age="10000"'),
        ("Cache-Control", "no-store"),
    )


# -- request directives (RFC 9111 §5.2.1, §5.4) -----------------------------------


async def test_request_max_age_zero_and_no_cache_go_to_origin(edge: Any) -> None:
    path = script(edge, "r", ok(("Cache-Control", "max-age=3600")))
    await fetch(edge, path)
    for cc in ("max-age=0", "no-cache"):
        r, _ = await fetch(edge, path, headers={"Cache-Control": cc})
        assert not is_hit(r), cc
    r, _ = await fetch(edge, path, headers={"Pragma": "no-cache"})
    assert not is_hit(r)
    assert len(seen(edge, "r")) == 4


async def test_pragma_is_ignored_when_cache_control_is_present(edge: Any) -> None:
    """§5.4: Pragma is ignored when the request also has Cache-Control."""
    path = script(edge, "r", ok(("Cache-Control", "max-age=3600")))
    await fetch(edge, path)
    r, _ = await fetch(edge, path, headers={"Pragma": "no-cache", "Cache-Control": "max-stale=10"})
    assert is_hit(r)


async def test_request_max_age_and_min_fresh_count_upstream_age(edge: Any) -> None:
    path = script(edge, "r", ok(("Cache-Control", "max-age=1500"), ("Age", "1000")))
    await fetch(edge, path)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-age=600"})
    assert not is_hit(r)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "min-fresh=1000"})
    assert not is_hit(r)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "min-fresh=100"})
    assert is_hit(r)


async def test_request_max_stale_allows_an_aged_response(edge: Any) -> None:
    path = script(edge, "r", ok(("Cache-Control", "max-age=1500"), ("Age", "2000")))
    await fetch(edge, path)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-stale=1000"})
    assert is_hit(r)


# -- Vary (RFC 9111 §4.1) ----------------------------------------------------------

_VARY_FRESH: tuple[Header, ...] = (("Cache-Control", "max-age=5000"),)


async def _vary(
    edge: Any, vary: list[str], first: list[tuple[str, str]], second: list[tuple[str, str]]
) -> bool:
    headers = [*_VARY_FRESH, *(("Vary", v) for v in vary)]
    path = script(edge, "v", ok(*headers))
    await fetch(edge, path, headers=first)
    r, _ = await fetch(edge, path, headers=second)
    return is_hit(r)


@pytest.mark.parametrize(
    ("vary", "first", "second", "hit"),
    [
        (["Foo"], [("Foo", "1")], [("Foo", "1")], True),
        (["Foo"], [("Foo", "1")], [("Foo", "2")], False),
        (["Foo"], [("Foo", "1")], [], False),
        (["Foo"], [("Foo", "1"), ("Other", "2")], [("Foo", "1"), ("Other", "3")], True),
        (["Foo, Bar"], [("Foo", "1"), ("Bar", "abc")], [("Foo", "1"), ("Bar", "abc")], True),
        (["Foo, Bar"], [("Foo", "1"), ("Bar", "abc")], [("Foo", "2"), ("Bar", "abc")], False),
        (["Foo, Bar"], [("Foo", "1")], [], False),
        (["Foo", "Bar"], [("Foo", "1"), ("Bar", "x")], [("Foo", "1"), ("Bar", "y")], False),
        (["Foo, Bar, Baz"], [("Foo", "1"), ("Baz", "7")], [("Foo", "1"), ("Baz", "7")], True),
        (["FOO"], [("foo", "1")], [("Foo", "1")], True),
        (["Foo"], [("Foo", "abc")], [("Foo", "ABC")], False),
        (["Foo"], [("Foo", "1,2")], [("Foo", " 1, 2 ")], True),
        (["Foo"], [("Foo", "1, 2")], [("Foo", "1"), ("Foo", "2")], True),
    ],
)
async def test_vary_selects_stored_responses(
    edge: Any,
    vary: list[str],
    first: list[tuple[str, str]],
    second: list[tuple[str, str]],
    hit: bool,
) -> None:
    assert await _vary(edge, vary, first, second) is hit


@pytest.mark.parametrize("vary", [["*"], ["*, *"], ["*", "*"], [", *"], ["", "*"], ["Foo, *"]])
async def test_vary_star_never_matches(edge: Any, vary: list[str]) -> None:
    foo = [("Foo", "1"), ("Baz", "789")]
    assert not await _vary(edge, vary, foo, foo)


async def test_new_variant_does_not_evict_the_old_one(edge: Any) -> None:
    headers = (*_VARY_FRESH, ("Vary", "Foo"))
    path = script(edge, "v", ok(*headers, body=b"foo_1"), ok(*headers, body=b"foo_2"))
    await fetch(edge, path, headers={"Foo": "1"})
    r, b = await fetch(edge, path, headers={"Foo": "2"})
    assert not is_hit(r) and b == b"foo_2"
    r, b = await fetch(edge, path, headers={"Foo": "1"})
    assert is_hit(r) and b == b"foo_1"


async def test_revalidation_carries_the_varying_request_header(edge: Any) -> None:
    path = script(
        edge,
        "v",
        ok(("Expires", hd(edge, 1)), ("ETag", '"abcdef"'), ("Vary", "Abc")),
        not_modified(("Cache-Control", "max-age=60"), ("ETag", '"abcdef"'), ("Vary", "Abc")),
    )
    await fetch(edge, path, headers={"Abc": "123"})
    edge.clock.advance(5)
    r, _ = await fetch(edge, path, headers={"Abc": "123"})
    assert status_of(r)["fwd-status"] == 304
    last = seen(edge, "v")[-1].headers
    assert last["Abc"] == "123" and last["If-None-Match"] == '"abcdef"'


async def test_other_variant_is_not_used_to_validate(edge: Any) -> None:
    path = script(
        edge, "v", ok(("Expires", hd(edge, 10000)), ("ETag", '"abcdef"'), ("Vary", "Abc"))
    )
    await fetch(edge, path, headers={"Abc": "123"})
    await fetch(edge, path, headers={"Abc": "456"})
    assert "If-None-Match" not in seen(edge, "v")[-1].headers


# -- conditional requests answered from the cache (RFC 9110 §13, RFC 9111 §4.3.2) --


@pytest.mark.parametrize(
    ("etag", "inm"),
    [
        ('"abcdef"', '"abcdef"'),
        ('W/"abcdef"', 'W/"abcdef"'),
        ('"abcdef"', 'W/"abcdef"'),  # If-None-Match uses weak comparison
        ('"abcdef"', '"abcdef", "1234", "5678"'),
        ('"abcdef"', '"1234", "abcdef", "5678"'),
        ('"abcdef"', '"1234", "5678", "abcdef"'),
        ('"abcdef"', "*"),
    ],
)
async def test_if_none_match_gets_304_with_etag_from_cache(edge: Any, etag: str, inm: str) -> None:
    path = script(edge, "c", ok(("Cache-Control", "max-age=3600"), ("ETag", etag)))
    await fetch(edge, path)
    r, body = await fetch(edge, path, headers={"If-None-Match": inm})
    assert r.status == 304 and body == b""
    assert r.headers["ETag"] == etag and "Age" in r.headers
    assert len(seen(edge, "c")) == 1


async def test_if_none_match_beats_if_modified_since(edge: Any) -> None:
    path = script(
        edge,
        "c",
        ok(
            ("Cache-Control", "max-age=3600"),
            ("ETag", '"abcdef"'),
            ("Last-Modified", hd(edge, -5000)),
        ),
    )
    await fetch(edge, path)
    r, _ = await fetch(
        edge, path, headers={"If-None-Match": '"abcdef"', "If-Modified-Since": hd(edge, -6000)}
    )
    assert r.status == 304
    r, _ = await fetch(
        edge, path, headers={"If-None-Match": '"other"', "If-Modified-Since": hd(edge, 0)}
    )
    assert r.status == 200


async def test_if_modified_since_is_answered_from_cache(edge: Any) -> None:
    lm = hd(edge, -3000)
    path = script(edge, "c", ok(("Cache-Control", "max-age=100000"), ("Last-Modified", lm)))
    await fetch(edge, path)
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(edge.clock.now() - 3000))
    for ims in (lm, hd(edge, -2000), rfc850):
        r, _ = await fetch(edge, path, headers={"If-Modified-Since": ims})
        assert r.status == 304, ims
    r, _ = await fetch(edge, path, headers={"If-Modified-Since": hd(edge, -4000)})
    assert r.status == 200


async def test_if_modified_since_without_last_modified_uses_date(edge: Any) -> None:
    """RFC 9111 §4.3.2: without Last-Modified, the stored Date is the modification time."""
    path = script(edge, "c", ok(("Cache-Control", "max-age=10000"), ("Date", hd(edge))))
    await fetch(edge, path)
    edge.clock.advance(10)
    r, _ = await fetch(edge, path, headers={"If-Modified-Since": hd(edge, -5)})
    assert r.status == 304
    r, _ = await fetch(edge, path, headers={"If-Modified-Since": hd(edge, -3000)})
    assert r.status == 200


async def test_client_conditional_on_stale_entry_is_validated_then_304(edge: Any) -> None:
    lm = hd(edge, -3000)
    path = script(
        edge,
        "c",
        ok(("Cache-Control", "max-age=2"), ("Last-Modified", lm)),
        not_modified(("Cache-Control", "max-age=2"), ("Last-Modified", lm)),
    )
    await fetch(edge, path)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path, headers={"If-Modified-Since": lm})
    assert r.status == 304
    assert seen(edge, "c")[-1].headers["If-Modified-Since"] == lm


# -- validation and freshening with 304 (RFC 9111 §4.3.1, §4.3.4, §3.2) -----------


@pytest.mark.parametrize("etag", ['"abcdef"', 'W/"abcdef"'])
async def test_stale_entry_is_validated_with_its_etag(edge: Any, etag: str) -> None:
    cc = ("Cache-Control", "max-age=2")
    path = script(edge, "c", ok(cc, ("ETag", etag)), not_modified(cc, ("ETag", etag)))
    _, b1 = await fetch(edge, path)
    edge.clock.advance(5)
    r, b2 = await fetch(edge, path)
    assert seen(edge, "c")[-1].headers["If-None-Match"] == etag
    assert status_of(r)["fwd-status"] == 304 and r.status == 200 and b2 == b1


async def test_stale_entry_is_validated_with_last_modified(edge: Any) -> None:
    lm = hd(edge, -86400)
    cc = ("Cache-Control", "max-age=2")
    path = script(edge, "c", ok(cc, ("Last-Modified", lm)), not_modified(cc, ("Last-Modified", lm)))
    await fetch(edge, path)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path)
    assert seen(edge, "c")[-1].headers["If-Modified-Since"] == lm
    assert status_of(r)["fwd-status"] == 304


@pytest.mark.parametrize(
    ("header", "a", "b"),
    [
        ("Test-Header", "A", "B"),
        ("X-Frame-Options", "deny", "sameorigin"),
        ("Content-Type", "text/plain", "text/plain;charset=utf-8"),
        ("Content-Location", "/foo", "/bar"),
        ("Content-Security-Policy", "default-src 'self'", "default-src 'self' cdn.example"),
        ("Cache-Control", "max-age=1", "max-age=3600"),
    ],
)
@pytest.mark.parametrize("validator", ["ETag", "Last-Modified"])
async def test_304_updates_returned_and_stored_headers(
    edge: Any, header: str, a: str, b: str, validator: str
) -> None:
    value = '"v1"' if validator == "ETag" else hd(edge, -86400)

    def reply(lifetime: int, hv: str, status: int = 200) -> Reply:
        hs: list[Header] = [(validator, value), (header, hv)]
        if header != "Cache-Control":
            hs.append(("Cache-Control", f"max-age={lifetime}"))
        return Reply(status, hs)

    path = script(edge, "u", reply(1, a), reply(3600, b, 304))
    await fetch(edge, path)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path)
    assert status_of(r)["fwd-status"] == 304
    assert r.headers[header] == b
    edge.clock.advance(5)
    r, _ = await fetch(edge, path)
    assert is_hit(r) and r.headers[header] == b
    assert len(seen(edge, "u")) == 2


async def test_304_without_a_header_keeps_the_stored_one(edge: Any) -> None:
    lm = hd(edge, -86400)
    path = script(
        edge,
        "u",
        ok(("Cache-Control", "max-age=1"), ("Last-Modified", lm), ("Test-Header", "A")),
        not_modified(("Cache-Control", "max-age=3600"), ("Last-Modified", lm)),
    )
    await fetch(edge, path)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path)
    assert r.headers["Test-Header"] == "A"
    r, _ = await fetch(edge, path)
    assert is_hit(r) and r.headers["Test-Header"] == "A"


async def test_304_for_another_etag_is_not_applied(edge: Any) -> None:
    """§4.3.4: a 304 whose strong validator matches nothing stored selects nothing."""
    cc = ("Cache-Control", "max-age=2")
    path = script(
        edge,
        "u",
        ok(cc, ("ETag", '"one"'), body=b"one"),
        not_modified(cc, ("ETag", '"two"')),
        ok(cc, ("ETag", '"two"'), body=b"two"),
    )
    await fetch(edge, path)
    edge.clock.advance(5)
    r, b = await fetch(edge, path)
    assert r.status == 200 and b == b"two"


async def test_200_on_revalidation_replaces_the_stored_response(edge: Any) -> None:
    cc = ("Cache-Control", "max-age=2")
    path = script(
        edge, "u", ok(cc, ("ETag", '"one"'), body=b"one"), ok(cc, ("ETag", '"two"'), body=b"two")
    )
    await fetch(edge, path)
    edge.clock.advance(5)
    _, b = await fetch(edge, path)
    assert b == b"two"
    r, b = await fetch(edge, path)
    assert is_hit(r) and b == b"two" and r.headers["ETag"] == '"two"'


# -- invalidation (RFC 9111 §4.4) -------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "M-SEARCH"])
async def test_unsafe_method_invalidates_the_target(edge: Any, method: str) -> None:
    path = script(edge, "i", ok(("Cache-Control", "max-age=3600")))
    await fetch(edge, path)
    r, _ = await fetch(edge, path, method, data=b"abc")
    assert r.status == 200
    r, _ = await fetch(edge, path)
    assert not is_hit(r)


@pytest.mark.parametrize("status", [400, 404, 500])
async def test_error_response_to_unsafe_method_does_not_invalidate(edge: Any, status: int) -> None:
    path = script(
        edge,
        "i",
        ok(("Cache-Control", "max-age=3600")),
        ok(("Cache-Control", "no-store"), status=status),
        ok(("Cache-Control", "max-age=3600")),
    )
    await fetch(edge, path)
    r, _ = await fetch(edge, path, "POST", data=b"abc")
    assert r.status == status
    r, _ = await fetch(edge, path)
    assert is_hit(r)


@pytest.mark.parametrize("field_name", ["Location", "Content-Location"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "M-SEARCH"])
async def test_unsafe_method_invalidates_location_and_content_location(
    edge: Any, method: str, field_name: str
) -> None:
    target = script(edge, "t", ok(("Cache-Control", "max-age=3600")))
    other = script(edge, "o", ok(("Cache-Control", "no-store"), (field_name, target)))
    await fetch(edge, target)
    await fetch(edge, other, method, data=b"abc")
    r, _ = await fetch(edge, target)
    assert not is_hit(r)


async def test_safe_methods_do_not_invalidate(edge: Any) -> None:
    path = script(edge, "i", ok(("Cache-Control", "max-age=3600")))
    await fetch(edge, path)
    for method in ("OPTIONS", "HEAD"):
        await fetch(edge, path, method)
    r, _ = await fetch(edge, path)
    assert is_hit(r)


async def test_invalidation_covers_every_variant(edge: Any) -> None:
    path = script(edge, "i", ok(("Cache-Control", "max-age=3600"), ("Vary", "Foo")))
    await fetch(edge, path, headers={"Foo": "1"})
    await fetch(edge, path, headers={"Foo": "2"})
    await fetch(edge, path, "POST", data=b"x")
    for foo in ("1", "2"):
        r, _ = await fetch(edge, path, headers={"Foo": foo})
        assert not is_hit(r), foo


# -- partial content (RFC 9110 §14, RFC 9111 §3.3, §3.4) ---------------------------


@pytest.mark.parametrize(
    ("rng", "text"), [("bytes=0-1", b"01"), ("bytes=1-", b"1234567890"), ("bytes=-1", b"0")]
)
async def test_range_is_served_from_a_stored_full_response(
    edge: Any, rng: str, text: bytes
) -> None:
    path = script(edge, "r", ok(("Cache-Control", "max-age=3600"), body=b"01234567890"))
    await fetch(edge, path)
    r, body = await fetch(edge, path, headers={"Range": rng})
    assert r.status == 206 and body == text and is_hit(r)
    assert r.headers["Content-Range"].endswith("/11")
    assert len(seen(edge, "r")) == 1


async def test_unsatisfiable_range_is_416_with_the_size(edge: Any) -> None:
    path = script(edge, "r", ok(("Cache-Control", "max-age=3600"), body=b"0123456789"))
    await fetch(edge, path)
    r, _ = await fetch(edge, path, headers={"Range": "bytes=20-30"})
    assert r.status == 416 and r.headers["Content-Range"] == "bytes */10"


async def test_multiple_ranges_are_multipart_byteranges(edge: Any) -> None:
    path = script(edge, "r", ok(("Cache-Control", "max-age=3600"), body=b"0123456789"))
    await fetch(edge, path)
    r, body = await fetch(edge, path, headers={"Range": "bytes=0-1,5-6"})
    assert r.status == 206
    assert r.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert b"Content-Range: bytes 0-1/10" in body and b"Content-Range: bytes 5-6/10" in body


@pytest.mark.parametrize(("if_range", "status"), [('"v1"', 206), ('"v2"', 200), ('W/"v1"', 200)])
async def test_if_range_needs_a_strong_match(edge: Any, if_range: str, status: int) -> None:
    path = script(
        edge, "r", ok(("Cache-Control", "max-age=3600"), ("ETag", '"v1"'), body=b"0123456789")
    )
    await fetch(edge, path)
    r, _ = await fetch(edge, path, headers={"Range": "bytes=0-1", "If-Range": if_range})
    assert r.status == status


async def test_206_from_origin_is_not_stored_as_a_full_response(edge: Any) -> None:
    path = script(
        edge,
        "r",
        ok(
            ("Cache-Control", "max-age=3600"),
            ("Content-Range", "bytes 0-4/10"),
            status=206,
            body=b"01234",
        ),
        ok(("Cache-Control", "max-age=3600"), body=b"0123456789"),
    )
    r, b = await fetch(edge, path)
    assert r.status == 206 and b == b"01234"
    r, b = await fetch(edge, path)
    assert r.status == 200 and b == b"0123456789" and not is_hit(r)


async def test_range_miss_asks_origin_for_the_whole_object(edge: Any) -> None:
    path = script(edge, "r", ok(("Cache-Control", "max-age=3600"), body=b"0123456789"))
    r, b = await fetch(edge, path, headers={"Range": "bytes=2-3"})
    assert r.status == 206 and b == b"23"
    assert "Range" not in seen(edge, "r")[0].headers
    r, b = await fetch(edge, path)
    assert is_hit(r) and b == b"0123456789"


# -- header handling (RFC 9110 §7.6.1, RFC 9111 §3.1) ------------------------------


async def test_connection_listed_fields_are_neither_stored_nor_forwarded(edge: Any) -> None:
    path = script(
        edge,
        "h",
        ok(
            ("Cache-Control", "max-age=3600"),
            ("Connection", "a, b"),
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
        ),
    )
    for _ in range(2):
        r, _ = await fetch(edge, path)
        assert "a" not in r.headers and "b" not in r.headers and r.headers["c"] == "3"
    assert is_hit(r)


@pytest.mark.parametrize(
    "name", ["Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Upgrade", "Trailer"]
)
async def test_hop_by_hop_response_fields_are_dropped(edge: Any, name: str) -> None:
    path = script(edge, "h", ok(("Cache-Control", "max-age=3600"), (name, "x")))
    for _ in range(2):
        r, _ = await fetch(edge, path)
        assert name not in r.headers
    assert is_hit(r)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Test-Header", "t"),
        ("Content-Type", "text/x-test"),
        ("X-Frame-Options", "deny"),
        ("Strict-Transport-Security", "max-age=1"),
        ("WWW-Authenticate", "Basic"),
        ("Clear-Site-Data", "cookies"),
    ],
)
async def test_end_to_end_fields_are_stored(edge: Any, name: str, value: str) -> None:
    path = script(edge, "h", ok(("Cache-Control", "max-age=3600"), (name, value)))
    await fetch(edge, path)
    r, _ = await fetch(edge, path)
    assert is_hit(r) and r.headers[name] == value


async def test_query_is_part_of_the_cache_key(edge: Any) -> None:
    path = script(edge, "k", ok(("Cache-Control", "max-age=3600")))
    await fetch(edge, path + "?test=1")
    r, _ = await fetch(edge, path + "?test=2")
    assert not is_hit(r)
    r, _ = await fetch(edge, path + "?test=1", headers={"Cookie": "a=b"})
    assert is_hit(r)  # and a request Cookie does not prevent reuse


@pytest.mark.parametrize(
    ("cc", "stored"),
    [
        (None, False),
        ("max-age=3600", False),
        ("max-age=3600, public", True),
        ("max-age=3600, must-revalidate", True),
        ("s-maxage=3600", True),
    ],
)
async def test_response_to_authorized_request_needs_explicit_permission(
    edge: Any, cc: str | None, stored: bool
) -> None:
    """§3.5: a shared cache stores it only with public, must-revalidate or s-maxage."""
    path = script(edge, "au", ok(("Cache-Control", cc), ("Expires", hd(edge, 30 * 86400))))
    await fetch(edge, path, headers={"Authorization": "FOO"})
    assert seen(edge, "au")[0].headers["Authorization"] == "FOO"
    r, _ = await fetch(edge, path)
    assert is_hit(r) is stored


async def test_head_is_not_stored_but_uses_a_stored_get(edge: Any) -> None:
    path = script(edge, "hd", ok(("Cache-Control", "max-age=3600"), body=b"0123456789"))
    r, _ = await fetch(edge, path, "HEAD")
    r, body = await fetch(edge, path)
    assert not is_hit(r) and body == b"0123456789"
    r, body = await fetch(edge, path, "HEAD")
    assert is_hit(r) and body == b"" and r.headers["Content-Length"] == "10"


# -- preconditions on responses the cache cannot store (RFC 9110 §13.2.1) ---------


async def test_if_match_is_honoured_when_the_response_is_not_storable(edge: Any) -> None:
    path = script(edge, "pm", ok(("Cache-Control", "no-store"), ("ETag", '"v1"')))
    r, _ = await fetch(edge, path, headers={"If-Match": '"v0"'})
    forwarded = seen(edge, "pm")[-1].headers.get("If-Match") == '"v0"'
    assert forwarded or r.status == 412


async def test_if_none_match_on_a_non_storable_response_gets_304(edge: Any) -> None:
    path = q(cc="no-store", etag="v1")
    r, body = await fetch(edge, path, headers={"If-None-Match": '"v1"'})
    assert r.status == 304 and body == b""


async def test_range_on_a_non_storable_response_is_still_correct(edge: Any) -> None:
    """§14.2: a server MAY ignore Range; whatever edge does, the bytes must be right."""
    path = script(edge, "pr", ok(("Cache-Control", "no-store"), body=b"0123456789"))
    r, body = await fetch(edge, path, headers={"Range": "bytes=0-1"})
    assert (r.status, body) in ((200, b"0123456789"), (206, b"01"))


async def test_set_cookie_without_shared_permission_is_not_stored(edge: Any) -> None:
    """A deliberate edge policy (RFC 9111 §7.3 allows storing it): costs cache-tests
    other-set-cookie and 304-*-update-*-Set-Cookie. With public it is stored."""
    assert not await reused(
        edge, "/seq/sc", ("Cache-Control", "max-age=3600"), ("Set-Cookie", "a=b")
    )
    assert await reused(
        edge, "/seq/sc2", ("Cache-Control", "max-age=3600, public"), ("Set-Cookie", "a=b")
    )


# -- more directive corners ---------------------------------------------------------


async def test_only_if_cached_with_a_stale_entry_is_504(edge: Any) -> None:
    path = script(edge, "oc", ok(("Cache-Control", "max-age=1")))
    await fetch(edge, path)
    edge.clock.advance(10)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "only-if-cached"})
    assert r.status == 504
    assert len(seen(edge, "oc")) == 1


async def test_stale_immutable_response_is_revalidated(edge: Any) -> None:
    """RFC 8246 §2: immutable has no effect once the response is stale."""
    path = script(edge, "im", ok(("Cache-Control", "max-age=2, immutable"), ("ETag", '"a"')))
    await fetch(edge, path)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-age=0"})
    assert not is_hit(r)
    assert seen(edge, "im")[-1].headers["If-None-Match"] == '"a"'


async def test_stale_head_is_revalidated_and_has_no_body(edge: Any) -> None:
    cc = ("Cache-Control", "max-age=2")
    path = script(
        edge, "h", ok(cc, ("ETag", '"a"'), body=b"abc"), not_modified(cc, ("ETag", '"a"'))
    )
    await fetch(edge, path)
    edge.clock.advance(5)
    r, body = await fetch(edge, path, "HEAD")
    assert r.status == 200 and body == b""
    r, body = await fetch(edge, path)
    assert is_hit(r) and body == b"abc"


async def test_location_on_another_origin_is_not_invalidated(edge: Any) -> None:
    target = script(edge, "t", ok(("Cache-Control", "max-age=3600")))
    other = script(
        edge,
        "o",
        ok(("Cache-Control", "no-store"), ("Location", "http://elsewhere.example" + target)),
    )
    await fetch(edge, target)
    await fetch(edge, other, "POST", data=b"x")
    r, _ = await fetch(edge, target)
    assert is_hit(r)


async def test_absolute_location_on_the_same_origin_is_invalidated(edge: Any) -> None:
    target = script(edge, "t", ok(("Cache-Control", "max-age=3600")))
    absolute = f"http://127.0.0.1:{edge.client.port}{target}"
    other = script(edge, "o", ok(("Cache-Control", "no-store"), ("Location", absolute)))
    await fetch(edge, target)
    await fetch(edge, other, "POST", data=b"x")
    r, _ = await fetch(edge, target)
    assert not is_hit(r)


async def test_cache_status_reports_miss_stored_then_hit_with_ttl(edge: Any) -> None:
    """RFC 9211 §2: fwd on a miss, hit with ttl afterwards, never both."""
    path = script(edge, "cs", ok(("Cache-Control", "max-age=100")))
    r, _ = await fetch(edge, path)
    st = status_of(r)
    assert st["fwd"] == "uri-miss" and st["stored"] is True and "hit" not in st
    assert st["fwd-status"] == 200
    edge.clock.advance(40)
    r, _ = await fetch(edge, path)
    st = status_of(r)
    assert st["hit"] is True and st["ttl"] == 60 and "fwd" not in st
