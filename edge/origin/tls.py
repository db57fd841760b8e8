"""The client context for https:// origins and parents (``origin.tls``).

Verification is on by default: the chain against the system's trust store, or
against ``origin.tls.ca_file`` instead, and the host name of the URL (also sent
as SNI). ``verify: false`` accepts any certificate, for a test origin with a
self-signed one; it is logged as a warning at start, since it lets anyone on the
path answer for the origin. ALPN offers only ``http/1.1``: the origin client
speaks HTTP/1.1.
"""

from __future__ import annotations

import logging
import ssl

from edge.config import OriginTlsConfig
from edge.errors import ConfigError

log = logging.getLogger("edge.origin")


def origin_context(cfg: OriginTlsConfig) -> ssl.SSLContext:
    """The context every origin connection is wrapped with; ConfigError on a bad CA file."""
    try:
        ctx = ssl.create_default_context(cafile=cfg.ca_file)
    except (ssl.SSLError, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError("origin.tls.ca_file", cfg.ca_file, f"a PEM CA bundle ({why})") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    if not cfg.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        log.warning(
            "origin.tls.verify is false: https origin and parent certificates are NOT checked"
        )
    return ctx
