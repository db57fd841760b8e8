"""Invalidation by unsafe methods: the target, Location and Content-Location (RFC 9111 §4.4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, is_hit
from tests.support.scripted_origin import ok, script
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


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
