"""Requests collapsed into one fill, through the running proxy: each follower gets the
body and the variant it asked for, what they fetch is stored, and a failing fill
resolves its waiters.

A request is put "in flight" by a slow origin (``delay``); the tests wait for the
origin to have it in hand (polling with a deadline) instead of sleeping.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edge.cache.spool import Spool
from edge.errors import UpstreamBodyError
from tests.support.helpers import cache_status_raw, fetch, origin_has, q, small_objects

pytestmark = pytest.mark.timeout(60)


async def test_follower_joining_during_commit_gets_the_body(
    make_edge: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = await make_edge(small_objects())
    disk = edge.node.store.inner.disk
    real_put = disk.put
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow_put(entry: Any, body: Any) -> bool:  # widen the commit window
        entered.set()
        await gate.wait()
        ok: bool = await real_put(entry, body)
        return ok

    monkeypatch.setattr(disk, "put", slow_put)
    real_read = Spool._read

    async def tripwire(self: Spool, pos: int, end: int) -> bytes:
        chunk = await real_read(self, pos, end)
        if not chunk:  # without this the bug spins the event loop forever
            raise UpstreamBodyError("tripwire: empty read from a closed spool")
        return chunk

    monkeypatch.setattr(Spool, "_read", tripwire)
    r1 = await edge.get("/big/1MiB")
    b1 = await r1.read()
    assert len(b1) == 1 << 20
    await asyncio.wait_for(entered.wait(), 5)
    try:
        r2 = await edge.get("/big/1MiB")  # joins the fill that is committing
        b2 = await r2.read()
    finally:
        gate.set()
        await edge.settle()
    assert b2 == b1


async def test_vary_miss_collapsed_into_revalidation_gets_its_own_variant(edge: Any) -> None:
    path = q(cc="max-age=10", etag="v1", vary="Accept-Language", delay="0.4")
    _, en1 = await fetch(edge, path, headers={"Accept-Language": "en"})
    edge.clock.advance(11)  # en is stale: its next request revalidates (origin answers 304)
    a = asyncio.create_task(fetch(edge, path, headers={"Accept-Language": "en"}))
    await origin_has(edge, path, 2)
    rb, fr = await fetch(edge, path, headers={"Accept-Language": "fr"})  # vary-miss: collapses
    await a
    # fr was never fetched: it must come from the origin (a new serve), not be en's body
    assert "fwd-status=304" not in cache_status_raw(rb)
    assert fr != en1
    assert await edge.origin_count(path) == 3


async def test_variant_fetched_by_a_collapsed_follower_is_cached(edge: Any) -> None:
    path = q(cc="max-age=60", vary="Accept-Language", delay="0.4")
    a = asyncio.create_task(fetch(edge, path, headers={"Accept-Language": "en"}))
    await origin_has(edge, path, 1)
    b = asyncio.create_task(fetch(edge, path, headers={"Accept-Language": "fr"}))
    c = asyncio.create_task(fetch(edge, path, headers={"Accept-Language": "de"}))
    (_, en), (_, fr), (_, de) = await asyncio.gather(a, b, c)
    assert len({en, fr, de}) == 3  # three variants, three origin responses


async def test_variant_fetched_by_a_follower_is_a_hit_later(edge: Any) -> None:
    path = q(cc="max-age=60", vary="Accept-Language", delay="0.4")
    a = asyncio.create_task(fetch(edge, path, headers={"Accept-Language": "en"}))
    await origin_has(edge, path, 1)
    await fetch(edge, path, headers={"Accept-Language": "fr"})
    await a
    r, _ = await fetch(edge, path, headers={"Accept-Language": "fr"})
    assert "; hit" in cache_status_raw(r)


async def test_fill_crash_does_not_leave_client_hanging(
    edge: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = edge.node.engine.fills._ask._origin

    async def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("an unexpected bug below the fill")

    monkeypatch.setattr(origin, "fetch", broken)
    path = q(cc="max-age=60")
    try:
        resp = await asyncio.wait_for(edge.get(path), 3)
        status = resp.status
    except TimeoutError:
        status = 0  # still waiting for fill.head
    assert status == 500
