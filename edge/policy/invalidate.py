"""Invalidation after unsafe requests (RFC 9111 §4.4)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from edge.policy.headers import AnyHeaders
from edge.policy.keys import normalize_host

#: RFC 9110 §9.2.1 safe methods; any other, including unknown ones, is unsafe.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _origin(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        return None
    return scheme, normalize_host(scheme, parts.netloc.rpartition("@")[2])


def invalidation_urls(
    *, method: str, status: int, request_url: str, resp_headers: AnyHeaders
) -> list[str]:
    """URLs whose stored responses an unsafe request invalidates.

    §4.4: on a non-error (2xx/3xx) response to an unsafe method, the target
    URI, and the Location and Content-Location URIs (resolved against the
    target) when they share its origin: other origins could otherwise be
    purged by a hostile response (denial of service).
    """
    if method.upper() in SAFE_METHODS or not 200 <= status < 400:
        return []
    own = _origin(request_url)
    urls = [request_url]
    for name in ("location", "content-location"):
        value = resp_headers.get(name)
        if not value or own is None:
            continue
        try:
            absolute = urljoin(request_url, value.strip())
        except ValueError:
            continue
        if _origin(absolute) == own:
            urls.append(absolute.split("#", 1)[0])
    return list(dict.fromkeys(urls))
