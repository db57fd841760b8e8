"""Validating a stale response and freshening it with a 304 (RFC 9111 §4.3.1, §4.3.4, §3.2)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, is_hit, status_of
from tests.support.scripted_origin import Header, Reply, hd, not_modified, ok, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


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
