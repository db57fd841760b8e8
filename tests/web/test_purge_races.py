"""Purges that land while a fill is in flight, through the running proxy: they stick
(during a revalidation, during the disk commit).

A request is put "in flight" by a slow origin (``delay``); the tests wait for the
origin to have it in hand (polling with a deadline) instead of sleeping.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.helpers import cache_status_raw, fetch, origin_has, q

pytestmark = pytest.mark.timeout(60)


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
    assert "; hit" not in cache_status_raw(r)  # soft-purged: never fresh again without revalidation


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
    assert "fwd=uri-miss" in cache_status_raw(r2) and b2 != b1
