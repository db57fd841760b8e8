"""The admin API as a contract: auth on every documented operation, bad input, the CLI."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.cli import main
from edge.config import AdminConfig, Config, HostPort
from edge.errors import ConfigError
from edge.web.admin import OPERATIONS
from edge.web.auth import check_admin_exposure
from tests.admin.conftest import TOKEN, Rig, is_hit


async def document(rig: Rig) -> dict[str, Any]:
    async with rig.admin.get("/openapi.json", headers=rig.auth) as r:
        assert r.status == 200
        doc: dict[str, Any] = await r.json()
    return doc


async def test_openapi_matches_the_routes(rig: Rig) -> None:
    doc = await document(rig)
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = {
        (r.method, r.resource.canonical)
        for r in rig.admin.app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    assert documented == routed == {(op.method, op.path) for op in OPERATIONS}


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}"])
async def test_every_protected_operation_refuses_without_the_token(
    rig: Rig, header: str | None
) -> None:
    doc = await document(rig)
    protected = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            headers = {"Authorization": header} if header else {}
            async with rig.admin.request(method, path, headers=headers, json={}) as r:
                if op["security"]:
                    protected += 1
                    assert r.status == 401, (method, path)
                    assert r.headers["WWW-Authenticate"] == 'Bearer realm="edge-admin"'
                else:
                    assert r.status == 200, (method, path)
    assert protected == sum(1 for op in OPERATIONS if op.auth)


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/purge", b"{not json", 400, "not valid JSON"),
        ("/purge", b"", 400, "empty"),
        ("/purge", b"[]", 400, "Expected `object`"),
        ("/purge", b'{"urls": ["/a"], "bogus": 1}', 400, "unknown field `bogus`"),
        ("/purge", b'{"urls": "/a"}', 400, "$.urls"),
        ("/purge", b'{"urls": [1]}', 400, "$.urls[0]"),
        ("/purge", b'{"all": "yes"}', 400, "$.all"),
        ("/purge", b"{}", 400, "nothing to purge"),
        ("/purge", b'{"urls": [], "soft": true}', 400, "nothing to purge"),
        ("/purge", b'{"urls": ["ftp://x/y"]}', 400, "http(s) URL"),
        ("/purge", b'{"urls": ["relative/path"]}', 400, "relative/path"),
        ("/purge", b'{"tags": [""]}', 400, "$.tags[0]"),
        ("/versions", b'{"prefix": "static/"}', 400, "$.prefix"),
        ("/versions", b'{"prefix": "/a?b"}', 400, "$.prefix"),
        ("/versions", b'{"prefix": 3}', 400, "$.prefix"),
        ("/versions", b"{}", 400, "prefix"),
    ],
)
async def test_bad_input_is_400_naming_the_problem(
    rig: Rig, path: str, body: bytes, status: int, words: str
) -> None:
    async with rig.admin.post(path, data=body, headers=rig.auth) as r:
        assert r.status == status
        assert words in (await r.json())["error"]


async def test_bad_purge_purges_nothing(rig: Rig) -> None:
    await rig.get("/static/a.css")
    body = {"urls": ["/static/a.css", "gopher://x/"]}
    async with rig.admin.post("/purge", json=body, headers=rig.auth) as r:
        assert r.status == 400
    _, status = await rig.get("/static/a.css")
    assert is_hit(status)


async def test_body_over_one_mib_is_413(rig: Rig) -> None:
    body = json.dumps({"tags": ["x" * 1000] * 1100}).encode()
    async with rig.admin.post("/purge", data=body, headers=rig.auth) as r:
        assert r.status == 413

    async def chunks() -> Any:
        for _ in range(1100):
            yield b" " * 1024

    async with rig.admin.post("/purge", data=chunks(), headers=rig.auth) as r:
        assert r.status == 413


async def test_entries_stats_metrics(rig: Rig) -> None:
    for p in ("/static/a/1.css", "/static/a/2.css", "/static/b/3.css"):
        await rig.get(p)
    await rig.get("/static/a/1.css")
    async with rig.admin.get("/entries?prefix=/static/a/&limit=1", headers=rig.auth) as r:
        answer = await r.json()
    assert answer["truncated"] is True
    (e,) = answer["entries"]
    assert e["url"].endswith("/static/a/1.css") and e["size"] > 0 and e["ttl"] > 0
    async with rig.admin.get("/entries", headers=rig.auth) as r:
        assert len((await r.json())["entries"]) == 3
    for bad in ("0", "1001", "x"):
        async with rig.admin.get(f"/entries?limit={bad}", headers=rig.auth) as r:
            assert r.status == 400
    async with rig.admin.get("/stats", headers=rig.auth) as r:
        stats = await r.json()
    assert stats["hits"] == 1 and stats["misses"] == 3 and stats["hit_ratio"] == 0.25
    async with rig.admin.get("/metrics", headers=rig.auth) as r:
        text = await r.text()
    assert r.content_type == "text/plain"
    assert "edge_cache_hits_total 1.0" in text
    assert "edge_cache_hit_ratio 0.25" in text


async def test_healthz_is_open(rig: Rig) -> None:
    async with rig.admin.get("/healthz") as r:
        assert r.status == 200
        assert (await r.json())["name"] == "edge-a"


def test_refuses_exposed_admin_with_generated_token() -> None:
    exposed = Config(admin=AdminConfig(listen=HostPort("0.0.0.0", 8090)))
    with pytest.raises(ConfigError, match="admin.listen.*loopback.*admin.token"):
        check_admin_exposure(exposed, token_was_generated=True)
    check_admin_exposure(exposed, token_was_generated=False)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        local = Config(admin=AdminConfig(listen=HostPort(host, 8090)))
        check_admin_exposure(local, token_was_generated=True)


# -- over a real socket: random bodies, and the CLI --------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(["urls", "prefixes", "tags", "all", "soft", "local", "prefix", "x"])
_bodies = (
    _json
    | st.dictionaries(_keys, _json, max_size=5)
    | st.dictionaries(_keys, st.lists(st.text(max_size=30), max_size=3), max_size=3)
)


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


async def test_random_bodies_never_5xx(rig: Rig) -> None:
    await rig.get("/static/a.css")
    base = str(rig.admin.make_url("")).rstrip("/")

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(["/purge", "/versions"]), body=_bodies)
    def run(path: str, body: object) -> None:
        status = _post(base + path, json.dumps(body).encode())
        assert status < 500, (path, body, status)

    await asyncio.to_thread(run)


async def test_cli_purge_and_version_bump(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    await rig.get("/static/x.css")
    admin = str(rig.admin.make_url("")).rstrip("/")
    code = await asyncio.to_thread(
        main, ["purge", "--admin", admin, "--token", TOKEN, "--url", "/static/x.css"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "purged 1 object" in out and "edge-a: applied" in out
    _, status = await rig.get("/static/x.css")
    assert not is_hit(status)
    code = await asyncio.to_thread(
        main, ["version-bump", "--admin", admin, "--token", TOKEN, "/static/"]
    )
    assert code == 0
    assert "/static/ → version 1" in capsys.readouterr().out
    _, status = await rig.get("/static/x.css")
    assert not is_hit(status)
    code = await asyncio.to_thread(
        main, ["purge", "--admin", admin, "--token", "wrong-token-0123456789", "--all"]
    )
    assert code == 1
    assert "401" in capsys.readouterr().err
