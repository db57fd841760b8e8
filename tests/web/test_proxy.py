"""The proxy as a proxy: forwarding, header hygiene, streaming, error mapping, bad input."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from edge.config import Config, ProxyConfig, RouteConfig

pytestmark = pytest.mark.timeout(60)


async def test_forwards_method_path_and_query_unchanged(edge: Any) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        resp = await edge.client.request(method, "/echo?a=1&b=%20x&a=2")
        assert resp.status == 200, method
        seen = await resp.json()
        assert seen["method"] == method
        assert seen["raw_path"] == "/echo?a=1&b=%20x&a=2"


async def test_hop_by_hop_request_headers_are_removed(edge: Any) -> None:
    resp = await edge.get(
        "/echo",
        headers={
            "Connection": "keep-alive, X-Private-Hop",
            "X-Private-Hop": "secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "Proxy-Connection": "keep-alive",
            "Upgrade": "h2c",
            "X-End-To-End": "kept",
        },
    )
    seen = {k.lower(): v for k, v in (await resp.json())["headers"].items()}
    for gone in (
        "x-private-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
        "upgrade",
    ):
        assert gone not in seen, gone
    assert seen["x-end-to-end"] == "kept"


async def test_forwarding_headers_are_added(edge: Any) -> None:
    resp = await edge.get(
        "/echo", headers={"Host": "shop.example:8443", "X-Forwarded-For": "203.0.113.9"}
    )
    seen = {k.lower(): v for k, v in (await resp.json())["headers"].items()}
    assert seen["host"] == "shop.example:8443"  # the client's Host is kept by default
    # the client is not a trusted proxy: its X-Forwarded-For is replaced, not appended to
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == "shop.example:8443"
    assert seen["via"] == "1.1 edge"
    assert seen["cdn-loop"] == "edge"
    assert resp.headers["Via"] == "1.1 edge"


async def test_trusted_proxies_keep_their_forwarded_for(make_edge: Any) -> None:
    cfg = Config(proxy=ProxyConfig(trusted_proxies=("127.0.0.0/8",)))
    edge = await make_edge(cfg)
    headers = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
    resp = await edge.get("/echo", headers=headers)
    seen = {k.lower(): v for k, v in (await resp.json())["headers"].items()}
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["forwarded"] == "for=203.0.113.9"


async def test_origin_host_can_replace_client_host(make_edge: Any, origin: Any) -> None:
    edge = await make_edge(preserve_host=False)
    resp = await edge.get("/echo", headers={"Host": "shop.example"})
    seen = {k.lower(): v for k, v in (await resp.json())["headers"].items()}
    assert seen["host"] == f"127.0.0.1:{origin.port}"


async def test_hop_by_hop_response_headers_are_removed(edge: Any) -> None:
    query = "hdr=X-Hop%3A1&hdr=Connection%3AX-Hop&hdr=Keep-Alive%3Atimeout%3D9&hdr=X-Kept%3Ay"
    query += "&hdr=Proxy-Authenticate%3ABasic&hdr=Upgrade%3Afoo&cc=no-store"
    resp = await edge.get(f"/script?{query}")
    assert resp.status == 200
    for gone in ("X-Hop", "Keep-Alive", "Proxy-Authenticate", "Upgrade"):
        assert gone not in resp.headers, gone
    assert resp.headers["X-Kept"] == "y"
    assert resp.headers["Via"].endswith("1.1 edge")


async def test_cdn_loop_naming_this_node_is_refused(edge: Any) -> None:
    resp = await edge.get("/echo", headers={"CDN-Loop": "other, edge; v=1"})
    assert resp.status == 508
    assert await edge.origin_count("/echo") == 0


async def test_upload_streams_to_origin_intact(make_edge: Any) -> None:
    edge = await make_edge(Config(proxy=ProxyConfig(max_request_body=64 << 20)))
    size = 24 * 1024 * 1024
    digest = hashlib.sha256()

    async def gen() -> Any:
        block = os.urandom(64 * 1024)
        for _ in range(size // len(block)):
            digest.update(block)
            yield block

    resp = await edge.client.post("/upload", data=gen())
    assert resp.status == 200
    got = await resp.json()
    assert got == {"bytes": size, "sha256": digest.hexdigest()}


async def test_download_streams_with_exact_length(edge: Any) -> None:
    resp = await edge.get("/big/5MiB")
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(5 << 20)
    n, first = 0, b""
    async for chunk in resp.content.iter_chunked(1 << 16):
        if not first:
            first = chunk[:4]
        n += len(chunk)
    assert n == 5 << 20
    assert first == bytes([0, 1, 2, 3])


async def test_chunked_origin_body_passes_through(edge: Any) -> None:
    resp = await edge.get("/stream/50")
    body = await resp.text()
    assert body.count("chunk ") == 50


async def test_refused_origin_is_502(make_edge: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    edge = await make_edge(Config())
    edge.node.engine.origin.inner._key = ("http", "127.0.0.1", port)  # type: ignore[attr-defined]
    resp = await edge.get("/anything")
    assert resp.status == 502
    assert (await resp.text()).startswith("502 Bad Gateway\n")  # no word about the backend
    assert "Cache-Status" in resp.headers


async def test_connection_reset_is_502(edge: Any) -> None:
    resp = await edge.get("/fault/reset")
    assert resp.status == 502


async def test_first_byte_timeout_is_504(make_edge: Any) -> None:
    edge = await make_edge(first_byte_timeout=0.3)
    resp = await edge.get("/fault/hang")
    assert resp.status == 504
    assert "time" in (await resp.text()).lower()


async def test_truncated_body_breaks_the_client_connection(edge: Any) -> None:
    resp = await edge.get("/fault/truncate")
    assert resp.status == 200  # headers were already on their way
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_idle_body_timeout_breaks_the_client_connection(make_edge: Any) -> None:
    edge = await make_edge(read_timeout=0.3)
    resp = await edge.get("/fault/hang-body")
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_truncated_chunked_body_is_not_a_clean_end(edge: Any) -> None:
    # a cacheable object that breaks off must neither end cleanly nor be stored
    resp = await edge.get("/fault/truncate")
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()
    again = await edge.get("/fault/truncate")
    assert "hit" not in again.headers["Cache-Status"].split(";")[1]
    with pytest.raises(aiohttp.ClientPayloadError):
        await again.read()


async def _raw(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    return data


async def test_malformed_requests_get_4xx_and_the_edge_keeps_serving(edge: Any) -> None:
    port = edge.client.port
    for junk in (
        b"NOT A REQUEST\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /\x00bad HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ):
        answer = await _raw(port, junk)
        assert answer.startswith(b"HTTP/1.") and answer[9:10] == b"4", (junk, answer[:60])
    resp = await edge.get("/echo")
    assert resp.status == 200


async def test_oversized_header_is_refused(edge: Any) -> None:
    answer = await _raw(
        edge.client.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
    )
    assert answer[9:10] == b"4"
    assert (await edge.get("/echo")).status == 200


async def test_oversized_upload_is_413(make_edge: Any) -> None:
    edge = await make_edge(replace(Config(), proxy=ProxyConfig(max_request_body=1000)))
    resp = await edge.client.post("/upload", data=b"x" * 5000)
    assert resp.status == 413
    assert await edge.origin_count("/upload") == 0

    async def chunked() -> Any:
        for _ in range(10):
            yield b"y" * 500

    resp = await edge.client.post("/upload", data=chunked())
    assert resp.status in (413, 502)  # refused mid-stream: never a 2xx
    assert (await edge.get("/echo")).status == 200


async def test_a_route_has_its_own_body_limit(make_edge: Any) -> None:
    """routes[].max_request_body replaces proxy.max_request_body for the route's requests:
    declared over it, 413 before the origin hears of it; streamed over it, never a 2xx."""
    route = RouteConfig(paths=("/upload",), max_request_body=8000)
    edge = await make_edge(Config(proxy=ProxyConfig(max_request_body=1000), routes=(route,)))
    resp = await edge.client.post("/upload", data=b"x" * 5000)  # over the global limit only
    assert resp.status == 200 and (await resp.json())["bytes"] == 5000
    resp = await edge.client.post("/echo", data=b"x" * 5000)  # no route: the global limit
    assert resp.status == 413
    resp = await edge.client.post("/upload", data=b"x" * 9000)
    assert resp.status == 413
    assert await edge.origin_count("/upload") == 1 and await edge.origin_count("/echo") == 0

    async def chunked() -> Any:
        for _ in range(10):
            yield b"y" * 1000

    resp = await edge.client.post("/upload", data=chunked())
    assert resp.status in (413, 502)  # refused mid-stream: never a 2xx
    assert (await edge.get("/echo")).status == 200


async def test_head_is_forwarded_without_body(edge: Any) -> None:
    resp = await edge.client.head("/big/1MiB")
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(1 << 20)
    assert await resp.read() == b""


async def test_echo_sees_json_body(edge: Any) -> None:
    resp = await edge.client.post("/echo", data=json.dumps({"a": 1}))
    assert (await resp.json())["body_bytes"] == len(json.dumps({"a": 1}))
