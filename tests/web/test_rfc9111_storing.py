"""What is stored with a response, and for which requests (RFC 9111 §3, §3.1, §3.5;
RFC 9110 §7.6.1): header fields, the cache key, Authorization, HEAD, Set-Cookie."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, is_hit
from tests.support.scripted_origin import hd, ok, reused, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


# -- header fields (RFC 9110 §7.6.1, RFC 9111 §3.1) ------------------------------------


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


# -- which requests a stored response serves (RFC 9111 §2, §3, §3.5) -------------------


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


async def test_set_cookie_without_shared_permission_is_not_stored(edge: Any) -> None:
    """A deliberate edge policy (RFC 9111 §7.3 allows storing it): costs cache-tests
    other-set-cookie and 304-*-update-*-Set-Cookie. With public it is stored."""
    assert not await reused(
        edge, "/seq/sc", ("Cache-Control", "max-age=3600"), ("Set-Cookie", "a=b")
    )
    assert await reused(
        edge, "/seq/sc2", ("Cache-Control", "max-age=3600, public"), ("Set-Cookie", "a=b")
    )
