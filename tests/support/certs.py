"""Throwaway certificates for TLS tests (``trustme``): a CA, leaf files, client contexts."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Leaf:
    cert: Path  # PEM chain, leaf first
    key: Path


class Certs:
    """One CA and the leaves it issued, written under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.ca_file = root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._n = 0

    def leaf(self, *names: str) -> Leaf:
        """A certificate for ``names`` (host names or IP addresses), as two PEM files."""
        self._n += 1
        issued = self.ca.issue_cert(*names)
        cert = self.root / f"leaf{self._n}.pem"
        key = self.root / f"leaf{self._n}.key"
        cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        issued.private_key_pem.write_to_path(str(key))
        return Leaf(cert, key)

    def client_context(self, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.set_alpn_protocols(list(alpn))
        return ctx

    def server_context(self, leaf: Leaf) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
        return ctx


def peer_names(obj: ssl.SSLObject | ssl.SSLSocket) -> list[str]:
    """The DNS and IP names of the certificate the peer presented."""
    cert = obj.getpeercert()
    assert cert
    return [value for _, value in cert.get("subjectAltName", ())]  # type: ignore[misc]
