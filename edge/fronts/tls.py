"""TLS termination on a listening port: contexts from config, SNI, reloads without a restart.

One :class:`ServerTls` per port (``proxy.tls``, ``admin.tls``). The listening
context's ``sni_callback`` picks, for every handshake, the context of the
certificate the client asked for (its server name, exact or ``*.domain``), else
the default one. The callback reads the *current* set of contexts, so
:meth:`ServerTls.reload_certificates` re-reads every file, swaps the set in one
assignment and takes effect at the next handshake: connections already open
keep the session they negotiated and are never dropped. A certificate that
fails to load on reload is refused with a log line and the one loaded before
stays in use; at start the same failure is a :class:`ConfigError` naming the key.

Every context is the same: TLS 1.2 at least (``min_version``), forward-secret
AEAD suites only (``ciphers``), no compression or renegotiation, and ALPN
offering ``h2`` and ``http/1.1`` (the proxy port) or ``http/1.1`` (the admin
port). OpenSSL reads the protocol version and ALPN from each context the
callback switches to, so they must all agree.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from edge.config import SniCertConfig, TlsConfig
from edge.errors import ConfigError

log = logging.getLogger("edge.tls")

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class CertificateRefused(Exception):
    """One certificate chain or key could not be loaded; ``key`` is its config path."""

    def __init__(self, key: str, path: str, why: str) -> None:
        super().__init__(f"{key}: {path}: {why}")
        self.key = key
        self.path = path
        self.why = why


@dataclass(frozen=True, slots=True)
class _Certs:
    """One generation of contexts: the default, and the SNI names (lower case) with theirs."""

    default: ssl.SSLContext
    by_name: dict[str, ssl.SSLContext]
    loaded: tuple[str, ...]  # what was loaded, for the log


class ServerTls:
    """The contexts of one listening port; ``context`` goes to ``create_server(ssl=...)``."""

    def __init__(self, cfg: TlsConfig, where: str, *, alpn: Sequence[str]) -> None:
        self.cfg = cfg
        self.where = where
        self.alpn = tuple(alpn)
        self._by_files: dict[tuple[str, str], ssl.SSLContext] = {}
        try:
            self._certs = self._load(strict=True)
        except CertificateRefused as exc:
            raise ConfigError(
                exc.key, exc.path, f"a PEM certificate chain and key ({exc.why})"
            ) from None
        self.context = self._certs.default
        self.context.sni_callback = self._choose
        log.info("%s: loaded %s", where, "; ".join(self._certs.loaded))

    # -- handshakes ----------------------------------------------------------------------
    def _choose(self, conn: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> int | None:
        """The SNI callback: switch ``conn`` to the context of the name it asked for."""
        certs = self._certs
        target = certs.default
        if name:
            lower = name.lower().rstrip(".")
            found = certs.by_name.get(lower)
            if found is None and "." in lower:
                found = certs.by_name.get("*." + lower.split(".", 1)[1])
            if found is not None:
                target = found
        if target is not ctx:
            conn.context = target
        return None

    def context_for(self, name: str | None) -> ssl.SSLContext:
        """The context a handshake naming ``name`` gets (what ``_choose`` would pick)."""
        certs = self._certs
        if name:
            lower = name.lower().rstrip(".")
            found = certs.by_name.get(lower)
            if found is None and "." in lower:
                found = certs.by_name.get("*." + lower.split(".", 1)[1])
            if found is not None:
                return found
        return certs.default

    # -- loading -------------------------------------------------------------------------
    def reload_certificates(self, cfg: TlsConfig | None = None) -> list[str]:
        """Re-read every certificate (from ``cfg`` when given); returns what was refused.

        A refused certificate keeps the one loaded before from the same files, if
        any; its names otherwise get the default certificate. New handshakes use
        the new set; open connections are not touched.
        """
        if cfg is not None:
            self.cfg = cfg
        refused: list[str] = []
        certs = self._load(strict=False, refused=refused)
        self._certs = certs
        log.info("%s: reloaded %s", self.where, "; ".join(certs.loaded) or "nothing")
        return refused

    def _load(self, *, strict: bool, refused: list[str] | None = None) -> _Certs:
        cfg, where = self.cfg, self.where
        by_files: dict[tuple[str, str], ssl.SSLContext] = {}
        loaded: list[str] = []

        def one(key: str, cert: str, private: str, what: str) -> ssl.SSLContext | None:
            try:
                ctx = self._context(key, cert, private)
            except CertificateRefused as exc:
                if strict:
                    raise
                old = self._by_files.get((cert, private))
                keeping = "keeping the one loaded before" if old else "not served"
                log.error("%s: refused %s (%s): %s; %s", where, cert, what, exc.why, keeping)
                assert refused is not None
                refused.append(str(exc))
                if old is not None:
                    by_files[(cert, private)] = old
                return old
            by_files[(cert, private)] = ctx
            loaded.append(f"{cert} ({what})")
            return ctx

        default = one(where, cfg.cert, cfg.key, "default")
        if default is None:  # reload only: the default never loaded; keep the last one
            default = self._certs.default
        by_name: dict[str, ssl.SSLContext] = {}
        for i, extra in enumerate(cfg.sni):
            ctx = one(f"{where}.sni[{i}]", extra.cert, extra.key, _names(extra))
            if ctx is not None:
                for name in extra.names:
                    by_name[name.lower()] = ctx
        self._by_files = by_files
        return _Certs(default, by_name, tuple(loaded))

    def _context(self, key: str, cert: str, private: str) -> ssl.SSLContext:
        cfg = self.cfg
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _VERSIONS.get(cfg.min_version, ssl.TLSVersion.TLSv1_2)
        ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        try:
            ctx.set_ciphers(cfg.ciphers)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"{self.where}.ciphers", cfg.ciphers, f"a cipher list ({exc})"
            ) from None
        ctx.set_alpn_protocols(list(self.alpn))
        try:
            ctx.load_cert_chain(cert, private)
        except (ssl.SSLError, OSError) as exc:
            raise CertificateRefused(key + ".cert", cert, _reason(exc, f"{key}.key")) from None
        return ctx


def _names(extra: SniCertConfig) -> str:
    return "for " + ", ".join(extra.names)


def _reason(exc: BaseException, key_path: str) -> str:
    if isinstance(exc, ssl.SSLError):
        text = exc.reason or str(exc)
        if "KEY_VALUES_MISMATCH" in str(exc).upper():
            return f"the key in {key_path} does not match the certificate"
        return f"not a usable certificate chain and key in {key_path}: {text}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
