"""Header rewriting between client, edge and origin (RFC 9110 §7.6, RFC 8586).

Requests going up lose their hop-by-hop fields and gain ``Via``,
``X-Forwarded-*``, ``CDN-Loop`` and the request's ``X-Request-Id``; responses
going down lose hop-by-hop fields and the vendor tag headers, and gain ``Via``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from multidict import CIMultiDict

from edge.errors import LoopDetected
from edge.models import ProxyRequest
from edge.policy.headers import strip_hop_by_hop
from edge.request_id import HEADER as REQUEST_ID

TAG_HEADERS = ("Surrogate-Key", "Cache-Tag")


@dataclass(frozen=True, slots=True)
class Forwarding:
    """What a node adds on the way through: its name in Via and CDN-Loop, and X-Forwarded-*."""

    name: str
    via: bool = True
    strip_tags: bool = True
    targeted_field: str = "Edge-Cache-Control"

    def check_loop(self, req: ProxyRequest) -> None:
        """RFC 8586 §2: a request that already passed through this node is a loop."""
        for line in req.headers.getall("CDN-Loop", ()):
            for member in line.split(","):
                cdn_id = member.split(";", 1)[0].strip()
                if cdn_id.lower() == self.name.lower():
                    raise LoopDetected(f"CDN-Loop already names {self.name}: request loops")

    def upstream(self, req: ProxyRequest) -> CIMultiDict[str]:
        headers = strip_hop_by_hop(req.headers)  # a new multidict: the copy to send
        xff = headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{xff}, {req.client_ip}" if xff else req.client_ip
        headers["X-Forwarded-Proto"] = req.scheme
        headers["X-Forwarded-Host"] = req.host
        if self.via:
            _append(headers, "Via", f"{req.http_version[0]}.{req.http_version[1]} {self.name}")
        _append(headers, "CDN-Loop", self.name)
        if req.request_id:  # replaces a client's id that was not valid
            headers[REQUEST_ID] = req.request_id
        if "Host" not in headers and req.host:
            headers["Host"] = req.host
        return headers

    def downstream(self, headers: CIMultiDict[str]) -> CIMultiDict[str]:
        """Finish response headers for the client (in place; returns them)."""
        if self.strip_tags:
            for name in TAG_HEADERS:
                headers.popall(name, None)
        # Surrogate-Control is addressed to surrogates; this node consumed it.
        headers.popall("Surrogate-Control", None)
        # RFC 9213 §2.1: a field targeted at this node is for this node only.
        headers.popall(self.targeted_field, None)
        if self.via:
            _append(headers, "Via", f"1.1 {self.name}")
        return headers


def _append(headers: CIMultiDict[str], name: str, value: str) -> None:
    old = headers.getall(name, ())
    if old:
        headers[name] = ", ".join((*old, value))
    else:
        headers[name] = value


def origin_host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"
