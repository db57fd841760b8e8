"""Metric values after scripted traffic, through the admin API of a real node (both fronts)."""

from __future__ import annotations

import pytest

from tests.admin.conftest import Rig
from tests.conftest import FrontClient
from tests.support.helpers import metric_samples

MISS = ("edge_requests_total", "cache=miss,method=GET,status=2xx")
HIT = ("edge_requests_total", "cache=hit,method=GET,status=2xx")


async def scrape(rig: Rig) -> dict[tuple[str, str], float]:
    async with rig.admin.get("/metrics", headers=rig.auth) as r:
        assert r.status == 200
        return metric_samples(await r.text())


async def test_a_miss_and_two_hits_count_requests_latency_upstream_and_bytes(rig: Rig) -> None:
    body, status = await rig.get("/static/m.css")
    assert "fwd=uri-miss" in status
    for _ in range(2):
        _, status = await rig.get("/static/m.css")
        assert "hit" in status
    got = await scrape(rig)
    assert got[MISS] == 1 and got[HIT] == 2
    assert got[("edge_request_duration_seconds_count", "cache=hit")] == 2
    assert got[("edge_request_duration_seconds_count", "cache=miss")] == 1
    assert got[("edge_first_byte_seconds_count", "cache=miss")] == 1
    assert ("edge_first_byte_seconds_count", "cache=hit") not in got
    assert got[("edge_upstream_requests_total", "name=origin,upstream=origin")] == 1
    assert got[("edge_upstream_duration_seconds_count", "name=origin,upstream=origin")] == 1
    assert got[("edge_served_bytes_total", "tier=memory")] == 2 * len(body)
    assert got[("edge_served_bytes_total", "tier=origin")] == len(body)
    assert got[("edge_cache_hits_total", "")] == 2  # the older counters agree
    assert got[("edge_store_objects", "tier=memory")] == 1
    assert got[("edge_store_admissions_total", "tier=memory")] == 1
    assert got[("edge_store_budget_bytes", "tier=memory")] == rig.node.cfg.cache.memory.max_bytes
    async with rig.admin.get("/stats", headers=rig.auth) as r:
        stats = await r.json()
    assert stats["outcomes"] == {"miss": 1, "hit": 2}
    assert stats["hits"] == 2 and stats["requests"] == 3
    assert len(stats["latency_buckets"]) == 17
    latency = stats["latency"]
    assert latency["hit"]["count"] == 2 and latency["all"]["count"] == 3
    assert latency["all"]["p50"] is not None and len(latency["all"]["counts"]) == 18


async def test_origin_errors_count_by_kind_and_purges_by_kind(rig: Rig) -> None:
    async with rig.proxy.get("/fault/503") as r:
        assert r.status == 503
    await rig.get("/static/p.css")
    await rig.purge(urls=["/static/p.css"])
    await rig.purge(tags=["t1", "t2"], soft=True)
    got = await scrape(rig)
    assert got[("edge_upstream_errors_total", "kind=status_5xx,name=origin,upstream=origin")] == 1
    assert got[("edge_upstream_errors_total", "kind=connect,name=origin,upstream=origin")] == 0
    assert got[("edge_requests_total", "cache=miss,method=GET,status=5xx")] == 1
    assert got[("edge_purges_total", "kind=url")] == 1
    assert got[("edge_purges_total", "kind=soft_tag")] == 2
    assert got[("edge_purged_objects_total", "")] == 1
    async with rig.admin.get("/stats", headers=rig.auth) as r:
        assert (await r.json())["upstream_errors"]["status_5xx"] == 1


async def test_open_connections_are_a_gauge_read_when_scraped(rig: Rig) -> None:
    if not isinstance(rig.proxy, FrontClient):
        pytest.skip("the aiohttp front keeps no connection table")
    await rig.get("/static/c.css")  # the client keeps its connection open
    got = await scrape(rig)
    assert got[("edge_client_connections", "")] >= 1
    assert got[("edge_client_connections_accepted_total", "")] >= 1
