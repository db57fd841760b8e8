"""Each kind of purge through the running proxy: a hit before, a miss after, others untouched."""

from __future__ import annotations

from urllib.parse import quote

from tests.admin.conftest import TOKEN, Rig, is_hit

CC = quote("max-age=100")


def script(n: int, **params: str) -> str:
    extra = "".join(f"&{k}={quote(v)}" for k, v in params.items())
    return f"/script?n={n}&cc={CC}{extra}"


async def warm(rig: Rig, *paths: str) -> None:
    """Fetch each path twice; the second must be a hit."""
    for path in paths:
        await rig.get(path)
        body, status = await rig.get(path)
        assert is_hit(status), (path, status)
        assert "serve=" in body


async def assert_hit(rig: Rig, path: str) -> None:
    body, status = await rig.get(path)
    assert is_hit(status), (path, status)
    assert "serve=1" in body


async def assert_refetched(rig: Rig, path: str) -> None:
    body, status = await rig.get(path)
    assert not is_hit(status), (path, status)
    assert "serve=2" in body, body


async def test_purge_by_path(rig: Rig) -> None:
    a, b = script(1), script(2)
    await warm(rig, a, b)
    answer = await rig.purge(urls=[a])
    assert answer == {"purged": 1, "soft": False, "nodes": {"edge-a": True}}
    await assert_refetched(rig, a)
    await assert_hit(rig, b)


async def test_purge_by_absolute_url_removes_every_variant(rig: Rig) -> None:
    path = "/vary/lang"
    for lang in ("en", "fr"):
        await rig.get(path, headers={"Accept-Language": lang})
        _, status = await rig.get(path, headers={"Accept-Language": lang})
        assert is_hit(status)
    url = str(rig.proxy.make_url(path))
    answer = await rig.purge(urls=[url])
    assert answer["purged"] == 2
    for lang in ("en", "fr"):
        _, status = await rig.get(path, headers={"Accept-Language": lang})
        assert not is_hit(status)


async def test_purge_of_another_host_purges_nothing(rig: Rig) -> None:
    a = script(1)
    await warm(rig, a)
    answer = await rig.purge(urls=[f"http://elsewhere.example{a}"])
    assert answer["purged"] == 0
    await assert_hit(rig, a)


async def test_purge_by_prefix(rig: Rig) -> None:
    inside = ["/static/a/1.css", "/static/a/2.css", "/static/a/deep/3.js"]
    outside = ["/static/b/1.css", "/static/ab.css"]
    for path in inside + outside:
        await rig.get(path)
        _, status = await rig.get(path)
        assert is_hit(status)
    answer = await rig.purge(prefixes=["/static/a/"])
    assert answer["purged"] == 3
    for path in inside:
        _, status = await rig.get(path)
        assert not is_hit(status), path
    for path in outside:
        _, status = await rig.get(path)
        assert is_hit(status), path


async def test_purge_by_absolute_prefix(rig: Rig) -> None:
    await rig.get("/static/a/1.css")
    prefix = str(rig.proxy.make_url("/static/"))
    assert (await rig.purge(prefixes=[prefix]))["purged"] == 1
    assert (await rig.purge(prefixes=["http://elsewhere.example/static/"]))["purged"] == 0


async def test_tags_that_are_prefixes_of_each_other(rig: Rig) -> None:
    a = script(1, surrogate_key="a")
    ab = script(2, surrogate_key="ab")
    ba = script(3, surrogate_key="b a")
    await warm(rig, a, ab, ba)
    answer = await rig.purge(tags=["a"])
    assert answer["purged"] == 2
    await assert_refetched(rig, a)
    await assert_refetched(rig, ba)
    await assert_hit(rig, ab)


async def test_each_tag_header(rig: Rig) -> None:
    sk = script(1, surrogate_key="x one")
    ct = script(2, cache_tag="two, x")
    cg = script(3, cache_groups='"three", "x"')
    other = script(4, cache_groups='"xx"')
    await warm(rig, sk, ct, cg, other)
    for tag, path in (("one", sk), ("two", ct), ("three", cg)):
        assert (await rig.purge(tags=[tag]))["purged"] == 1
        await assert_refetched(rig, path)
    await warm(rig, sk, ct, cg)  # serve=2 stored now: purge them all by the shared tag
    assert (await rig.purge(tags=["x"]))["purged"] == 3
    await assert_hit(rig, other)


async def test_purge_everything(rig: Rig) -> None:
    paths = [script(1), script(2), "/static/a.css"]
    for p in paths:
        await rig.get(p)
    assert (await rig.purge(all=True))["purged"] == 3
    for p in paths:
        _, status = await rig.get(p)
        assert not is_hit(status)
    assert len(rig.index) == 3  # stored again by the misses


async def test_purge_method_on_proxy_port(rig: Rig) -> None:
    a, b = script(1), script(2)
    await warm(rig, a, b)
    async with rig.proxy.request("PURGE", a) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    await assert_hit(rig, a)
    async with rig.proxy.request("PURGE", a, headers={"X-Purge-Token": TOKEN}) as r:
        assert r.status == 200
        assert (await r.json())["purged"] == 1
    await assert_refetched(rig, a)
    await assert_hit(rig, b)


async def test_cache_group_invalidation_same_origin(rig: Rig) -> None:
    g1 = script(1, cache_groups='"g1"')
    g12 = script(2, cache_groups='"g1", "g2"')
    g3 = script(3, cache_groups='"g3"')
    await warm(rig, g1, g12, g3)
    async with rig.proxy.post("/groups/post?groups=" + quote('"g1"')) as r:
        assert r.status == 200
    await assert_refetched(rig, g1)
    await assert_refetched(rig, g12)
    await assert_hit(rig, g3)


async def test_group_invalidation_ignores_other_origins(rig: Rig) -> None:
    g1 = script(1, cache_groups='"g1"')
    await warm(rig, g1)
    assert await rig.invalidator.invalidate_groups(["g1"], origin="http://other.example") == 0
    await assert_hit(rig, g1)
    origin = f"http://{rig.proxy.make_url('/').raw_authority}"
    assert await rig.invalidator.invalidate_groups(["g1"], origin=origin) == 1
