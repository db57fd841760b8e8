"""The request flow on an in-memory upstream and a memory-only store, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from edge.errors import OnlyIfCachedMiss, UpstreamConnectError
from tests.cache.fakes import Script
from tests.cache.rig import Rig, cached, status_of


@pytest.fixture
def rig() -> Rig:
    return Rig()


async def test_miss_then_hit_makes_one_origin_request(rig: Rig) -> None:
    rig.upstream.answer("/a", cached())
    r1, b1 = await rig.get("/a")
    assert status_of(r1) == "edge; fwd=uri-miss; fwd-status=200; stored"
    rig.clock.advance(10)
    r2, b2 = await rig.get("/a")
    assert b1 == b2 == b"hello world"
    assert status_of(r2) == "edge; hit; ttl=50; detail=memory"
    assert r2.headers["Age"] == "10"
    assert rig.upstream.count("/a") == 1
    assert (rig.stats.hits, rig.stats.misses, rig.stats.stored) == (1, 1, 1)


async def test_rfc9111_4_concurrent_misses_collapse_onto_one_fill(rig: Rig) -> None:
    gate = asyncio.Event()
    script = cached()
    script.gate = gate
    rig.upstream.answer("/c", script)
    tasks = [asyncio.create_task(rig.get("/c")) for _ in range(5)]
    await asyncio.sleep(0.01)
    gate.set()
    answers = await asyncio.gather(*tasks)
    assert [b for _, b in answers] == [b"hello world"] * 5
    assert sum("collapsed" in status_of(r) for r, _ in answers) == 4
    assert rig.upstream.count("/c") == 1


async def test_fill_never_sends_the_clients_conditionals(rig: Rig) -> None:
    # a Range miss is asked as a range (RFC 9111 §3.3, edge.cache.partial); this origin
    # ignores it (RFC 9110 §14.2), so the range is cut from the whole
    rig.upstream.answer("/r", cached())
    resp, body = await rig.get("/r", Range="bytes=0-4", If_None_Match='"zz"')
    sent = rig.upstream.sent[0].headers
    assert sent["Range"] == "bytes=0-4" and "If-None-Match" not in sent
    assert resp.status == 206 and body == b"hello"
    assert resp.headers["Content-Range"] == "bytes 0-4/11"


async def test_rfc9110_13_stored_304_and_412(rig: Rig) -> None:
    rig.upstream.answer("/v", cached())
    await rig.get("/v")
    r304, b304 = await rig.get("/v", If_None_Match='"v1"')
    assert r304.status == 304 and b304 == b""
    assert r304.headers["ETag"] == '"v1"' and "Age" in r304.headers
    r412, _ = await rig.get("/v", If_Match='"other"')
    assert r412.status == 412


async def test_rfc9110_14_stored_ranges_and_416(rig: Rig) -> None:
    rig.upstream.answer("/g", cached())
    await rig.get("/g")
    r, body = await rig.get("/g", Range="bytes=6-")
    assert (r.status, body) == (206, b"world")
    r, _ = await rig.get("/g", Range="bytes=50-60")
    assert r.status == 416 and r.headers["Content-Range"] == "bytes */11"
    r, body = await rig.get("/g", Range="bytes=0-0,6-6")
    assert r.status == 206 and r.headers["Content-Type"].startswith("multipart/byteranges")
    assert b"Content-Range: bytes 0-0/11" in body and b"Content-Range: bytes 6-6/11" in body


async def test_rfc9110_9_3_2_head_miss_passes_as_head(rig: Rig) -> None:
    rig.upstream.answer("/h", cached())
    resp, body = await rig.get("/h", method="HEAD")
    assert rig.upstream.sent[0].method == "HEAD"
    assert body == b"" and "detail=head-miss" in status_of(resp)
    assert rig.stats.stored == 0


async def test_head_hit_has_the_stored_length_and_no_body(rig: Rig) -> None:
    rig.upstream.answer("/hh", cached())
    await rig.get("/hh")
    resp, body = await rig.get("/hh", method="HEAD")
    assert body == b"" and resp.headers["Content-Length"] == "11"
    assert "hit" in status_of(resp)


@pytest.mark.parametrize(("status", "stale"), [(500, True), (503, True), (504, True), (501, False)])
async def test_rfc5861_4_stale_if_error_only_on_its_statuses(
    rig: Rig, status: int, stale: bool
) -> None:
    rig.upstream.answer(
        "/e", cached(10, **{"Cache-Control": "max-age=10, stale-if-error=60"}), Script(status)
    )
    await rig.get("/e")
    rig.clock.advance(20)
    resp, body = await rig.get("/e")
    if stale:
        assert body == b"hello world"
        assert (
            status_of(resp)
            == f"edge; fwd=stale; fwd-status={status}; ttl=-10; detail=stale-if-error"
        )
    else:
        assert resp.status == status and body == b"hello"


async def test_rfc5861_4_stale_if_error_on_a_connect_error(rig: Rig) -> None:
    rig.upstream.answer(
        "/x", cached(10, **{"Cache-Control": "max-age=10, stale-if-error=60"}), Script(fail=True)
    )
    await rig.get("/x")
    rig.clock.advance(20)
    resp, body = await rig.get("/x")
    assert body == b"hello world" and "detail=stale-if-error" in status_of(resp)


async def test_connect_error_without_stale_raises(rig: Rig) -> None:
    rig.upstream.answer("/down", Script(fail=True))
    with pytest.raises(UpstreamConnectError):
        await rig.get("/down")


async def test_rfc9111_5_2_1_7_only_if_cached_miss(rig: Rig) -> None:
    with pytest.raises(OnlyIfCachedMiss):
        await rig.get("/none", Cache_Control="only-if-cached")


async def test_uncacheable_marks_hit_for_miss_and_followers_go_alone(rig: Rig) -> None:
    rig.upstream.answer("/p", Script(headers={"Cache-Control": "private"}))
    r1, b1 = await rig.get("/p")
    assert "detail=private" in status_of(r1) and b1 == b"hello"
    gate = asyncio.Event()
    rig.upstream.answer("/p", Script(headers={"Cache-Control": "private"}, gate=gate))
    tasks = [asyncio.create_task(rig.get("/p")) for _ in range(3)]
    await asyncio.sleep(0.01)
    gate.set()
    answers = await asyncio.gather(*tasks)
    assert all(b == b"hello" for _, b in answers)
    assert not any("collapsed" in status_of(r) for r, _ in answers)  # hit-for-miss
    assert rig.upstream.count("/p") == 4


async def test_rfc9111_4_3_4_revalidation_304_freshens(rig: Rig) -> None:
    rig.upstream.answer(
        "/rv", cached(10), Script(304, headers={"ETag": '"v1"', "Cache-Control": "max-age=100"})
    )
    await rig.get("/rv")
    rig.clock.advance(20)
    resp, body = await rig.get("/rv")
    assert body == b"hello world"
    assert rig.upstream.sent[1].headers["If-None-Match"] == '"v1"'
    assert status_of(resp).startswith("edge; fwd=stale; fwd-status=304")
    resp, _ = await rig.get("/rv")
    assert "hit" in status_of(resp) and rig.stats.revalidated == 1


async def test_rfc9111_4_4_unsafe_method_invalidates(rig: Rig) -> None:
    rig.upstream.answer("/u", cached())
    await rig.get("/u")
    rig.upstream.answer("/u", cached(), Script(204, chunks=()), cached())
    resp, _ = await rig.get("/u", method="POST")
    assert "fwd=method" in status_of(resp)
    resp, _ = await rig.get("/u")
    assert "fwd=uri-miss" in status_of(resp)
