"""``/script``: headers, dates, conditionals and bodies from the query string."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import MultiDict
from pytest_aiohttp import AiohttpClient

from origin_stub.app import make_app
from origin_stub.httpdate import format_http_date

NOW = 1_800_000_000.0
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(make_app(clock=lambda: NOW))


async def test_scripted_headers(client: Client) -> None:
    params = MultiDict(
        [
            ("cc", "max-age=10"),
            ("cdn_cc", "max-age=20"),
            ("edge_cc", "max-age=30"),
            ("surrogate_control", "max-age=40"),
            ("age", "5"),
            ("vary", "Accept"),
            ("surrogate_key", "a b"),
            ("cache_tag", "t1,t2"),
            ("cache_groups", '"g1"'),
            ("set_cookie", "a=1"),
            ("set_cookie", "b=2"),
            ("content_type", "application/x-test"),
            ("location", "/elsewhere"),
            ("content_location", "/here"),
            ("hdr", "X-One: 1"),
            ("hdr", "X-Two:2"),
            ("unknown", "ignored"),
            ("status", "203"),
        ]
    )
    resp = await client.get("/script", params=params)
    assert resp.status == 203
    expected = {
        "Cache-Control": "max-age=10",
        "CDN-Cache-Control": "max-age=20",
        "Edge-Cache-Control": "max-age=30",
        "Surrogate-Control": "max-age=40",
        "Age": "5",
        "Vary": "Accept",
        "Surrogate-Key": "a b",
        "Cache-Tag": "t1,t2",
        "Cache-Groups": '"g1"',
        "Content-Type": "application/x-test",
        "Location": "/elsewhere",
        "Content-Location": "/here",
        "X-One": "1",
        "X-Two": "2",
        "Date": format_http_date(NOW),
    }
    assert {name: resp.headers[name] for name in expected} == expected
    assert resp.headers.getall("Set-Cookie") == ["a=1", "b=2"]
    assert "unknown" not in {k.lower() for k in resp.headers}


async def test_relative_and_literal_dates(client: Client) -> None:
    resp = await client.get("/script?last_modified=3600&expires=-60")
    assert resp.headers["Last-Modified"] == format_http_date(NOW - 3600)
    assert resp.headers["Expires"] == format_http_date(NOW + 60)
    literal = await client.get("/script", params={"expires": "0x", "last_modified": "garbage"})
    assert literal.headers["Expires"] == "0x"
    assert literal.headers["Last-Modified"] == "garbage"


async def test_default_body_identifies_request_and_serve(client: Client) -> None:
    first = await (await client.get("/script?cc=max-age%3D1")).text()
    second = await (await client.get("/script?cc=max-age%3D1")).text()
    assert first == "script /script?cc=max-age%3D1 serve=1\n"
    assert second.endswith("serve=2\n")


@pytest.mark.parametrize("size", [0, 5, 70_000])
async def test_size_pads_or_truncates(client: Client, size: int) -> None:
    resp = await client.get("/script", params={"body": "hello world", "size": str(size)})
    body = await resp.read()
    assert len(body) == size
    assert resp.headers["Content-Length"] == str(size)
    assert body[:11] == b"hello world"[:size]


async def test_chunked_has_no_content_length(client: Client) -> None:
    resp = await client.get("/script?chunked=1&size=100000")
    assert "Content-Length" not in resp.headers
    assert len(await resp.read()) == 100_000


async def test_etag_conditional_returns_304_with_validators(client: Client) -> None:
    params = {"etag": "v1", "cc": "max-age=60", "vary": "Accept"}
    resp = await client.get("/script", params=params)
    assert resp.headers["ETag"] == '"v1"'
    again = await client.get("/script", params=params, headers={"If-None-Match": 'W/"v1", "x"'})
    assert again.status == 304
    assert again.headers["ETag"] == '"v1"'
    assert again.headers["Cache-Control"] == "max-age=60"
    assert again.headers["Vary"] == "Accept"
    miss = await client.get("/script", params=params, headers={"If-None-Match": '"v2"'})
    assert miss.status == 200


async def test_last_modified_conditional(client: Client) -> None:
    params = {"last_modified": "100"}
    since = {"If-Modified-Since": format_http_date(NOW - 50)}
    assert (await client.get("/script", params=params, headers=since)).status == 304
    older = {"If-Modified-Since": format_http_date(NOW - 200)}
    assert (await client.get("/script", params=params, headers=older)).status == 200


async def test_head_and_bodiless_status(client: Client) -> None:
    head = await client.head("/script?size=123")
    assert head.status == 200
    assert head.headers["Content-Length"] == "123"
    no_content = await client.get("/script?status=204")
    assert no_content.status == 204
    assert await no_content.read() == b""


@pytest.mark.parametrize("query", ["status=abc", "status=99", "size=-1", "delay=x", "hdr=bad"])
async def test_bad_parameters_are_400(client: Client, query: str) -> None:
    assert (await client.get(f"/script?{query}")).status == 400
