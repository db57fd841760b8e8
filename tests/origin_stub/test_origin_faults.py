"""Faults and the down switch: each fails the way the edge must survive."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from origin_stub.app import make_app

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(make_app())


@pytest.mark.parametrize("status", [500, 503, 502])
async def test_fault_status(client: Client, status: int) -> None:
    resp = await client.get(f"/fault/{status}")
    assert resp.status == status
    assert resp.headers["Cache-Control"] == "max-age=0"
    assert f"fault {status}" in await resp.text()


async def test_reset_is_a_client_error(client: Client) -> None:
    with pytest.raises(aiohttp.ClientError):
        await client.get("/fault/reset")
    assert (await client.get("/")).status == 200


async def test_truncate_is_a_payload_error(client: Client) -> None:
    resp = await client.get("/fault/truncate")
    assert resp.headers["Content-Length"] == "1000"
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_hang_never_sends_headers(client: Client) -> None:
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):
        await client.get("/fault/hang", timeout=timeout)


async def test_hang_body_stalls_after_headers(client: Client) -> None:
    resp = await client.get("/fault/hang-body")
    assert resp.status == 200
    first = await resp.content.readexactly(1000)
    assert first.startswith(b"." * 63 + b"\n")
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.2):
            await resp.read()
    resp.close()


async def test_slow_with_zero_delay(client: Client) -> None:
    resp = await client.get("/fault/slow?delay=0")
    assert resp.status == 200
    assert await resp.text() == "slow serve=1\n"


async def test_down_switch_503_then_up(client: Client) -> None:
    assert (await client.post("/__origin/down")).status == 200
    down = await client.get("/api/x")
    assert down.status == 503
    assert await down.text() == "Service Unavailable\n"
    assert (await client.get("/__origin/stats")).status == 200
    assert (await client.post("/__origin/up")).status == 200
    assert (await client.get("/api/x")).status == 200


async def test_down_switch_reset_mode(client: Client) -> None:
    assert (await client.post("/__origin/down?mode=reset")).status == 200
    with pytest.raises(aiohttp.ClientError):
        await client.get("/")
    await client.post("/__origin/up")
    assert (await client.get("/")).status == 200
    assert (await client.post("/__origin/down?mode=flaky")).status == 400
