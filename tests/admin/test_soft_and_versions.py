"""Soft purge (stale only where allowed) and versioned invalidation (and its persistence)."""

from __future__ import annotations

from urllib.parse import quote

from edge.invalidation.versions import VersionTable
from tests.admin.conftest import Rig, is_hit


def script(n: int, cc: str) -> str:
    return f"/script?n={n}&cc={quote(cc, safe=',')}"  # as yarl sends it


async def test_soft_purge_without_stale_permission_refetches(rig: Rig) -> None:
    path = script(1, "max-age=100")
    await rig.get(path)
    answer = await rig.purge(urls=[path], soft=True)
    assert answer == {"purged": 1, "soft": True, "nodes": {"edge-a": True}}
    body, status = await rig.get(path)
    assert not is_hit(status)
    assert "serve=2" in body


async def test_soft_purge_serves_stale_while_revalidating(rig: Rig) -> None:
    path = script(1, "max-age=100, stale-while-revalidate=60")
    await rig.get(path)
    await rig.purge(urls=[path], soft=True)
    body, status = await rig.get(path)
    assert "serve=1" in body  # the stale copy, while one revalidation runs
    assert "stale-while-revalidate" in status
    await rig.engine.fills.drain()
    body, status = await rig.get(path)
    assert is_hit(status) and "serve=2" in body


async def test_soft_purge_serves_stale_if_error_only(rig: Rig) -> None:
    allowed = script(1, "max-age=100, stale-if-error=300")
    # not "max-age=100" alone: cache.serve_stale_on_error (1 day) would serve that one too
    refused = script(2, "max-age=100, must-revalidate")
    await rig.get(allowed)
    await rig.get(refused)
    assert (await rig.purge(prefixes=["/script"], soft=True))["purged"] == 2
    await rig.origin_post("/__origin/down")
    async with rig.proxy.get(allowed) as r:
        assert r.status == 200
        assert "serve=1" in await r.text()
        assert "stale" in r.headers["Cache-Status"]
    async with rig.proxy.get(refused) as r:
        assert r.status >= 500


async def test_soft_purge_by_tag_and_all(rig: Rig) -> None:
    tagged = f"{script(1, 'max-age=100')}&surrogate_key=t"
    plain = script(2, "max-age=100")
    await rig.get(tagged)
    await rig.get(plain)
    assert (await rig.purge(tags=["t"], soft=True))["purged"] == 1
    _, status = await rig.get(plain)
    assert is_hit(status)
    assert (await rig.purge(all=True, soft=True))["purged"] == 2
    _, status = await rig.get(plain)
    assert not is_hit(status)


async def test_version_bump_misses_under_prefix_only(rig: Rig) -> None:
    under = ["/static/app/a.js", "/static/app/b.css"]
    beside = ["/static/lib/c.js", "/static/application.js"]
    for p in under + beside:
        await rig.get(p)
        _, status = await rig.get(p)
        assert is_hit(status)
    async with rig.admin.post("/versions", json={"prefix": "/static/app/"}, headers=rig.auth) as r:
        assert r.status == 200
        assert await r.json() == {"prefix": "/static/app/", "version": 1, "nodes": {"edge-a": True}}
    for p in under:
        _, status = await rig.get(p)
        assert not is_hit(status), p
        _, status = await rig.get(p)
        assert is_hit(status), p  # stored again under the new version
    for p in beside:
        _, status = await rig.get(p)
        assert is_hit(status), p
    async with rig.admin.get("/versions", headers=rig.auth) as r:
        assert await r.json() == {"versions": {"/static/app/": 1}}


async def test_query_busting_still_works(rig: Rig) -> None:
    _, s1 = await rig.get("/static/app.js?v=1")
    _, s2 = await rig.get("/static/app.js?v=2")
    assert not is_hit(s1) and not is_hit(s2)


async def test_versions_survive_restart(rig: Rig) -> None:
    await rig.versions.bump("/a/")
    await rig.versions.bump("/a/")
    await rig.versions.bump("/a/b/")
    again = VersionTable.load(str(rig.cache_dir / "versions.json"))
    assert again.snapshot() == {"/a/": 2, "/a/b/": 1}
    assert again.version_for("/a/b/c") == 1
    assert again.version_for("/a/x") == 2
    assert again.version_for("/b") == 0


def test_longest_prefix_wins() -> None:
    table = VersionTable(None, {"/": 7, "/s/": 3, "/s/img/": 9, "/sx": 4})
    assert table.version_for("/s/img/a.png") == 9
    assert table.version_for("/s/a.css") == 3
    assert table.version_for("/sxy") == 4
    assert table.version_for("/other") == 7
    assert VersionTable(None).version_for("/anything") == 0


async def test_apply_takes_the_larger_version(tmp_path: object) -> None:
    table = VersionTable(None, {"/a/": 5})
    assert await table.apply("/a/", 3) == 5
    assert await table.apply("/a/", 8) == 8
    assert await table.apply("/b/", 1) == 1
    assert table.version_for("/b/x") == 1
