"""https:// origins through the edge: verified by default, a CA bundle, verify: false."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer

from edge.clock import FakeClock
from edge.config import Config, OriginTlsConfig
from edge.config.load import config_from_dict
from edge.errors import ConfigError
from origin_stub.app import make_app as make_origin_app
from tests.support.certs import Certs
from tests.tls.conftest import TlsEdgeFactory


@pytest.fixture
async def https_origin(aiohttp_server: Any, clock: FakeClock, certs: Certs) -> str:
    leaf = certs.leaf("127.0.0.1", "origin.test")
    server: TestServer = await aiohttp_server(
        make_origin_app(clock=clock.now), ssl=certs.server_context(leaf)
    )
    return f"https://127.0.0.1:{server.port}"


def with_origin_tls(**kw: Any) -> Config:
    base = Config()
    return replace(base, origin=replace(base.origin, tls=OriginTlsConfig(**kw)))


async def test_an_https_origin_trusted_through_the_ca_bundle(
    make_tls_edge: TlsEdgeFactory, https_origin: str, certs: Certs
) -> None:
    cfg = with_origin_tls(ca_file=str(certs.ca_file))
    edge = await make_tls_edge(None, cfg=cfg, origin_url=https_origin)
    async with httpx.AsyncClient() as client:
        first = await client.get(edge.url("/static/app.js"))
        second = await client.get(edge.url("/static/app.js"))
    assert first.status_code == 200 and "fwd-status=200" in first.headers["Cache-Status"]
    assert "hit" in second.headers["Cache-Status"]


async def test_an_untrusted_origin_certificate_is_a_502_with_a_clear_log_line(
    make_tls_edge: TlsEdgeFactory, https_origin: str, caplog: pytest.LogCaptureFixture
) -> None:
    edge = await make_tls_edge(None, origin_url=https_origin)  # the system store: not trusted
    with caplog.at_level(logging.WARNING):
        async with httpx.AsyncClient() as client:
            resp = await client.get(edge.url("/static/app.js"))
    assert resp.status_code == 502
    assert "detail=origin-tls-error" in resp.headers["Cache-Status"]
    assert "CERTIFICATE_VERIFY_FAILED" not in resp.text  # the details stay in the log
    lines = [r.getMessage() for r in caplog.records]
    assert any("TLS handshake with origin" in x and "CERTIFICATE_VERIFY_FAILED" in x for x in lines)
    assert any("/static/app.js" in x and "TLS handshake failed" in x for x in lines)


async def test_verify_false_accepts_any_certificate_and_warns_at_start(
    make_tls_edge: TlsEdgeFactory, https_origin: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "edge.origin"):
        edge = await make_tls_edge(None, cfg=with_origin_tls(verify=False), origin_url=https_origin)
    assert "origin.tls.verify is false" in caplog.text
    async with httpx.AsyncClient() as client:
        resp = await client.get(edge.url("/static/app.js"))
    assert resp.status_code == 200


async def test_a_wrong_host_name_is_refused(
    make_tls_edge: TlsEdgeFactory, aiohttp_server: Any, clock: FakeClock, certs: Certs
) -> None:
    leaf = certs.leaf("elsewhere.test")  # trusted, but not for 127.0.0.1
    server = await aiohttp_server(make_origin_app(clock=clock.now), ssl=certs.server_context(leaf))
    cfg = with_origin_tls(ca_file=str(certs.ca_file))
    edge = await make_tls_edge(None, cfg=cfg, origin_url=f"https://127.0.0.1:{server.port}")
    async with httpx.AsyncClient() as client:
        resp = await client.get(edge.url("/static/app.js"))
    assert resp.status_code == 502


def test_a_bad_ca_file_is_a_config_error_naming_the_key(certs: Certs) -> None:
    with pytest.raises(ConfigError, match=r"origin\.tls\.ca_file"):
        config_from_dict({"origin": {"tls": {"ca_file": str(certs.root / "missing.pem")}}})
    garbage = certs.root / "garbage.pem"
    garbage.write_text("garbage\n")
    cfg = config_from_dict({"origin": {"tls": {"ca_file": str(garbage)}}})
    from edge.origin.tls import origin_context

    with pytest.raises(ConfigError, match=r"origin\.tls\.ca_file"):
        origin_context(cfg.origin.tls)
