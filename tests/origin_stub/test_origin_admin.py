"""Stats and reset, stored resources, streamed uploads and the echo route."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from origin_stub.__main__ import parse_listen
from origin_stub.app import make_app

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(make_app())


async def test_stats_count_and_reset(client: Client) -> None:
    await client.get("/script?a=1", headers={"X-Probe": "one"})
    await client.get("/script?a=1", headers={"X-Probe": "two"})
    await client.get("/private")
    stats = await (await client.get("/__origin/stats")).json()
    assert stats["counts"] == {"/script?a=1": 2, "/private": 1}
    assert stats["last_headers"]["/script?a=1"]["X-Probe"] == "two"

    assert (await client.post("/__origin/reset")).status == 200
    stats = await (await client.get("/__origin/stats")).json()
    assert stats == {"counts": {}, "last_headers": {}}
    assert (await (await client.get("/api/a")).json())["served"] == 1


async def test_resource_lifecycle(client: Client) -> None:
    assert (await client.get("/res/doc")).status == 404
    created = await client.put("/res/doc?location=/res/doc", data=b"v1")
    assert created.status == 201
    assert created.headers["Location"] == "/res/doc"
    got = await client.get("/res/doc")
    assert got.headers["Cache-Control"] == "max-age=300"
    assert await got.read() == b"v1"
    etag = got.headers["ETag"]
    assert (await client.get("/res/doc", headers={"If-None-Match": etag})).status == 304

    replaced = await client.put("/res/doc", data=b"v2")
    assert replaced.status == 204
    posted = await client.post("/res/doc?content_location=/res/doc", data=b"v3")
    assert posted.status == 200
    assert posted.headers["Content-Location"] == "/res/doc"
    latest = await client.get("/res/doc")
    assert await latest.read() == b"v3"
    assert latest.headers["ETag"] != etag

    assert (await client.delete("/res/doc")).status == 204
    assert (await client.get("/res/doc")).status == 404
    assert (await client.delete("/res/doc")).status == 404


async def test_upload_hashes_a_streamed_body(client: Client) -> None:
    block = bytes(range(256)) * 4096  # 1 MiB

    async def body() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield block

    resp = await client.post("/upload", data=body())
    assert await resp.json() == {
        "bytes": 5 * len(block),
        "sha256": hashlib.sha256(block * 5).hexdigest(),
    }


async def test_echo_reports_request(client: Client) -> None:
    resp = await client.request(
        "PATCH", "/echo?x=1&y=2", headers={"Via": "1.1 edge", "X-Forwarded-For": "10.0.0.1"}
    )
    assert resp.headers["Cache-Control"] == "no-store"
    echoed = await resp.json()
    assert echoed["method"] == "PATCH"
    assert echoed["path"] == "/echo"
    assert echoed["query"] == "x=1&y=2"
    assert echoed["headers"]["Via"] == "1.1 edge"
    assert ["X-Forwarded-For", "10.0.0.1"] in echoed["raw_headers"]
    assert "Host" in echoed["headers"]


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8081") == ("127.0.0.1", 8081)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_listen("nonsense")
