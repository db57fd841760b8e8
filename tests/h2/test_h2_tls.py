"""HTTP/2 over TLS: ALPN chooses it (RFC 9113 §3.2), hits share keys with HTTPS/1.1, curl."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from typing import Any

import httpx
import pytest

from edge.config import Config, Http2Config
from tests.support.certs import Certs, Leaf
from tests.tls.conftest import TlsEdgeFactory, tls_config, tls_connect


async def _alpn(port: int, certs: Certs, offer: tuple[str, ...]) -> str | None:
    _, writer = await tls_connect(port, certs.client_context(offer), "edge.test")
    chosen: str | None = writer.get_extra_info("ssl_object").selected_alpn_protocol()
    writer.close()
    return chosen


async def test_alpn_offers_h2_first_and_http11(
    make_tls_edge: TlsEdgeFactory, certs: Certs, leaf: Leaf
) -> None:
    edge = await make_tls_edge(tls_config(leaf))
    assert await _alpn(edge.port, certs, ("h2", "http/1.1")) == "h2"
    assert await _alpn(edge.port, certs, ("http/1.1", "h2")) == "h2"  # the server's order
    assert await _alpn(edge.port, certs, ("http/1.1",)) == "http/1.1"
    base = Config()
    off = replace(base, proxy=replace(base.proxy, http2=Http2Config(enabled=False)))
    plain = await make_tls_edge(tls_config(leaf), cfg=off)
    assert await _alpn(plain.port, certs, ("h2", "http/1.1")) == "http/1.1"


async def test_https_over_h2_shares_entries_with_https_over_http11(
    make_tls_edge: TlsEdgeFactory, certs: Certs, leaf: Leaf
) -> None:
    edge = await make_tls_edge(tls_config(leaf))
    verify = certs.client_context()
    async with (
        httpx.AsyncClient(http2=True, verify=verify) as h2,
        httpx.AsyncClient(verify=verify) as h1,
    ):
        h2.headers.pop("Accept-Encoding", None)
        h1.headers.pop("Accept-Encoding", None)
        first = await h2.get(edge.url("/static/app.js"))
        await edge.node.engine.fills.drain()
        over_h2 = await h2.get(edge.url("/static/app.js"))
        over_h1 = await h1.get(edge.url("/static/app.js"))
    assert first.http_version == over_h2.http_version == "HTTP/2"
    assert over_h1.http_version == "HTTP/1.1"
    assert "detail=memory" in over_h2.headers["cache-status"]
    assert "hit" in over_h1.headers["cache-status"]
    assert over_h2.content == over_h1.content == first.content
    host = f"127.0.0.1:{edge.port}"
    engine = edge.node.engine
    assert edge.node.store.lookup_sync(engine.key_for("https", host, "/static/app.js"))


def _curl_http2() -> str:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    return curl


async def _curl(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        _curl_http2(),
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    if b"not support" in err or proc.returncode == 1 and b"HTTP2" in err:
        pytest.skip(f"this curl has no HTTP/2: {err.decode(errors='replace').strip()}")
    return out.decode()


async def test_curl_http2_over_tls_and_prior_knowledge(
    make_tls_edge: TlsEdgeFactory, make_h2_edge: Any, certs: Certs, leaf: Leaf
) -> None:
    edge = await make_tls_edge(tls_config(leaf))
    resolve = f"edge.test:{edge.port}:127.0.0.1"
    url = f"https://edge.test:{edge.port}/static/curl.js"
    assert await _curl("--http2", "--cacert", str(certs.ca_file), "--resolve", resolve, url) == (
        "2 200"
    )
    plain = await make_h2_edge()
    assert await _curl("--http2-prior-knowledge", plain.url("/static/curl.js")) == "2 200"
