"""Vary: selecting a stored response by the request's header fields (RFC 9111 §4.1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, is_hit, status_of
from tests.support.scripted_origin import Header, hd, not_modified, ok, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


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
