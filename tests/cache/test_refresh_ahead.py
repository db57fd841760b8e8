"""Refresh-ahead (issue 16): popular fresh entries are revalidated before they expire
(RFC 9111 §4.3.1 allows a conditional request at any time), on the fake clock."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from edge.cache.forwarding import Forwarding
from edge.cache.hot import HotPath
from edge.cache.refresh import RefreshAhead
from tests.cache.fakes import Script
from tests.cache.rig import Rig, cached, status_of

FRESHENED = Script(304, {"ETag": '"v1"', "Cache-Control": "max-age=100"}, ())


def refreshing_rig(*scripts: Script, fraction: float = 0.1, min_hits: int = 2) -> Rig:
    rig = Rig()
    rig.flow.refresh = RefreshAhead(fraction, min_hits)
    rig.upstream.answer("/h", cached(100), *scripts)
    return rig


async def test_a_popular_entry_near_its_end_is_refreshed_in_the_background() -> None:
    rig = refreshing_rig(FRESHENED)
    await rig.get("/h")
    rig.clock.advance(50)
    r, _ = await rig.get("/h")  # mid-life: a plain hit, nothing counted
    assert status_of(r) == "edge; hit; ttl=50; detail=memory"
    rig.clock.advance(41)  # 9 s left of 100: in the last 10 %
    r, _ = await rig.get("/h")  # counted once: not popular yet
    assert "refresh-ahead" not in status_of(r) and len(rig.upstream.sent) == 1
    r, body = await rig.get("/h")
    assert status_of(r) == "edge; hit; ttl=9; detail=refresh-ahead"
    assert body == b"hello world"  # the stored answer, at once
    assert rig.upstream.sent[-1].headers["If-None-Match"] == '"v1"'
    assert (rig.stats.refresh_ahead, rig.stats.refresh_ahead_freshened) == (1, 1)
    r, _ = await rig.get("/h")  # freshened: a whole lifetime again
    assert status_of(r) == "edge; hit; ttl=100; detail=memory"
    assert len(rig.upstream.sent) == 2


async def test_a_key_is_refreshed_at_most_once_per_stored_response() -> None:
    rig = refreshing_rig(Script(fail=True))  # the refresh fails
    await rig.get("/h")
    rig.clock.advance(92)
    for _ in range(5):
        await rig.get("/h")
    assert rig.stats.refresh_ahead == 1 and rig.stats.refresh_ahead_failed == 1
    assert len(rig.upstream.sent) == 2  # the fill, one refresh, never more
    r, _ = await rig.get("/h")
    assert status_of(r) == "edge; hit; ttl=8; detail=memory"  # still served while fresh


async def test_a_new_response_from_the_refresh_replaces_the_entry() -> None:
    new = Script(headers={"Cache-Control": "max-age=100", "ETag": '"v2"'}, chunks=(b"new",))
    rig = refreshing_rig(new)
    await rig.get("/h")
    rig.clock.advance(95)
    await rig.get("/h")
    await rig.get("/h")
    r, body = await rig.get("/h")
    assert body == b"new" and rig.stats.refresh_ahead_replaced == 1


async def test_unpopular_entries_and_fraction_zero_are_never_refreshed() -> None:
    rig = refreshing_rig(FRESHENED, min_hits=3)
    await rig.get("/h")
    rig.clock.advance(95)
    await rig.get("/h")
    await rig.get("/h")  # two hits: below min_hits
    assert rig.stats.refresh_ahead == 0
    off = refreshing_rig(FRESHENED, fraction=0.0)
    await off.get("/h")
    off.clock.advance(95)
    for _ in range(5):
        await off.get("/h")
    assert off.stats.refresh_ahead == 0 and len(off.upstream.sent) == 1


async def test_refreshes_stay_within_the_background_revalidation_cap() -> None:
    rig = refreshing_rig(FRESHENED)
    rig.fills._max_background = 0  # cache.max_revalidations reached
    await rig.get("/h")
    rig.clock.advance(95)
    for _ in range(3):
        r, _ = await rig.get("/h")
        assert "refresh-ahead" not in status_of(r)
    assert rig.stats.refresh_ahead == 0 and len(rig.upstream.sent) == 1


async def test_the_hot_path_leaves_entries_near_their_end_to_the_flow() -> None:
    rig = refreshing_rig(FRESHENED)
    await rig.get("/h")
    hot = HotPath(
        rig.flow, rig.store, Forwarding(name="edge"), rig.clock, name="edge", refresh_fraction=0.1
    )

    def fields() -> CIMultiDictProxy[str]:
        return CIMultiDictProxy(CIMultiDict[str]())

    def ask() -> object:
        return hot.answer("example.com", "/h", fields, date=b"d", connection=b"k")

    assert ask() is not None
    rig.clock.advance(95)
    assert ask() is None  # the flow counts it and may refresh it


async def test_metrics_count_refreshes_and_their_outcomes() -> None:
    from prometheus_client import generate_latest

    from edge.runtime.metrics import make_registry

    rig = refreshing_rig(FRESHENED)
    await rig.get("/h")
    rig.clock.advance(95)
    await rig.get("/h")
    await rig.get("/h")
    text = generate_latest(make_registry(rig.stats)).decode()
    assert "edge_refresh_ahead_total 1.0" in text
    assert "edge_refresh_ahead_freshened_total 1.0" in text
    assert "edge_refresh_ahead_failed_total 0.0" in text
