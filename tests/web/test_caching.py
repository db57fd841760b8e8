"""RFC 9111 / 5861 / 9211 / 9213 behaviour through the running proxy, on a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

import http_sf
import pytest

from edge.config import CacheConfig, Config
from tests.support.helpers import fetch, q, status_of

pytestmark = pytest.mark.timeout(60)

NO_GRACE = Config(cache=CacheConfig(serve_stale_on_error=0.0))


async def test_rfc9111_4_fresh_response_is_served_from_cache(edge: Any) -> None:
    path = q(cc="max-age=60")
    r1, b1 = await fetch(edge, path)
    assert status_of(r1)["fwd"] == "uri-miss" and status_of(r1)["stored"] is True
    edge.clock.advance(10)
    r2, b2 = await fetch(edge, path)
    assert b1 == b2
    st = status_of(r2)
    assert st["hit"] is True and st["ttl"] == 50
    assert r2.headers["Age"] == "10"
    assert await edge.origin_count(path) == 1


async def test_rfc9111_4_2_3_age_includes_upstream_age(edge: Any) -> None:
    path = q(cc="max-age=60", age="30")
    await fetch(edge, path)
    edge.clock.advance(5)
    r, _ = await fetch(edge, path)
    assert r.headers["Age"] == "35"
    assert status_of(r)["ttl"] == 25


async def test_rfc9111_4_2_stale_response_is_revalidated_with_304(edge: Any) -> None:
    path = q(cc="max-age=10", etag="v1")
    r1, b1 = await fetch(edge, path)
    edge.clock.advance(11)
    r2, b2 = await fetch(edge, path)
    st = status_of(r2)
    assert st["fwd"] == "stale" and st["fwd-status"] == 304
    assert b2 == b1
    assert r2.headers["Age"] == "0"
    r3, _ = await fetch(edge, path)
    assert status_of(r3)["hit"] is True
    assert await edge.origin_count(path) == 2


async def test_rfc9111_5_2_2_10_s_maxage_beats_max_age(edge: Any) -> None:
    path = q(cc="max-age=5, s-maxage=100")
    await fetch(edge, path)
    edge.clock.advance(50)
    r, _ = await fetch(edge, path)
    assert status_of(r)["hit"] is True


async def test_rfc9111_5_3_expires_gives_freshness(edge: Any) -> None:
    path = q(expires="-100")  # 100 s in the future
    await fetch(edge, path)
    edge.clock.advance(50)
    r, _ = await fetch(edge, path)
    assert status_of(r)["hit"] is True
    edge.clock.advance(60)
    r, _ = await fetch(edge, path)
    assert "hit" not in status_of(r)


async def test_rfc9111_4_2_2_heuristic_freshness_from_last_modified(edge: Any) -> None:
    path = q(last_modified="100000")  # modified 100000 s ago: 10% → 10000 s fresh
    await fetch(edge, path)
    edge.clock.advance(9000)
    r, _ = await fetch(edge, path)
    assert status_of(r)["hit"] is True
    edge.clock.advance(2000)
    r, _ = await fetch(edge, path)
    assert "hit" not in status_of(r)


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/private", "private"),
        ("/no-store", "no-store"),
        ("/cookie", "set-cookie"),
        (q(cc="max-age=60", vary="*"), "vary-star"),
        (q(status="500", cc="max-age=60, must-understand"), "must-understand"),
    ],
)
async def test_rfc9111_3_not_storable_responses_are_not_stored(
    edge: Any, path: str, detail: str
) -> None:
    r1, _ = await fetch(edge, path)
    assert "stored" not in status_of(r1)
    assert status_of(r1).get("detail") == detail
    r2, _ = await fetch(edge, path)
    assert "hit" not in status_of(r2)
    assert await edge.origin_count(path) == 2


async def test_rfc9111_3_5_authorization_needs_explicit_shared_permission(edge: Any) -> None:
    auth = {"Authorization": "Bearer abc"}
    plain = q(cc="max-age=60", body="a")
    await fetch(edge, plain, headers=auth)
    await fetch(edge, plain, headers=auth)
    assert await edge.origin_count(plain) == 2
    shared = q(cc="s-maxage=60", body="b")
    await fetch(edge, shared, headers=auth)
    r, _ = await fetch(edge, shared, headers=auth)
    assert status_of(r)["hit"] is True


async def test_rfc9111_5_2_2_7_private_fields_are_not_stored(edge: Any) -> None:
    path = q(cc='max-age=60, private="X-Secret"', hdr="X-Secret:s3") + "&hdr=X-Open%3Ao"
    r1, _ = await fetch(edge, path)
    assert r1.headers["X-Secret"] == "s3"  # the first client gets it
    r2, _ = await fetch(edge, path)
    assert status_of(r2)["hit"] is True
    assert "X-Secret" not in r2.headers and r2.headers["X-Open"] == "o"


async def test_rfc9111_5_2_1_request_directives(edge: Any) -> None:
    path = q(cc="max-age=100", etag="e")
    await fetch(edge, path)
    edge.clock.advance(30)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-age=10"})
    assert status_of(r)["fwd"] == "request"
    edge.clock.advance(80)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "min-fresh=50"})
    assert status_of(r)["fwd"] == "request"
    r, _ = await fetch(edge, path, headers={"Cache-Control": "no-cache"})
    assert status_of(r)["fwd"] == "request"
    r, _ = await fetch(edge, path, headers={"Pragma": "no-cache"})
    assert status_of(r)["fwd"] == "request"


async def test_rfc9111_5_2_1_2_max_stale_serves_stale(edge: Any) -> None:
    path = q(cc="max-age=10")
    await fetch(edge, path)
    edge.clock.advance(20)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-stale=15"})
    assert status_of(r)["hit"] is True
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-stale=5"})
    assert "hit" not in status_of(r)


async def test_rfc9111_5_2_2_2_must_revalidate_forbids_max_stale(edge: Any) -> None:
    path = q(cc="max-age=10, must-revalidate")
    await fetch(edge, path)
    edge.clock.advance(20)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-stale=100"})
    assert "hit" not in status_of(r)


async def test_rfc9111_5_2_1_7_only_if_cached(edge: Any) -> None:
    path = q(cc="max-age=60")
    r, _ = await fetch(edge, path, headers={"Cache-Control": "only-if-cached"})
    assert r.status == 504
    assert await edge.origin_count(path) == 0
    await fetch(edge, path)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "only-if-cached"})
    assert r.status == 200 and status_of(r)["hit"] is True


async def test_rfc9111_5_2_2_4_no_cache_response_revalidates_every_time(edge: Any) -> None:
    path = q(cc="no-cache", etag="n1")
    await fetch(edge, path)
    r, _ = await fetch(edge, path)
    assert status_of(r)["fwd-status"] == 304
    assert await edge.origin_count(path) == 2


async def test_rfc8246_immutable_ignores_request_max_age_zero(edge: Any) -> None:
    path = "/static/logo.png"
    await fetch(edge, path)
    r, _ = await fetch(edge, path, headers={"Cache-Control": "max-age=0"})
    assert status_of(r)["hit"] is True
    assert await edge.origin_count(path) == 1


async def test_rfc5861_3_stale_while_revalidate_serves_stale_then_refreshes(edge: Any) -> None:
    path = "/api/items"
    r1, b1 = await fetch(edge, path)
    edge.clock.advance(5)  # max-age=2, stale-while-revalidate=30
    r2, b2 = await fetch(edge, path)
    st = status_of(r2)  # RFC 9211: a hit (not forwarded); ttl < 0 says it is stale
    assert st["hit"] is True and st["ttl"] < 0 and st["detail"] == "stale-while-revalidate"
    assert b2 == b1
    await edge.settle()
    assert await edge.origin_count(path) == 2
    r3, _ = await fetch(edge, path)
    assert status_of(r3)["hit"] is True


async def test_rfc5861_3_only_one_background_revalidation_per_key(edge: Any) -> None:
    path = q(cc="max-age=1, stale-while-revalidate=60", delay="0.2")
    await fetch(edge, path)
    edge.clock.advance(3)
    results = await asyncio.gather(*(fetch(edge, path) for _ in range(20)))
    assert all(status_of(r)["detail"] == "stale-while-revalidate" for r, _ in results)
    await edge.settle()
    assert await edge.origin_count(path) == 2


async def test_rfc5861_4_stale_if_error_on_5xx_and_refused(make_edge: Any) -> None:
    edge = await make_edge(NO_GRACE)  # the response's own window, without the node's grace
    path = "/api/report"  # max-age=2, stale-if-error=300
    _, b1 = await fetch(edge, path)
    await edge.origin_post("/__origin/down")
    edge.clock.advance(100)
    r, b = await fetch(edge, path)
    assert r.status == 200 and b == b1
    st = status_of(r)
    assert st["detail"] == "stale-if-error" and st["fwd-status"] == 503
    edge.clock.advance(300)  # beyond the stale-if-error window
    r, _ = await fetch(edge, path)
    assert r.status == 503


async def test_rfc5861_4_stale_if_error_request_directive(make_edge: Any) -> None:
    edge = await make_edge(NO_GRACE)  # the request's own window, without the node's grace
    path = q(cc="max-age=10")
    _, b1 = await fetch(edge, path)
    await edge.origin_post("/__origin/down?mode=reset")
    edge.clock.advance(30)
    r, b = await fetch(edge, path, headers={"Cache-Control": "stale-if-error=60"})
    assert r.status == 200 and b == b1
    r, _ = await fetch(edge, path)
    assert r.status == 502


async def test_rfc9213_cdn_cache_control_takes_precedence(edge: Any) -> None:
    path = q(cc="no-store", cdn_cc="max-age=60")
    await fetch(edge, path)
    r, _ = await fetch(edge, path)
    assert status_of(r)["hit"] is True
    assert r.headers["CDN-Cache-Control"] == "max-age=60"  # forwarded downstream
    assert r.headers["Cache-Control"] == "no-store"


async def test_rfc9213_own_targeted_field_wins_and_is_not_forwarded(edge: Any) -> None:
    path = q(cc="max-age=600", cdn_cc="max-age=600", edge_cc="no-store")
    r1, _ = await fetch(edge, path)
    assert "Edge-Cache-Control" not in r1.headers
    r2, _ = await fetch(edge, path)
    assert "hit" not in status_of(r2)


async def test_surrogate_control_max_age(edge: Any) -> None:
    path = q(cc="max-age=0", surrogate_control="max-age=60")
    await fetch(edge, path)
    r, _ = await fetch(edge, path)
    assert status_of(r)["hit"] is True


async def test_rfc9111_4_1_vary_keeps_variants_apart(edge: Any) -> None:
    en, _ = await fetch(edge, "/vary/lang", headers={"Accept-Language": "en"})
    fr, fr_body = await fetch(edge, "/vary/lang", headers={"Accept-Language": "fr"})
    assert status_of(fr)["fwd"] == "vary-miss"
    fr2, fr2_body = await fetch(edge, "/vary/lang", headers={"Accept-Language": "FR"})
    assert status_of(fr2)["hit"] is True and fr2_body == fr_body
    en2, _ = await fetch(edge, "/vary/lang", headers={"Accept-Language": "en"})
    assert status_of(en2)["hit"] is True


async def test_rfc9111_4_1_accept_encoding_is_normalised(edge: Any) -> None:
    r1, gz = await fetch(edge, "/vary/encoding", headers={"Accept-Encoding": "gzip, br"})
    assert r1.headers["Content-Encoding"] == "gzip"
    r2, gz2 = await fetch(edge, "/vary/encoding", headers={"Accept-Encoding": "br,gzip"})
    assert status_of(r2)["hit"] is True and gz2 == gz
    r3, plain = await fetch(edge, "/vary/encoding", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in r3.headers and plain != gz


async def test_rfc9110_13_client_conditionals_answered_from_cache(edge: Any) -> None:
    path = "/static/site.css"
    r, _ = await fetch(edge, path)
    etag, lm = r.headers["ETag"], r.headers["Last-Modified"]
    r, body = await fetch(edge, path, headers={"If-None-Match": f'W/{etag}, "other"'})
    assert r.status == 304 and body == b"" and r.headers["ETag"] == etag
    r, _ = await fetch(edge, path, headers={"If-Modified-Since": lm})
    assert r.status == 304
    r, _ = await fetch(edge, path, headers={"If-None-Match": '"nope"', "If-Modified-Since": lm})
    assert r.status == 200  # If-None-Match takes precedence
    r, _ = await fetch(edge, path, headers={"If-Match": '"nope"'})
    assert r.status == 412
    assert await edge.origin_count(path) == 1


async def test_rfc9111_4_4_unsafe_method_invalidates(edge: Any) -> None:
    await fetch(edge, "/res/doc")  # 404 not stored… create it first
    await edge.client.put("/res/doc", data=b"one")
    _, b1 = await fetch(edge, "/res/doc")
    r, _ = await fetch(edge, "/res/doc")
    assert status_of(r)["hit"] is True
    await edge.client.put("/res/doc", data=b"two")
    r, b2 = await fetch(edge, "/res/doc")
    assert "hit" not in status_of(r) and b2 == b"two" and b1 == b"one"


async def test_rfc9111_4_4_location_of_same_origin_is_invalidated(edge: Any) -> None:
    await edge.client.put("/res/other", data=b"v1")
    await fetch(edge, "/res/other")
    await edge.client.post("/res/new?location=/res/other", data=b"x")
    r, _ = await fetch(edge, "/res/other")
    assert "hit" not in status_of(r)


async def test_rfc9211_cache_status_is_a_valid_list_on_every_response(edge: Any) -> None:
    for path in ("/", "/", "/private", "/fault/500", "/echo", "/nothing-here"):
        r, _ = await fetch(edge, path)
        members = http_sf.parse(r.headers["Cache-Status"].encode(), tltype="list")
        assert str(members[-1][0]) == "edge"


async def test_collapsing_100_concurrent_misses_make_one_origin_request(edge: Any) -> None:
    path = q(cc="max-age=60", delay="0.3", size="100000")
    results = await asyncio.gather(*(fetch(edge, path) for _ in range(100)))
    bodies = {b for _, b in results}
    assert len(bodies) == 1 and len(next(iter(bodies))) == 100000
    assert await edge.origin_count(path) == 1
    # joined while the response was outstanding, or reused from its spool once it had arrived
    shared = sum(
        1
        for r, _ in results
        if status_of(r).get("collapsed") is True or status_of(r).get("detail") == "spool"
    )
    assert shared == 99


async def test_uncacheable_responses_release_waiters_and_become_hit_for_miss(edge: Any) -> None:
    path = q(cc="private", delay="0.2")
    results = await asyncio.gather(*(fetch(edge, path) for _ in range(10)))
    assert all(r.status == 200 for r, _ in results)
    assert await edge.origin_count(path) == 10  # nobody got another client's private answer
    served = {b for _, b in results}
    assert len(served) == 10


async def test_head_is_answered_from_a_stored_get(edge: Any) -> None:
    await fetch(edge, "/static/a.txt")
    r = await edge.client.head("/static/a.txt")
    assert status_of(r)["hit"] is True
    assert int(r.headers["Content-Length"]) > 0


async def test_vary_variants_are_bounded_per_url(make_edge: Any) -> None:
    from dataclasses import replace

    from edge.config import Config

    base = Config()
    edge = await make_edge(replace(base, cache=replace(base.cache, max_variants=3)))
    for lang in ("a", "b", "c", "d", "e"):
        await fetch(edge, "/vary/lang", headers={"Accept-Language": lang})
    key = edge.node.engine.key_for("http", f"127.0.0.1:{edge.client.port}", "/vary/lang")
    kept = await edge.node.store.variants(key)
    assert len(kept) == 3
    r, _ = await fetch(edge, "/vary/lang", headers={"Accept-Language": "e"})
    assert status_of(r)["hit"] is True
    r, _ = await fetch(edge, "/vary/lang", headers={"Accept-Language": "a"})
    assert status_of(r)["fwd"] == "vary-miss"
