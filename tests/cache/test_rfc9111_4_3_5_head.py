"""RFC 9111 §4.3.5: a HEAD that must validate a stored GET response goes upstream as HEAD,
and the origin's answer updates (or makes stale) the stored response."""

from __future__ import annotations

from tests.cache.fakes import Script
from tests.cache.rig import DATE, Rig, status_of


def stored(**extra: str) -> Script:
    headers = {"Cache-Control": "max-age=2", "Date": DATE, "Template-A": "1", **extra}
    return Script(headers=headers, chunks=(b"hello ", b"world"))


def head(status: int = 200, **fields: str) -> Script:
    return Script(status, headers={"Date": DATE, **fields}, chunks=(b"hello ", b"world"))


async def test_rfc9111_4_3_5_a_stale_head_goes_upstream_as_head() -> None:
    rig = Rig()
    rig.upstream.answer("/h", stored(), head())
    await rig.get("/h")
    rig.clock.advance(3)
    r, body = await rig.get("/h", method="HEAD")
    assert [s.method for s in rig.upstream.sent] == ["GET", "HEAD"]
    assert body == b"" and r.headers["Content-Length"] == "11"
    assert r.headers["Template-A"] == "1"  # stored fields the HEAD did not carry are kept
    assert status_of(r).startswith("edge; fwd=stale; fwd-status=200")


async def test_rfc9111_4_3_5_a_200_to_head_updates_fields_and_freshness() -> None:
    rig = Rig()
    rig.upstream.answer(
        "/h", stored(), head(**{"Template-A": "2", "Cache-Control": "max-age=1000"})
    )
    await rig.get("/h")
    rig.clock.advance(3)
    await rig.get("/h", method="HEAD")
    r, body = await rig.get("/h")
    assert "hit" in status_of(r) and body == b"hello world"
    assert r.headers["Template-A"] == "2"
    assert rig.upstream.count("/h") == 2


async def test_rfc9111_4_3_5_a_head_for_another_representation_makes_it_stale() -> None:
    rig = Rig()
    fields = {"ETag": '"v2"', "Cache-Control": "max-age=1000", "Content-Length": "11"}
    rig.upstream.answer("/h", stored(ETag='"v1"'), head(**fields), stored(ETag='"v2"'))
    await rig.get("/h")
    rig.clock.advance(3)
    r, _ = await rig.get("/h", method="HEAD")
    assert r.headers["ETag"] == '"v2"'  # the origin's answer, relayed
    (entry,) = await rig.store.variants(entry_key(rig))
    assert entry.invalidated and entry.etag == '"v1"'
    r, _ = await rig.get("/h")
    assert "fwd=stale" in status_of(r)  # never fresh again: validated by the next GET


async def test_rfc9111_4_3_5_a_different_length_makes_it_stale() -> None:
    rig = Rig()
    rig.upstream.answer("/h", stored(), head(**{"Content-Length": "99"}))
    await rig.get("/h")
    rig.clock.advance(3)
    await rig.get("/h", method="HEAD")
    (entry,) = await rig.store.variants(entry_key(rig))
    assert entry.invalidated


async def test_rfc9111_4_3_4_a_304_to_head_freshens() -> None:
    rig = Rig()
    rig.upstream.answer(
        "/h", stored(ETag='"v1"'), head(304, ETag='"v1"', **{"Cache-Control": "max-age=100"})
    )
    await rig.get("/h")
    rig.clock.advance(3)
    r, _ = await rig.get("/h", method="HEAD")
    assert rig.upstream.sent[1].headers["If-None-Match"] == '"v1"'
    assert r.status == 200 and status_of(r).startswith("edge; fwd=stale; fwd-status=304")
    r, _ = await rig.get("/h")
    assert "hit" in status_of(r)


async def test_rfc9111_4_3_5_other_statuses_are_relayed_and_update_nothing() -> None:
    rig = Rig()
    rig.upstream.answer("/h", stored(), head(410, **{"Template-A": "2"}))
    await rig.get("/h")
    rig.clock.advance(3)
    r, _ = await rig.get("/h", method="HEAD")
    assert r.status == 410
    (entry,) = await rig.store.variants(entry_key(rig))
    assert dict(entry.headers)["Template-A"] == "1" and not entry.invalidated


def entry_key(rig: Rig) -> str:
    return rig.flow.key_for("http", "example.com", "/h")
