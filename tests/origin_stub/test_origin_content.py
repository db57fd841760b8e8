"""Index, static assets, JSON API, privacy, Vary, big and streamed bodies."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from origin_stub.app import make_app
from origin_stub.bodies import modulo_chunks, padded_chunks, parse_size
from origin_stub.httpdate import format_http_date, parse_http_date

NOW = 1_800_000_000.0
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(make_app(clock=lambda: NOW))


async def test_index_lists_routes_and_date_comes_from_clock(client: Client) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "max-age=5"
    assert resp.headers["Date"] == format_http_date(NOW)
    assert resp.content_type == "text/html"
    text = await resp.text()
    for route in ("/static/", "/script", "/fault/reset", "/__origin/stats"):
        assert route in text


async def test_static_validators_and_conditionals(client: Client) -> None:
    resp = await client.get("/static/app.css")
    body = await resp.read()
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.content_type == "text/css"
    etag = resp.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert body == await (await client.get("/static/app.css")).read()
    assert parse_http_date(resp.headers["Last-Modified"]) == 1767225600.0

    not_modified = await client.get("/static/app.css", headers={"If-None-Match": f"W/{etag}"})
    assert not_modified.status == 304
    assert not_modified.headers["ETag"] == etag
    since = await client.get(
        "/static/app.css", headers={"If-Modified-Since": resp.headers["Last-Modified"]}
    )
    assert since.status == 304
    other = await client.get("/static/app.css", headers={"If-None-Match": '"nope"'})
    assert other.status == 200
    assert (await client.get("/static/x.js")).content_type == "text/javascript"


async def test_api_counts_serves_and_bumps_version(client: Client) -> None:
    first = await client.get("/api/items")
    assert first.headers["Cache-Control"] == (
        "max-age=2, stale-while-revalidate=30, stale-if-error=300"
    )
    assert (await first.json())["served"] == 1
    second = await client.get("/api/items")
    assert (await second.json())["served"] == 2
    etag = first.headers["ETag"]
    revalidated = await client.get("/api/items", headers={"If-None-Match": etag})
    assert revalidated.status == 304
    assert revalidated.headers["ETag"] == etag
    assert "max-age=2" in revalidated.headers["Cache-Control"]

    assert (await client.post("/api/items")).status == 200
    changed = await client.get("/api/items", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    assert (await changed.json())["version"] == 2


@pytest.mark.parametrize(
    ("path", "cache_control"),
    [("/private", "private, max-age=60"), ("/no-store", "no-store"), ("/cookie", "max-age=60")],
)
async def test_privacy_routes(client: Client, path: str, cache_control: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == cache_control
    assert ("Set-Cookie" in resp.headers) == (path == "/cookie")


async def test_vary_lang_uses_first_language(client: Client) -> None:
    resp = await client.get("/vary/lang", headers={"Accept-Language": "fr-CH, en;q=0.8"})
    assert resp.headers["Vary"] == "Accept-Language"
    assert (await resp.text()).startswith("Bonjour (fr-ch)")
    default = await client.get("/vary/lang")
    assert (await default.text()).startswith("Hello (en)")


async def test_vary_encoding_sends_real_gzip(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(make_app(), auto_decompress=False)
    plain = await client.get("/vary/encoding", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Vary"] == "Accept-Encoding"
    zipped = await client.get("/vary/encoding", headers={"Accept-Encoding": "br, gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await zipped.read()) == await plain.read()
    refused = await client.get("/vary/encoding", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


async def test_big_body_streams_exact_pattern(client: Client) -> None:
    size = 3 * 1024 * 1024 + 17
    resp = await client.get(f"/big/{size}")
    assert resp.headers["Content-Length"] == str(size)
    assert resp.headers["Cache-Control"] == "max-age=3600"
    digest = hashlib.sha256()
    offset = 0
    async for chunk in resp.content.iter_chunked(100_000):
        assert chunk[:1] == bytes([offset % 251])
        digest.update(chunk)
        offset += len(chunk)
    assert offset == size
    assert digest.hexdigest() == hashlib.sha256(bytes(i % 251 for i in range(size))).hexdigest()
    assert (await client.get("/big/2MiB")).headers["Content-Length"] == str(2 * 1024 * 1024)
    head = await client.head("/big/1GiB")
    assert head.headers["Content-Length"] == str(1024**3)
    assert (await client.get("/big/lots")).status == 404


async def test_stream_is_chunked(client: Client) -> None:
    resp = await client.get("/stream/5")
    assert "Content-Length" not in resp.headers
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert await resp.text() == "".join(f"chunk {i}\n" for i in range(5))


def test_body_helpers() -> None:
    assert parse_size("3KiB") == 3072
    assert parse_size("12") == 12
    assert parse_size("1.5MiB") is None
    assert b"".join(modulo_chunks(600, chunk=256)) == bytes(i % 251 for i in range(600))
    assert b"".join(padded_chunks(b"hello", 3)) == b"hel"
    padded = b"".join(padded_chunks(b"hello", 200_000))
    assert len(padded) == 200_000 and padded.startswith(b"hello.")
