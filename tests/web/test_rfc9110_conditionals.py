"""The client's conditional requests (RFC 9110 §13), answered from the cache (RFC 9111 §4.3.2)
or, for responses the cache cannot store, still honoured (RFC 9110 §13.2.1)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.helpers import fetch, q
from tests.support.scripted_origin import hd, not_modified, ok, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


# -- answered from the cache (RFC 9110 §13, RFC 9111 §4.3.2) ---------------------------


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


# -- preconditions on responses the cache cannot store (RFC 9110 §13.2.1) --------------


async def test_if_match_is_honoured_when_the_response_is_not_storable(edge: Any) -> None:
    path = script(edge, "pm", ok(("Cache-Control", "no-store"), ("ETag", '"v1"')))
    r, _ = await fetch(edge, path, headers={"If-Match": '"v0"'})
    forwarded = seen(edge, "pm")[-1].headers.get("If-Match") == '"v0"'
    assert forwarded or r.status == 412


async def test_if_none_match_on_a_non_storable_response_gets_304(edge: Any) -> None:
    path = q(cc="no-store", etag="v1")
    r, body = await fetch(edge, path, headers={"If-None-Match": '"v1"'})
    assert r.status == 304 and body == b""
