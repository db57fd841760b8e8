"""A real browser over HTTPS and HTTP/2: Debian's Chromium (through Playwright) loads a page
from a real edge process whose proxy port terminates TLS with a throwaway certificate.

Chromium trusts that certificate by its public key alone (``--ignore-certificate-errors-spki-
list`` with the SHA-256 of its SubjectPublicKeyInfo): any other certificate is still refused,
which ``ignore_https_errors`` would not prove. The page's navigation entry says which protocol
carried it. Skipped, saying how to install Chromium, without it.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.support.browser import launch_options
from tests.support.certs import Certs
from tests.support.live_edge import live_edge

pytestmark = pytest.mark.timeout(120)


def spki_hash(cert_pem: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the first certificate in ``cert_pem``."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_chromium_loads_a_page_over_https_with_h2(tmp_path: Path) -> None:
    options = launch_options()  # skips without Chromium
    root = tmp_path / "certs"
    root.mkdir()
    leaf = Certs(root).leaf("edge.test", "localhost", "127.0.0.1")
    options["args"] = [
        *options["args"],
        f"--ignore-certificate-errors-spki-list={spki_hash(leaf.cert)}",
    ]
    tls = {"tls": {"cert": str(leaf.cert), "key": str(leaf.key)}}
    from playwright.sync_api import sync_playwright

    with live_edge(tmp_path / "live", proxy=tls) as edge, sync_playwright() as pw:
        browser = pw.chromium.launch(**options)
        try:
            url = f"https://127.0.0.1:{edge.node.port}/"
            seen = []
            for _ in range(2):  # a context each: the second page is edge's hit, not Chromium's
                page = browser.new_context().new_page()
                answer = page.goto(url)
                assert answer is not None and answer.status == 200
                assert "origin-stub" in page.title()
                protocol = page.evaluate(
                    "() => performance.getEntriesByType('navigation')[0].nextHopProtocol"
                )
                seen.append((protocol, answer.headers["cache-status"]))
            assert [p for p, _ in seen] == ["h2", "h2"]
            assert "fwd=uri-miss" in seen[0][1] and "hit" in seen[1][1]
        finally:
            browser.close()
