"""Cache-Control directives: in responses (RFC 9111 §5.2.2), in requests (§5.2.1, §5.4),
and immutable (RFC 8246)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, is_hit, status_of
from tests.support.scripted_origin import hd, not_modified, ok, reused, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


# -- response directives (RFC 9111 §5.2.2) ---------------------------------------------


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


async def test_must_understand_with_known_status_overrides_no_store(edge: Any) -> None:
    """§5.2.2.3: a cache that understands the status ignores no-store next to must-understand."""
    assert await reused(
        edge, "/seq/mu", ("Cache-Control", "max-age=3600, must-understand, no-store")
    )


# -- request directives (RFC 9111 §5.2.1, §5.4) ----------------------------------------


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


async def test_only_if_cached_with_a_stale_entry_is_504(edge: Any) -> None:
    path = script(edge, "oc", ok(("Cache-Control", "max-age=1")))
    await fetch(edge, path)
    edge.clock.advance(10)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "only-if-cached"})
    assert r.status == 504
    assert len(seen(edge, "oc")) == 1


# -- immutable (RFC 8246) --------------------------------------------------------------


async def test_stale_immutable_response_is_revalidated(edge: Any) -> None:
    """RFC 8246 §2: immutable has no effect once the response is stale."""
    path = script(edge, "im", ok(("Cache-Control", "max-age=2, immutable"), ("ETag", '"a"')))
    await fetch(edge, path)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-age=0"})
    assert not is_hit(r)
    assert seen(edge, "im")[-1].headers["If-None-Match"] == '"a"'
