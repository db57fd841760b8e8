"""Range requests (RFC 9110 §14) and partial content in the cache (RFC 9111 §3.3, §3.4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, is_hit
from tests.support.scripted_origin import ok, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


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


async def test_rfc9111_3_3_range_miss_is_asked_as_a_range(edge: Any) -> None:
    # this origin ignores Range (RFC 9110 §14.2): its whole answer is stored
    path = script(edge, "r", ok(("Cache-Control", "max-age=3600"), body=b"0123456789"))
    r, b = await fetch(edge, path, headers={"Range": "bytes=2-3"})
    assert r.status == 206 and b == b"23"
    assert seen(edge, "r")[0].headers["Range"] == "bytes=2-3"
    r, b = await fetch(edge, path)
    assert is_hit(r) and b == b"0123456789"


async def test_range_on_a_non_storable_response_is_still_correct(edge: Any) -> None:
    """§14.2: a server MAY ignore Range; whatever edge does, the bytes must be right."""
    path = script(edge, "pr", ok(("Cache-Control", "no-store"), body=b"0123456789"))
    r, body = await fetch(edge, path, headers={"Range": "bytes=0-1"})
    assert (r.status, body) in ((200, b"0123456789"), (206, b"01"))


async def test_rfc9111_3_4_parts_are_stored_reused_and_completed(edge: Any) -> None:
    cc, tag = ("Cache-Control", "max-age=3600"), ("ETag", '"p1"')
    path = script(
        edge,
        "pc",
        ok(cc, tag, ("Content-Range", "bytes 0-4/10"), body=b"01234", status=206),
        ok(cc, tag, ("Content-Range", "bytes 5-9/10"), body=b"56789", status=206),
    )
    r, body = await fetch(edge, path, headers={"Range": "bytes=0-4"})
    assert (r.status, body) == (206, b"01234") and "stored" in r.headers["Cache-Status"]
    r, body = await fetch(edge, path, headers={"Range": "bytes=1-3"})
    assert (r.status, body, r.headers["Content-Range"]) == (206, b"123", "bytes 1-3/10")
    assert is_hit(r)
    r, body = await fetch(edge, path)  # the rest is asked for, and the whole answered
    assert (r.status, body) == (200, b"0123456789")
    asked = seen(edge, "pc")[1].headers
    assert (asked["Range"], asked["If-Range"]) == ("bytes=5-", '"p1"')
    r, body = await fetch(edge, path)
    assert (r.status, body) == (200, b"0123456789") and is_hit(r)
    assert len(seen(edge, "pc")) == 2
