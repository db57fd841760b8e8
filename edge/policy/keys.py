"""Primary cache keys (RFC 9111 §2: method and target URI) with versions."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": "80", "https": "443"}

# RFC 9110 §7.2 / RFC 3986 §3.2.2: uri-host [ ":" port ], uri-host an IP literal in brackets
# or a reg-name of unreserved and sub-delims characters (percent-encoding is not accepted).
_HOST_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=]*)(?::[0-9]{0,5})?")


def valid_host(host: str) -> bool:
    """Whether a Host field value is a valid authority (RFC 9112 §3.2: otherwise 400).

    ``a@b`` (user info), ``a b``, ``a/b``, control characters and any byte outside
    ASCII (a lone surrogate sequence arrives as such) are refused before the value
    reaches the cache key, the origin or a log line.
    """
    return _HOST_RE.fullmatch(host) is not None


@functools.lru_cache(maxsize=4096)
def normalize_host(scheme: str, host: str) -> str:
    """Lower-case the host, drop the scheme's default port (RFC 3986 §6.2.3) and a
    trailing dot (``example.com.`` names the same host as ``example.com``)."""
    host = host.strip().lower()
    default = _DEFAULT_PORTS.get(scheme.lower())
    port = ""
    if not host.endswith("]"):
        head, sep, tail = host.rpartition(":")
        # a bare IPv6 literal without brackets has no port
        if sep and tail.isdigit() and (head.endswith("]") or ":" not in head):
            host, port = head, tail
        elif sep and not tail and ":" not in head:
            host = head  # "example.com:" has an empty port: the default
    if port == default:
        port = ""
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    return f"{host}:{port}" if port else host


def primary_key(scheme: str, host: str, target: str, version: int = 0) -> str:
    """``v<version>|<scheme>://<host><target>``; the target is kept as sent."""
    scheme = scheme.lower()
    return f"v{version}|{scheme}://{normalize_host(scheme, host)}{target or '/'}"


def url_of_key(key: str) -> str:
    """The normalised absolute URL inside a primary key (``v<n>|<url>``), without the version.

    The host is lower-cased and the default port dropped (:func:`primary_key`), unlike
    ``Entry.url``, which keeps the Host as the client sent it. Parents are chosen on it,
    so a version bump never moves objects between shields; purge inputs are matched on it.
    """
    return key.partition("|")[2] or key


def normalize_url(url_or_path: str, default_scheme: str, default_host: str) -> tuple[str, str, str]:
    """Split a purge input into (scheme, host, target).

    A path ("/a?b") uses the defaults; an absolute http(s) URL its own
    scheme and authority (user info dropped). Fragments are not part of
    the target. Raises ValueError for anything else, naming the input.
    """
    text = url_or_path.strip()
    if text.startswith("/"):
        target = text.split("#", 1)[0]
        return default_scheme.lower(), normalize_host(default_scheme, default_host), target
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise ValueError(f"expected a path or an http(s) URL, got {url_or_path!r}")
    host = parts.netloc.rpartition("@")[2]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, normalize_host(scheme, host), target
