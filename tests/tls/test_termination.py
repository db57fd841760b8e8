"""TLS on the proxy port: HTTPS through both fronts, ALPN, SNI, reloads, bad files."""

from __future__ import annotations

import json
import logging
import ssl
from dataclasses import replace

import httpx
import pytest

from edge.config import Config
from edge.config.load import config_from_dict
from edge.errors import ConfigError
from edge.fronts.tls import ServerTls
from tests.support.certs import Certs, Leaf, peer_names
from tests.tls.conftest import TlsEdgeFactory, tls_config, tls_connect


@pytest.mark.parametrize("front", ["http1", "aiohttp"])
async def test_https_through_the_proxy_says_https_to_the_origin_and_in_the_key(
    make_tls_edge: TlsEdgeFactory, certs: Certs, leaf: Leaf, front: str
) -> None:
    edge = await make_tls_edge(tls_config(leaf), front=front)
    async with httpx.AsyncClient(verify=certs.client_context()) as client:
        echo = await client.get(edge.url("/echo"))
        assert echo.status_code == 200
        assert echo.http_version == "HTTP/1.1"
        assert json.loads(echo.content)["headers"]["X-Forwarded-Proto"] == "https"
        first = await client.get(edge.url("/static/app.js"))
        second = await client.get(edge.url("/static/app.js"))
    assert first.status_code == second.status_code == 200
    assert "hit" in second.headers["Cache-Status"]
    assert second.content == first.content
    host = f"127.0.0.1:{edge.port}"
    engine = edge.node.engine
    assert edge.node.store.lookup_sync(engine.key_for("https", host, "/static/app.js"))
    assert not edge.node.store.lookup_sync(engine.key_for("http", host, "/static/app.js"))


async def test_alpn_selects_http11_and_min_version_is_the_floor(
    make_tls_edge: TlsEdgeFactory, certs: Certs, leaf: Leaf
) -> None:
    edge = await make_tls_edge(tls_config(leaf))
    tls12 = certs.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    _, writer = await tls_connect(edge.port, tls12, "edge.test")
    sslobj = writer.get_extra_info("ssl_object")
    assert sslobj.selected_alpn_protocol() == "http/1.1"
    assert sslobj.version() == "TLSv1.2"
    assert "GCM" in sslobj.cipher()[0] or "CHACHA20" in sslobj.cipher()[0]
    writer.close()
    strict = await make_tls_edge(replace(tls_config(leaf), min_version="1.3"))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await tls_connect(strict.port, tls12, "edge.test")
    _, writer = await tls_connect(strict.port, certs.client_context(), "edge.test")
    assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
    writer.close()


async def test_sni_picks_the_certificate_for_the_name_asked(
    make_tls_edge: TlsEdgeFactory, certs: Certs, leaf: Leaf
) -> None:
    other = certs.leaf("other.test")
    wild = certs.leaf("*.wild.test")
    edge = await make_tls_edge(tls_config(leaf, (("other.test",), other), (("*.wild.test",), wild)))
    seen = {}
    for name in ("other.test", "a.wild.test", "edge.test", "unknown.test", None):
        ctx = certs.client_context()
        ctx.check_hostname = False  # the unknown name gets the default certificate
        _, writer = await tls_connect(edge.port, ctx, name)
        seen[name] = peer_names(writer.get_extra_info("ssl_object"))
        writer.close()
    assert seen["other.test"] == ["other.test"]
    assert seen["a.wild.test"] == ["*.wild.test"]
    assert "edge.test" in seen["edge.test"]
    assert seen["unknown.test"] == seen[None] == seen["edge.test"]


async def test_reload_serves_the_new_certificate_and_keeps_open_connections(
    make_tls_edge: TlsEdgeFactory, certs: Certs, leaf: Leaf, caplog: pytest.LogCaptureFixture
) -> None:
    edge = await make_tls_edge(tls_config(leaf))
    async with httpx.AsyncClient(verify=certs.client_context()) as client:
        before = await client.get(edge.url("/static/app.js"))
        assert before.status_code == 200
        renewed = certs.leaf("renewed.test", "127.0.0.1")
        leaf.cert.write_bytes(renewed.cert.read_bytes())
        leaf.key.write_bytes(renewed.key.read_bytes())
        with caplog.at_level(logging.INFO, "edge.tls"):
            assert edge.listener.reload_certificates() == []
        assert "proxy.tls: reloaded" in caplog.text
        # the keep-alive connection opened before the reload carries on
        after = await client.get(edge.url("/static/app.js"))
        assert after.status_code == 200
    _, writer = await tls_connect(edge.port, certs.client_context(), "renewed.test")
    assert peer_names(writer.get_extra_info("ssl_object")) == ["renewed.test", "127.0.0.1"]
    writer.close()
    # a broken file is refused with a log line; the certificate loaded before stays
    leaf.key.write_text("not a key\n")
    caplog.clear()
    with caplog.at_level(logging.INFO, "edge.tls"):
        refused = edge.listener.reload_certificates()
    assert len(refused) == 1 and "proxy.tls.cert" in refused[0]
    assert "refused" in caplog.text and "keeping the one loaded before" in caplog.text
    _, writer = await tls_connect(edge.port, certs.client_context(), "renewed.test")
    assert peer_names(writer.get_extra_info("ssl_object")) == ["renewed.test", "127.0.0.1"]
    writer.close()


def test_bad_tls_files_are_config_errors_naming_the_key(certs: Certs, leaf: Leaf) -> None:
    def load(tls: dict[str, object]) -> Config:
        return config_from_dict({"proxy": {"tls": tls}})

    ok = {"cert": str(leaf.cert), "key": str(leaf.key)}
    cfg = load(ok)
    assert cfg.proxy.tls is not None and cfg.proxy.tls.cert == str(leaf.cert)
    with pytest.raises(ConfigError, match=r"proxy\.tls\.cert"):
        load({**ok, "cert": str(certs.root / "missing.pem")})
    with pytest.raises(ConfigError, match=r"proxy\.tls\.key"):
        load({"cert": str(leaf.cert)})
    with pytest.raises(ConfigError, match=r"proxy\.tls\.min_version"):
        load({**ok, "min_version": "1.0"})
    with pytest.raises(ConfigError, match=r"proxy\.tls\.sni\[0\]\.names\[0\]"):
        load({**ok, "sni": [{"names": ["bad name"], **ok}]})
    with pytest.raises(ConfigError, match=r"admin\.tls\.cert"):
        config_from_dict({"admin": {"tls": {"cert": "/nonexistent", "key": str(leaf.key)}}})
    # readable, but not a matching pair: found when the contexts are built
    other = certs.leaf("other.test")
    mismatched = load({"cert": str(leaf.cert), "key": str(other.key)}).proxy.tls
    assert mismatched is not None
    with pytest.raises(ConfigError, match=r"proxy\.tls\.cert.*proxy\.tls\.key does not match"):
        ServerTls(mismatched, "proxy.tls", alpn=("http/1.1",))
    garbage = certs.root / "garbage.pem"
    garbage.write_text("garbage\n")
    bad = load({"cert": str(garbage), "key": str(leaf.key)}).proxy.tls
    assert bad is not None
    with pytest.raises(ConfigError, match=r"proxy\.tls\.cert"):
        ServerTls(bad, "proxy.tls", alpn=("http/1.1",))
    with pytest.raises(ConfigError, match=r"proxy\.tls\.ciphers"):
        ServerTls(replace(bad, ciphers="NOPE-NOTHING"), "proxy.tls", alpn=("http/1.1",))
