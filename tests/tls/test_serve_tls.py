"""``edge serve`` with TLS on both ports, as a real process: SIGHUP re-reads certificates."""

from __future__ import annotations

import signal
import socket
import ssl
import time
import urllib.request
from pathlib import Path

import pytest

from edge.cli import main
from tests.support.certs import Certs, peer_names
from tests.support.processes import free_port, node_process, write_config


def _handshake(port: int, ctx: ssl.SSLContext, name: str) -> tuple[list[str], str | None]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            return peer_names(tls), tls.selected_alpn_protocol()


def _wait_for(predicate: object, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"not true within {within}s")


def test_serve_with_tls_on_both_ports_and_sighup_reload(tmp_path: Path, certs: Certs) -> None:
    leaf = certs.leaf("edge.test", "127.0.0.1")
    tls = {"cert": str(leaf.cert), "key": str(leaf.key)}
    port, admin_port = free_port(), free_port()
    config = write_config(
        tmp_path / "edge.yaml",
        {
            "origin": {"url": f"http://127.0.0.1:{free_port()}"},
            "proxy": {"tls": tls},
            "admin": {"tls": tls, "token": "t" * 32},
        },
    )
    log = tmp_path / "edge.log"
    node = node_process("edge", config, port, admin_port, tmp_path / "cache", log, {})
    node.start()
    client = certs.client_context()
    try:

        def healthy() -> bool:
            try:
                url = f"https://127.0.0.1:{admin_port}/healthz"
                with urllib.request.urlopen(url, timeout=1, context=client) as r:
                    return bool(r.status == 200)
            except OSError:
                assert node.running, log.read_text()
                return False

        _wait_for(healthy)
        assert _handshake(port, client, "edge.test")[1] == "http/1.1"
        renewed = certs.leaf("renewed.test", "127.0.0.1")
        leaf.cert.write_bytes(renewed.cert.read_bytes())
        leaf.key.write_bytes(renewed.key.read_bytes())
        node.signal(signal.SIGHUP)
        _wait_for(lambda: log.read_text().count("tls: reloaded") >= 2)
        assert node.running
        assert _handshake(port, client, "renewed.test")[0] == ["renewed.test", "127.0.0.1"]
        assert _handshake(admin_port, client, "renewed.test")[0] == ["renewed.test", "127.0.0.1"]
    finally:
        node.stop()
    text = log.read_text()
    assert "proxy.tls: loaded" in text and "serving on https://" in text


def test_serve_refuses_a_key_that_does_not_match_exit_2(
    tmp_path: Path, certs: Certs, capsys: pytest.CaptureFixture[str]
) -> None:
    leaf, other = certs.leaf("edge.test"), certs.leaf("other.test")
    config = write_config(
        tmp_path / "edge.yaml",
        {
            "proxy": {
                "listen": f"127.0.0.1:{free_port()}",
                "tls": {"cert": str(leaf.cert), "key": str(other.key)},
            },
            "admin": {"listen": f"127.0.0.1:{free_port()}", "token": "t" * 32},
            "cache": {"dir": str(tmp_path / "cache")},
        },
    )
    assert main(["serve", "--config", str(config)]) == 2
    assert "proxy.tls.cert" in capsys.readouterr().err
