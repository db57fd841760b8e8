"""https:// origins: asyncio's TLS, certificates and host names verified."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from edge.errors import UpstreamConnectError
from edge.origin.client import OriginClient
from edge.origin.pool import ConnectionPool
from tests.origin.conftest import BASE, Origin, keep_alive, ok, read_all


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(crt), "-subj", "/CN=origin.test"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return key, crt


async def tls_origin(cert: tuple[Path, Path]) -> tuple[Origin, asyncio.Server]:
    key, crt = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    origin = Origin(keep_alive(ok(b"secret")))
    server = await asyncio.start_server(origin._serve, "127.0.0.1", 0, ssl=ctx)
    origin.port = server.sockets[0].getsockname()[1]
    return origin, server


async def test_https_origin_with_a_trusted_certificate(cert: tuple[Path, Path]) -> None:
    origin, server = await tls_origin(cert)
    trust = ssl.create_default_context(cafile=str(cert[1]))
    pool = ConnectionPool(BASE, tls=trust)
    try:
        c = OriginClient(BASE, pool, url=f"https://127.0.0.1:{origin.port}")
        for _ in range(2):
            resp = await c.fetch("GET", "/", CIMultiDict({"Host": "site.test"}))
            assert await read_all(resp) == b"secret"
        assert origin.connections == 1  # kept alive over TLS too
    finally:
        await pool.close()
        await _stop(origin, server)


async def test_an_untrusted_certificate_is_refused(cert: tuple[Path, Path]) -> None:
    origin, server = await tls_origin(cert)
    pool = ConnectionPool(BASE)  # the system's trust store: a self-signed cert is not in it
    try:
        c = OriginClient(BASE, pool, url=f"https://127.0.0.1:{origin.port}")
        with pytest.raises(UpstreamConnectError, match="TLS handshake"):
            await c.fetch("GET", "/", CIMultiDict())
    finally:
        await pool.close()
        await _stop(origin, server)


async def _stop(origin: Origin, server: Any) -> None:
    server.close()
    for task in origin.tasks:
        task.cancel()
    await asyncio.gather(*origin.tasks, return_exceptions=True)
