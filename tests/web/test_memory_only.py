"""A cache without a disk tier, through the running proxy: bodies reach the client
whether or not the memory tier keeps them."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support.helpers import cache_status_raw, fetch, q, small_objects

pytestmark = pytest.mark.timeout(60)


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


async def test_memory_only_small_body_reaches_the_client_that_asked(make_edge: Any) -> None:
    # Without a disk tier a small fill commits without yielding: its spool is released
    # before the waiting request opens a reader, and must still be readable.
    edge = await make_edge(small_objects(disk=False))
    path = q(cc="max-age=60", size="1000")
    resp, body = await fetch(edge, path)
    assert resp.status == 200 and len(body) == 1000
    again, body2 = await fetch(edge, path)
    assert "; hit" in cache_status_raw(again) and body2 == body
