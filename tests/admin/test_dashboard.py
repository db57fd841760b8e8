"""The dashboard's page, its headers and its two endpoints (/top, /cluster), in-process on
both proxy fronts (the http1 front counts its own fast hits); the browser test drives it."""

from __future__ import annotations

import pytest

from edge.runtime.topkeys import KeyCount, TopKeys, merge
from tests.admin.conftest import Rig, is_hit


async def test_the_page_and_its_assets_need_no_token_and_carry_strict_headers(rig: Rig) -> None:
    async with rig.admin.get("/") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        page = await r.text()
        csp = r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert '<script src="dashboard.js" defer></script>' in page
    assert "<script>" not in page and "style=" not in page  # nothing inline for the CSP to allow
    for link in ('src="http', "src='http", 'href="http', "href='http", 'src="//', 'href="//'):
        assert link not in page  # no CDN, no other origin
    for path, kind in (("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")):
        async with rig.admin.get(path) as r:
            assert r.status == 200 and r.content_type == kind
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert len(await r.read()) > 1000


async def test_data_calls_need_the_token_and_are_never_cached(rig: Rig) -> None:
    for path in ("/stats", "/top", "/cluster", "/entries"):
        async with rig.admin.get(path) as r:
            assert r.status == 401, path
        async with rig.admin.get(path, headers=rig.auth) as r:
            assert r.status == 200, (path, await r.text())
            assert r.headers["Cache-Control"] == "no-store"
            assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_top_keys_rank_the_hits_and_the_bytes(rig: Rig) -> None:
    small, big = "/script?cc=max-age%3D600&size=100", "/script?cc=max-age%3D600&size=50000"
    await rig.get(small)
    for _ in range(3):
        assert is_hit((await rig.get(small))[1])
    await rig.get(big)
    assert is_hit((await rig.get(big))[1])
    async with rig.admin.get("/top?limit=5", headers=rig.auth) as r:
        assert r.status == 200
        top = await r.json()
    by_hits = [(row["url"].split("/", 3)[3], row["hits"]) for row in top["by_hits"]]
    by_bytes = [(row["url"].split("/", 3)[3], row["bytes"]) for row in top["by_bytes"]]
    assert by_hits == [(small[1:], 3), (big[1:], 1)]  # misses are not counted
    assert by_bytes == [(big[1:], 50000), (small[1:], 300)]
    assert top["tracked"] == 2 and top["workers"] == 1


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-1"])
async def test_top_refuses_a_bad_limit(rig: Rig, limit: str) -> None:
    async with rig.admin.get(f"/top?limit={limit}", headers=rig.auth) as r:
        assert r.status == 400
        assert "limit" in (await r.json())["error"]


async def test_a_standalone_node_lists_itself(rig: Rig) -> None:
    async with rig.admin.get("/cluster", headers=rig.auth) as r:
        answer = await r.json()
    assert answer["mode"] == "standalone" and answer["parents"] == []
    assert answer["nodes"] == [
        {"name": "edge-a", "this": True, "state": "standalone", "applied": None, "lag": None}
    ]


async def test_the_openapi_document_describes_the_dashboard(rig: Rig) -> None:
    async with rig.admin.get("/openapi.json", headers=rig.auth) as r:
        paths = (await r.json())["paths"]
    assert paths["/"]["get"]["security"] == []
    assert "text/html" in paths["/"]["get"]["responses"]["200"]["content"]
    for path in ("/top", "/cluster"):
        assert paths[path]["get"]["security"] == [{"bearer": []}]
        assert "401" in paths[path]["get"]["responses"]
    assert [p["name"] for p in paths["/top"]["get"]["parameters"]] == ["limit"]


def test_the_table_stays_bounded_and_keeps_what_is_hot() -> None:
    table = TopKeys(capacity=64)
    for i in range(5000):  # a scan of URLs seen once, and one URL asked all along
        table.record(f"/once/{i}", 1)
        if i % 4 == 0:
            table.record("/hot", 10)
        assert len(table) <= 64
    by_hits, by_bytes = table.top(1)
    assert by_hits[0].url == "/hot" and by_bytes[0].url == "/hot"
    assert table.aged > 0


def test_workers_tables_add_up() -> None:
    a = [KeyCount("/x", 2, 20), KeyCount("/y", 5, 5)]
    b = [KeyCount("/x", 4, 40)]
    by_hits, by_bytes = merge([a, b], 10)
    assert [(r.url, r.hits, r.bytes) for r in by_hits] == [("/x", 6, 60), ("/y", 5, 5)]
    assert by_bytes[0].url == "/x"
