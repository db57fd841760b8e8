"""Header rewriting between client, edge and origin (RFC 9110 §7.6, RFC 8586).

Requests going up lose their hop-by-hop fields and gain ``Via``,
``X-Forwarded-*``, ``CDN-Loop`` and the request's ``X-Request-Id``; responses
going down lose hop-by-hop fields and the vendor tag headers, and gain ``Via``.

What a client says about itself is not believed: none of the fields below is
part of the cache key, so an origin that reads them would store one client's
words under a URL every client shares (cache poisoning). From a peer outside
``proxy.trusted_proxies``, ``X-Forwarded-For`` is replaced by the peer's
address, ``Forwarded`` and every other ``X-Forwarded-*`` are removed, and
``X-Forwarded-Proto``/``-Host`` are set from the request; from a trusted peer
(a load balancer in front) ``X-Forwarded-For`` is appended to and ``Forwarded``
kept. The URL- and method-override fields (``X-Original-URL``…) are removed
whatever the peer, unless ``proxy.strip_override_headers`` is off.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from multidict import CIMultiDict

from edge.errors import LoopDetected
from edge.models import ProxyRequest
from edge.policy.headers import strip_hop_by_hop
from edge.request_id import HEADER as REQUEST_ID

TAG_HEADERS = ("Surrogate-Key", "Cache-Tag")

#: Fields some frameworks read as the "real" URL or method of a request.
OVERRIDE_HEADERS = (
    "X-Original-URL",
    "X-Rewrite-URL",
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """``proxy.trusted_proxies`` parsed (the config loader has already checked each)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


@dataclass(frozen=True, slots=True)
class Forwarding:
    """What a node adds on the way through: its name in Via and CDN-Loop, and X-Forwarded-*."""

    name: str
    via: bool = True
    strip_tags: bool = True
    targeted_field: str = "Edge-Cache-Control"
    trusted: tuple[Network, ...] = ()  # proxy.trusted_proxies
    strip_overrides: bool = True  # proxy.strip_override_headers

    def is_trusted(self, client_ip: str) -> bool:
        """Whether ``client_ip`` is a proxy whose forwarding fields are kept."""
        if not self.trusted or not client_ip:
            return False
        try:
            addr = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(addr in net for net in self.trusted)

    def check_loop(self, req: ProxyRequest) -> None:
        """RFC 8586 §2: a request that already passed through this node is a loop."""
        for line in req.headers.getall("CDN-Loop", ()):
            for member in line.split(","):
                cdn_id = member.split(";", 1)[0].strip()
                if cdn_id.lower() == self.name.lower():
                    raise LoopDetected(f"CDN-Loop already names {self.name}: request loops")

    def upstream(self, req: ProxyRequest) -> CIMultiDict[str]:
        headers = strip_hop_by_hop(req.headers)  # a new multidict: the copy to send
        if self.is_trusted(req.client_ip):
            xff = ", ".join(headers.getall("X-Forwarded-For", ()))
            headers["X-Forwarded-For"] = f"{xff}, {req.client_ip}" if xff else req.client_ip
        else:
            for name in [k for k in headers if k.lower().startswith("x-forwarded-")]:
                headers.popall(name, None)
            headers.popall("Forwarded", None)
            headers["X-Forwarded-For"] = req.client_ip
        if self.strip_overrides:
            for name in OVERRIDE_HEADERS:
                headers.popall(name, None)
        headers["X-Forwarded-Proto"] = req.scheme
        headers["X-Forwarded-Host"] = req.host
        if self.via:
            major, minor = req.http_version  # RFC 9110 §7.6.3: HTTP/2 is "2"
            version = f"{major}" if major >= 2 else f"{major}.{minor}"
            _append(headers, "Via", f"{version} {self.name}")
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
