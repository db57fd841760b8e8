"""Bugs a review found in the data path, each shown through the running proxy (all fixed).

A request is put "in flight" by a slow origin (``delay``); the tests wait for the
origin to have it in hand (polling with a deadline) instead of sleeping.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from edge.cache.spool import Spool
from edge.config import Config, DiskTierConfig, MemoryTierConfig
from edge.errors import UpstreamBodyError

pytestmark = pytest.mark.timeout(60)


def q(**params: str) -> str:
    return "/script?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def status_of(resp: Any) -> str:
    return str(resp.headers["Cache-Status"])


async def fetch(edge: Any, path: str, **kw: Any) -> tuple[Any, bytes]:
    resp = await edge.get(path, **kw)
    body = await resp.read()
    await edge.settle()
    return resp, body


async def origin_has(edge: Any, path: str, count: int) -> None:
    """Until the origin has received ``count`` requests for ``path`` (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await edge.origin_count(path) < count:
        assert loop.time() < deadline, f"origin never saw request {count} for {path}"
        await asyncio.sleep(0.01)


def small_objects(*, disk: bool = True) -> Config:
    base = Config()
    return replace(
        base,
        cache=replace(
            base.cache,
            memory=MemoryTierConfig(max_object_bytes=64 * 1024),
            disk=DiskTierConfig(enabled=disk),
        ),
    )


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
    assert "fwd-status=304" not in status_of(rb)
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


async def test_memory_only_large_chunked_body_passes_through(make_edge: Any) -> None:
    edge = await make_edge(small_objects(disk=False))
    size = 256 * 1024
    path = q(cc="max-age=60", chunked="1", size=str(size))
    resp = await edge.get(path)
    try:
        body = await resp.read()
    except aiohttp.ClientPayloadError:
        body = b""
    assert resp.status == 200 and len(body) == size


async def test_soft_purge_during_revalidation_sticks(edge: Any) -> None:
    path = q(cc="max-age=10", etag="v1", delay="0.4")
    await fetch(edge, path)
    edge.clock.advance(11)
    task = asyncio.create_task(fetch(edge, path))  # revalidation in flight
    await origin_has(edge, path, 2)
    edge.clock.advance(1)
    assert await edge.node.invalidator.purge(urls=[path], soft=True) == 1
    await task
    r, _ = await fetch(edge, path)
    assert "; hit" not in status_of(r)  # soft-purged: never fresh again without revalidation


async def test_fill_crash_does_not_leave_client_hanging(
    edge: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = edge.node.engine.fetcher._origin

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


async def test_variant_fetched_by_a_follower_is_a_hit_later(edge: Any) -> None:
    path = q(cc="max-age=60", vary="Accept-Language", delay="0.4")
    a = asyncio.create_task(fetch(edge, path, headers={"Accept-Language": "en"}))
    await origin_has(edge, path, 1)
    await fetch(edge, path, headers={"Accept-Language": "fr"})
    await a
    r, _ = await fetch(edge, path, headers={"Accept-Language": "fr"})
    assert "; hit" in status_of(r)


async def test_memory_only_small_body_reaches_the_client_that_asked(make_edge: Any) -> None:
    # Without a disk tier a small fill commits without yielding: its spool is released
    # before the waiting request opens a reader, and must still be readable.
    edge = await make_edge(small_objects(disk=False))
    path = q(cc="max-age=60", size="1000")
    resp, body = await fetch(edge, path)
    assert resp.status == 200 and len(body) == 1000
    again, body2 = await fetch(edge, path)
    assert "; hit" in status_of(again) and body2 == body


async def test_a_path_purge_during_the_disk_commit_sticks(
    edge: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory serves a fill's entry while its disk write is awaited; a purge by path in
    # that window must find it (the index has it already) and keep the commit out.
    disk = edge.node.store.inner.disk
    real_put = disk.put
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow_put(entry: Any, body: Any) -> bool:
        entered.set()
        await gate.wait()
        ok: bool = await real_put(entry, body)
        return ok

    monkeypatch.setattr(disk, "put", slow_put)
    path = q(cc="max-age=600")
    r1 = await edge.get(path)
    b1 = await r1.read()
    await asyncio.wait_for(entered.wait(), 5)
    edge.clock.advance(1)  # the purge comes after the fill's request
    try:
        assert await edge.node.invalidator.purge(urls=[path]) == 1
    finally:
        gate.set()
        await edge.settle()
    r2, b2 = await fetch(edge, path)
    assert "fwd=uri-miss" in status_of(r2) and b2 != b1
