"""Admin tokens: reading the one a request presents, checking it, and where it may be exposed.

The admin API and ``PURGE`` on the proxy port take the same token. It is
compared in constant time; a generated token (``<cache-dir>/admin-token``)
only guards an admin listener on loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from edge.config import Config
from edge.errors import ConfigError


def presented_token(headers: Mapping[str, str], *, purge_header: bool = False) -> str | None:
    """The ``Authorization: Bearer`` token; else, with ``purge_header``, ``X-Purge-Token``."""
    scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if purge_header:
        return headers.get("X-Purge-Token")
    return None


def token_ok(presented: str | None, token: str) -> bool:
    """Whether ``presented`` is ``token`` (constant time; None never is)."""
    if presented is None:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")
    )


def admin_token_is_generated(cfg: Config, env: Mapping[str, str]) -> bool:
    """Whether ``resolve_admin_token`` falls back to the token generated in the cache dir.

    A token in ``admin.token_file`` is one the operator placed (or had generated) where
    they chose, and reads from there: it may guard an exposed admin API.
    """
    return not cfg.admin.token and not env.get("EDGE_ADMIN_TOKEN") and not cfg.admin.token_file


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def check_admin_exposure(cfg: Config, token_was_generated: bool) -> None:
    """Refuse an admin listener off loopback guarded only by a generated token."""
    listen = cfg.admin.listen
    if token_was_generated and not _is_loopback(listen.host):
        raise ConfigError(
            "admin.listen",
            str(listen),
            "a loopback address (127.0.0.1, ::1 or localhost) while the admin token is "
            "generated; to expose the admin API, set admin.token or EDGE_ADMIN_TOKEN to a "
            "secret you manage",
        )
