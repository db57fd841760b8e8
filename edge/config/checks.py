"""Value rules of the configuration beyond its types: ranges, choices, names, files.

``check_rules`` runs after the loader has built a typed ``Config``; every failure is a
``ConfigError`` naming the key path, the value (never a secret) and what was expected.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from edge.config import Config
from edge.config.http2 import check_http2
from edge.config.routes_check import check_routing
from edge.errors import ConfigError

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2 token
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment


MIN_TOKEN_LENGTH = 16
#: Words that mark a token as the example's placeholder, not a secret someone chose.
_PLACEHOLDERS = ("change-me", "changeme", "change_me", "replace-me", "your-token", "example")
TOKEN_EXPECTED = (
    f"null, or a secret of at least {MIN_TOKEN_LENGTH} characters without spaces "
    "(not a placeholder such as change-me-...)"
)


def token_problem(token: str) -> bool:
    """Whether an admin token is too short, not plain text, or an example's placeholder."""
    lower = token.lower()
    return (
        len(token) < MIN_TOKEN_LENGTH
        or not token.isprintable()
        or " " in token
        or any(word in lower for word in _PLACEHOLDERS)
    )


def _admin_token(token: str | None) -> bool:
    return token is None or not token_problem(token)


@dataclass(frozen=True, slots=True)
class _Rule:
    """A check on the value at ``path`` (attribute path into ``Config``) beyond its type."""

    path: str
    ok: Callable[[Any], bool]
    expected: str
    secret: bool = False  # never echo the value (it may be a real token)


_RULES: tuple[_Rule, ...] = (
    _Rule("name", lambda v: bool(_NAME_RE.fullmatch(v)), "a name of letters, digits, '-_.'"),
    _Rule("workers", lambda v: v >= 1, "an integer >= 1"),
    _Rule("origin.url", _http_url, "an http:// or https:// URL with a host"),
    _Rule("origin.connect_timeout", lambda v: v > 0, "a duration > 0"),
    _Rule("origin.first_byte_timeout", lambda v: v > 0, "a duration > 0"),
    _Rule("origin.read_timeout", lambda v: v > 0, "a duration > 0"),
    _Rule("origin.keepalive_timeout", lambda v: v > 0, "a duration > 0"),
    _Rule("origin.max_connections", lambda v: v >= 0, "an integer >= 0 (0: no limit)"),
    _Rule("origin.max_connections_per_host", lambda v: v >= 0, "an integer >= 0 (0: no limit)"),
    _Rule("admin.token", _admin_token, TOKEN_EXPECTED, secret=True),
    _Rule("admin.token_file", lambda v: v is None or bool(v.strip()), "null or a file path"),
    _Rule("proxy.max_request_body", lambda v: v > 0, "a size > 0"),
    _Rule("proxy.max_header_size", lambda v: v > 0, "a size > 0"),
    _Rule("proxy.front", lambda v: v in ("http1", "aiohttp"), "one of: http1, aiohttp"),
    _Rule("proxy.limits.request_line", lambda v: v >= 64, "a size >= 64"),
    _Rule("proxy.limits.header_count", lambda v: v >= 1, "an integer >= 1"),
    _Rule("proxy.timeouts.head", lambda v: v > 0, "a duration > 0"),
    _Rule("proxy.timeouts.keepalive", lambda v: v > 0, "a duration > 0"),
    _Rule("proxy.timeouts.body_idle", lambda v: v > 0, "a duration > 0"),
    _Rule("proxy.timeouts.send", lambda v: v > 0, "a duration > 0"),
    _Rule("proxy.max_connections", lambda v: v >= 1, "an integer >= 1"),
    _Rule("cache.dir", lambda v: bool(v.strip()), "a non-empty directory path"),
    _Rule("cache.memory.max_bytes", lambda v: v > 0, "a size > 0"),
    _Rule("cache.memory.max_object_bytes", lambda v: v > 0, "a size > 0"),
    _Rule(
        "cache.memory.policy",
        lambda v: v in ("wtinylfu", "s3fifo", "lru"),
        "one of: wtinylfu, s3fifo, lru",
    ),
    _Rule("cache.disk.max_bytes", lambda v: v > 0, "a size > 0"),
    _Rule("cache.heuristic_fraction", lambda v: 0 < v <= 1, "a number in (0, 1]"),
    _Rule("cache.targeted_field", lambda v: bool(_TOKEN_RE.fullmatch(v)), "a header field name"),
    _Rule("cache.max_variants", lambda v: v >= 1, "an integer >= 1"),
    _Rule("cache.max_revalidations", lambda v: v >= 1, "an integer >= 1"),
    _Rule("cache.serve_stale_on_error", lambda v: v >= 0, "a duration >= 0 (0: never)"),
    _Rule("cache.refresh_ahead.fraction", lambda v: 0 <= v < 1, "a number in [0, 1) (0: off)"),
    _Rule("cache.refresh_ahead.min_hits", lambda v: v >= 1, "an integer >= 1"),
    _Rule(
        "cache.store_set_cookie",
        lambda v: v in ("shared-only", "rfc"),
        "one of: shared-only, rfc",
    ),
    _Rule("cache.compression.min_size", lambda v: v >= 0, "a size >= 0"),
    _Rule("cache.prefetch.per_response", lambda v: 1 <= v <= 64, "an integer from 1 to 64"),
    _Rule("cache.prefetch.concurrency", lambda v: 1 <= v <= 64, "an integer from 1 to 64"),
    _Rule("cache.prefetch.max_in_flight", lambda v: 1 <= v <= 10000, "an integer from 1 to 10000"),
    _Rule("cache.compression.zstd_level", lambda v: 1 <= v <= 19, "an integer from 1 to 19"),
    _Rule("cache.compression.brotli_level", lambda v: 0 <= v <= 11, "an integer from 0 to 11"),
    _Rule("cache.compression.gzip_level", lambda v: 1 <= v <= 9, "an integer from 1 to 9"),
    _Rule(
        "logging.level",
        lambda v: v in ("debug", "info", "warning", "error"),
        "one of: debug, info, warning, error",
    ),
    _Rule("logging.format", lambda v: v in ("text", "json"), "one of: text, json"),
    _Rule(
        "logging.access.format",
        lambda v: v in ("auto", "combined", "json"),
        "one of: auto, combined, json",
    ),
)


def _lookup(cfg: Config, path: str) -> object:
    value: object = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def check_rules(cfg: Config, rename: Mapping[str, str]) -> None:
    """Apply ``_RULES`` and the cross-field checks; ``rename`` maps key paths to flag names."""
    for rule in _RULES:
        value = _lookup(cfg, rule.path)
        if not rule.ok(value):
            shown = f"<{len(str(value))} characters, not shown>" if rule.secret else value
            raise ConfigError(rename.get(rule.path, rule.path), shown, rule.expected)
    _check_cluster(cfg)
    _check_tls(cfg)
    _check_compression(cfg)
    check_routing(cfg)  # origins and routes
    check_http2(cfg.proxy.http2)
    for i, cidr in enumerate(cfg.proxy.trusted_proxies):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            path = f"proxy.trusted_proxies[{i}]"
            raise ConfigError(path, cidr, "an IP address or CIDR network") from None
    memory = cfg.cache.memory
    if memory.max_object_bytes > memory.max_bytes:
        raise ConfigError(
            "cache.memory.max_object_bytes",
            memory.max_object_bytes,
            f"at most cache.memory.max_bytes ({memory.max_bytes})",
        )


_SUBJECT_RE = re.compile(r"[A-Za-z0-9_-]+")
_SERVER_NAME_RE = re.compile(r"(\*\.)?([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+")


def _readable_file(path: str) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.R_OK)


def _check_tls(cfg: Config) -> None:
    """Listening TLS: files that exist and can be read, names SNI can carry, a known version.

    Whether a file holds a usable certificate or key is checked when the port's
    contexts are built (``edge.fronts.tls``), with the same key paths in the error.
    """
    for where, tls in (("proxy.tls", cfg.proxy.tls), ("admin.tls", cfg.admin.tls)):
        if tls is None:
            continue
        for key in ("cert", "key"):
            value = getattr(tls, key)
            if not _readable_file(value):
                raise ConfigError(f"{where}.{key}", value, "the path of a readable PEM file")
        if tls.min_version not in ("1.2", "1.3"):
            raise ConfigError(f"{where}.min_version", tls.min_version, "one of: 1.2, 1.3")
        if not tls.ciphers.strip():
            raise ConfigError(f"{where}.ciphers", tls.ciphers, "an OpenSSL cipher list")
        seen: set[str] = set()
        for i, extra in enumerate(tls.sni):
            at = f"{where}.sni[{i}]"
            if not extra.names:
                raise ConfigError(f"{at}.names", [], "at least one host name")
            for j, name in enumerate(extra.names):
                if not _SERVER_NAME_RE.fullmatch(name) or name.lower() in seen:
                    raise ConfigError(
                        f"{at}.names[{j}]", name, "a distinct host name (or *.domain)"
                    )
                seen.add(name.lower())
            for key in ("cert", "key"):
                value = getattr(extra, key)
                if not _readable_file(value):
                    raise ConfigError(f"{at}.{key}", value, "the path of a readable PEM file")
    ca_file = cfg.origin.tls.ca_file
    if ca_file is not None and not _readable_file(ca_file):
        raise ConfigError("origin.tls.ca_file", ca_file, "null or the path of a readable PEM file")


_MEDIA_RE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/(\*|[A-Za-z0-9!#$&^_.+-]+)")
_CODINGS = ("zstd", "br", "gzip")


def _check_compression(cfg: Config) -> None:
    c = cfg.cache.compression
    seen: set[str] = set()
    for i, coding in enumerate(c.codings):
        if coding not in _CODINGS or coding in seen:
            raise ConfigError(
                f"cache.compression.codings[{i}]", coding, "a distinct one of: zstd, br, gzip"
            )
        seen.add(coding)
    for i, media in enumerate(c.types):
        if not _MEDIA_RE.fullmatch(media):
            raise ConfigError(
                f"cache.compression.types[{i}]", media, "a media type (text/html) or text/*"
            )


def _check_cluster(cfg: Config) -> None:
    cluster = cfg.cluster
    if cluster.parent_down_for <= 0:
        raise ConfigError("cluster.parent_down_for", cluster.parent_down_for, "a duration > 0")
    seen: set[str] = set()
    for i, parent in enumerate(cluster.parents):
        where = f"cluster.parents[{i}]"
        if not _NAME_RE.fullmatch(parent.name) or parent.name in seen:
            raise ConfigError(
                f"{where}.name", parent.name, "a distinct name of letters, digits, '-_.'"
            )
        if parent.name == cfg.name:
            raise ConfigError(
                f"{where}.name", parent.name, f"another node's name (this is {cfg.name})"
            )
        seen.add(parent.name)
        if not _http_url(parent.url):
            raise ConfigError(f"{where}.url", parent.url, "an http:// or https:// URL with a host")
        if parent.admin_url is not None and not _http_url(parent.admin_url):
            raise ConfigError(f"{where}.admin_url", parent.admin_url, "null or an http(s) URL")
    nats = cluster.nats
    if nats is None:
        return
    if not nats.servers:
        raise ConfigError("cluster.nats.servers", [], "at least one nats:// URL")
    for i, url in enumerate(nats.servers):
        if not url.startswith(("nats://", "tls://")):
            raise ConfigError(f"cluster.nats.servers[{i}]", url, "a nats:// or tls:// URL")
    for key in ("stream", "kv_bucket"):
        value = getattr(nats, key)
        if not _SUBJECT_RE.fullmatch(value):
            raise ConfigError(f"cluster.nats.{key}", value, "letters, digits, '-' and '_'")
