"""RFC 9111 §3.3, §3.4 and RFC 9110 §14: 206 parts stored, reused, combined and completed."""

from __future__ import annotations

from tests.cache.fakes import Script
from tests.cache.rig import DATE, Rig, status_of

DATA = bytes(range(48, 58)) * 10  # 100 bytes: "0123456789" ten times
FIELDS = {"Cache-Control": "max-age=60", "Date": DATE, "ETag": '"v1"'}


def ranged_rig() -> Rig:
    rig = Rig()
    rig.upstream.represent("/r", DATA, **FIELDS)
    return rig


async def test_rfc9111_3_3_a_range_miss_goes_upstream_as_a_range_and_is_stored() -> None:
    rig = ranged_rig()
    r, body = await rig.get("/r", Range="bytes=0-49")
    assert (r.status, body) == (206, DATA[:50])
    assert r.headers["Content-Range"] == "bytes 0-49/100"
    assert status_of(r) == "edge; fwd=uri-miss; fwd-status=206; ttl=60; stored"
    assert rig.upstream.sent[-1].headers["Range"] == "bytes=0-49"  # not a whole fetch
    r, body = await rig.get("/r", Range="bytes=10-19")
    assert (r.status, body) == (206, DATA[10:20])
    assert r.headers["Content-Range"] == "bytes 10-19/100"
    assert r.headers["Content-Length"] == "10"
    assert "hit" in status_of(r) and len(rig.upstream.sent) == 1
    stats = rig.store.stats()
    assert stats["memory_objects"] == 1 and int(stats["memory_bytes"]) >= 50  # in the budget


async def test_rfc9111_3_3_a_range_beyond_the_parts_is_asked_for() -> None:
    rig = ranged_rig()
    await rig.get("/r", Range="bytes=0-49")
    r, body = await rig.get("/r", Range="bytes=-5")
    assert (r.status, body) == (206, DATA[95:])
    assert "fwd=partial" in status_of(r)
    assert rig.upstream.sent[-1].headers["Range"] == "bytes=-5"
    r, body = await rig.get("/r", Range="bytes=97-98")  # now stored too
    assert (body, len(rig.upstream.sent)) == (DATA[97:99], 2)


async def test_rfc9111_3_4_parts_of_one_representation_combine_into_the_whole() -> None:
    rig = ranged_rig()
    await rig.get("/r", Range="bytes=0-49")
    await rig.get("/r", Range="bytes=40-99")
    r, body = await rig.get("/r")
    assert (r.status, body) == (200, DATA)
    assert "hit" in status_of(r) and len(rig.upstream.sent) == 2
    r, body = await rig.get("/r", Range="bytes=45-54")
    assert (r.status, body, len(rig.upstream.sent)) == (206, DATA[45:55], 2)


async def test_rfc9111_3_4_parts_of_another_representation_replace_the_stored_ones() -> None:
    rig = ranged_rig()
    await rig.get("/r", Range="bytes=0-49")
    changed = DATA[::-1]
    rig.upstream.represent("/r", changed, **{**FIELDS, "ETag": '"v2"'})
    r, body = await rig.get("/r", Range="bytes=50-99")
    assert body == changed[50:]
    r, body = await rig.get("/r", Range="bytes=0-9")  # the v1 part is gone: asked again
    assert (body, len(rig.upstream.sent)) == (changed[:10], 3)


async def test_rfc9111_3_4_a_stored_beginning_is_completed_with_range_n() -> None:
    rig = ranged_rig()
    await rig.get("/r", Range="bytes=0-29")
    r, body = await rig.get("/r")
    sent = rig.upstream.sent[-1].headers
    assert (sent["Range"], sent["If-Range"]) == ("bytes=30-", '"v1"')
    assert (r.status, body) == (200, DATA)
    assert "stored" in status_of(r)
    r, body = await rig.get("/r")
    assert (r.status, body, len(rig.upstream.sent)) == (200, DATA, 2)
    assert "hit" in status_of(r)


async def test_rfc9111_3_4_a_completion_from_another_representation_asks_for_the_whole() -> None:
    rig = Rig()
    part = {**FIELDS, "Content-Range": "bytes 0-4/10"}
    rest = {**FIELDS, "ETag": '"v2"', "Content-Range": "bytes 5-9/10"}
    rig.upstream.answer(
        "/c",
        Script(206, part, (b"01234",)),
        Script(206, rest, (b"ABCDE",)),  # ignored If-Range: not the same representation
        Script(200, {**FIELDS, "ETag": '"v2"'}, (b"abcdeABCDE",)),
    )
    await rig.get("/c", Range="bytes=0-4")
    r, body = await rig.get("/c")
    assert (r.status, body) == (200, b"abcdeABCDE")  # never the two mixed
    assert "Range" not in rig.upstream.sent[-1].headers and len(rig.upstream.sent) == 3


async def test_rfc9111_3_3_a_206_that_disagrees_with_its_content_range_is_not_stored() -> None:
    rig = Rig()
    bad = {**FIELDS, "Content-Range": "bytes 4-9/10"}  # six bytes claimed, five sent
    rig.upstream.answer("/b", Script(206, bad, (b"01234",)))
    r, body = await rig.get("/b", Range="bytes=-5")
    assert (r.status, body) == (206, b"01234")  # relayed as it came
    assert "stored" not in status_of(r)
    await rig.get("/b", Range="bytes=-5")
    assert len(rig.upstream.sent) == 2


async def test_rfc9110_14_1_1_a_range_beyond_the_known_length_is_416_from_the_parts() -> None:
    rig = ranged_rig()
    await rig.get("/r", Range="bytes=0-9")
    r, _ = await rig.get("/r", Range="bytes=200-300")
    assert (r.status, r.headers["Content-Range"]) == (416, "bytes */100")
    assert len(rig.upstream.sent) == 1


async def test_rfc9110_14_2_an_origin_that_ignores_range_fills_the_whole() -> None:
    rig = Rig()
    rig.upstream.answer("/w", Script(200, FIELDS, (DATA,)))
    r, body = await rig.get("/w", Range="bytes=0-9")
    assert (r.status, body) == (206, DATA[:10])  # cut from the whole as it arrives
    r, body = await rig.get("/w")
    assert (r.status, body, len(rig.upstream.sent)) == (200, DATA, 1)


async def test_rfc9111_3_3_parts_are_bounded_per_object() -> None:
    rig = ranged_rig()
    for first in range(0, 100, 10):  # ten disjoint parts of one representation
        await rig.get("/r", Range=f"bytes={first}-{first + 4}")
    entries = await rig.store.variants(rig.flow.key_for("http", "example.com", "/r"))
    assert len(entries) == 1 and 1 <= len(entries[0].parts) <= 8


async def test_rfc9111_3_3_head_and_full_requests_never_get_a_part() -> None:
    rig = ranged_rig()
    await rig.get("/r", Range="bytes=10-19")  # not the beginning: nothing to complete
    r, body = await rig.get("/r")
    assert (r.status, body) == (200, DATA)
    assert "Range" not in rig.upstream.sent[-1].headers
    rig2 = ranged_rig()
    await rig2.get("/r", Range="bytes=0-9")
    r, _ = await rig2.get("/r", method="HEAD")
    assert r.status == 200 and rig2.upstream.sent[-1].method == "HEAD"
