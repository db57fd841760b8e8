"""``PURGE <path>`` on the proxy port, for either front (Varnish/Squid convention).

The URL the client names is purged, every variant, through the node's
coordinator (so every worker and, when clustered, every node applies it).
Token in ``Authorization: Bearer`` or ``X-Purge-Token``; ``X-Purge-Soft: 1``
marks stale instead of removing. Answers are JSON, like the admin API's.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from edge.errors import EdgeError
from edge.runtime.node import Node
from edge.web.admin_schema import REALM, ErrorAnswer, PurgeAnswer


@dataclass(frozen=True, slots=True)
class PurgeResult:
    status: int
    body: bytes  # JSON
    headers: tuple[tuple[str, str], ...] = ()


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The bearer token, else ``X-Purge-Token``."""
    scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("X-Purge-Token")


def _token_ok(presented: str | None, token: str) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")
    )


def _error(status: int, message: str, *headers: tuple[str, str]) -> PurgeResult:
    return PurgeResult(status, msgspec.json.encode(ErrorAnswer(error=message)), headers)


async def purge_target(
    node: Node, scheme: str, host: str, target: str, headers: Mapping[str, str]
) -> PurgeResult:
    """Purge ``scheme://host target`` if the request carries the admin token."""
    if not _token_ok(presented_token(headers), node.admin_token):
        return _error(
            401,
            "missing or wrong admin token: send Authorization: Bearer <token>",
            ("WWW-Authenticate", REALM),
        )
    soft = headers.get("X-Purge-Soft", "").strip() in ("1", "true")
    url = f"{scheme}://{host}{target}"
    try:
        outcome = await node.coordinator.purge(
            urls=[url], prefixes=[], tags=[], everything=False, soft=soft
        )
    except EdgeError as exc:  # a bad URL; or the leader worker did not answer (WorkerError)
        return _error(exc.status, exc.message)
    answer = PurgeAnswer(purged=outcome.purged, soft=soft, nodes=outcome.nodes)
    return PurgeResult(200, msgspec.json.encode(answer))
