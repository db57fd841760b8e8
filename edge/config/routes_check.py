"""Checks of ``origins:`` and ``routes:`` beyond their types; errors name the key path.

``routes[1].pool: got 'api', expected the name of a pool in origins (one of: app, web)``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from edge.config import Config
from edge.config.routes import CacheRulesConfig, HealthCheckConfig, PoolConfig
from edge.errors import ConfigError

_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2: a field name
# a host name or IP literal with an optional port, or "*." and a domain (any subdomain)
_HOST_RE = re.compile(
    r"(\*\.)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(:[0-9]{1,5})?"
)
_PARAM_RE = re.compile(r"[^\s&=*]+\*?|\*")  # a query parameter name, or a prefix and "*"
BALANCERS = ("round-robin", "least-connections")
QUERY_MODES = ("keep", "sort", "ignore")
MAX_WEIGHT = 1000


def server_url_ok(url: str) -> bool:
    """An http(s) URL with a host, and neither a query nor a fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
    )


def check_routing(cfg: Config) -> None:
    """Every pool and route of ``cfg``; raises the first :class:`ConfigError`."""
    names: list[str] = []
    for i, pool in enumerate(cfg.origins):
        _check_pool(pool, f"origins[{i}]", names)
        names.append(pool.name)
    for i, route in enumerate(cfg.routes):
        where = f"routes[{i}]"
        for j, host in enumerate(route.hosts):
            if not _HOST_RE.fullmatch(host):
                raise ConfigError(
                    f"{where}.hosts[{j}]", host, "a host name (with a port, or *.domain)"
                )
        for j, path in enumerate(route.paths):
            if not path.startswith("/") or "?" in path or "#" in path:
                raise ConfigError(f"{where}.paths[{j}]", path, "a path prefix starting with /")
        if route.pool is not None and route.pool not in names:
            known = f"one of: {', '.join(names)}" if names else "origins is empty"
            raise ConfigError(
                f"{where}.pool", route.pool, f"the name of a pool in origins ({known})"
            )
        if route.max_request_body is not None and route.max_request_body <= 0:
            raise ConfigError(
                f"{where}.max_request_body", route.max_request_body, "null or a size > 0"
            )
        _check_rules(route.cache, f"{where}.cache")


def _check_pool(pool: PoolConfig, where: str, seen: list[str]) -> None:
    if not _NAME_RE.fullmatch(pool.name) or pool.name in seen:
        raise ConfigError(f"{where}.name", pool.name, "a distinct name of letters, digits, '-_.'")
    if not pool.servers:
        raise ConfigError(f"{where}.servers", [], "at least one server ({url: http://...})")
    urls: set[str] = set()
    for j, server in enumerate(pool.servers):
        at = f"{where}.servers[{j}]"
        if not server_url_ok(server.url):
            raise ConfigError(
                f"{at}.url", server.url, "an http:// or https:// URL with a host, no query"
            )
        if server.url.rstrip("/") in urls:
            raise ConfigError(f"{at}.url", server.url, "a URL not already in this pool")
        urls.add(server.url.rstrip("/"))
        if not 1 <= server.weight <= MAX_WEIGHT:
            raise ConfigError(f"{at}.weight", server.weight, f"an integer from 1 to {MAX_WEIGHT}")
    if pool.balance not in BALANCERS:
        raise ConfigError(f"{where}.balance", pool.balance, f"one of: {', '.join(BALANCERS)}")
    if pool.max_fails < 1:
        raise ConfigError(f"{where}.max_fails", pool.max_fails, "an integer >= 1")
    if pool.down_for <= 0:
        raise ConfigError(f"{where}.down_for", pool.down_for, "a duration > 0")
    if pool.health is not None:
        _check_health(pool.health, f"{where}.health")


def _check_health(health: HealthCheckConfig, where: str) -> None:
    if not health.path.startswith("/"):
        raise ConfigError(f"{where}.path", health.path, "a path starting with /")
    for key in ("interval", "timeout"):
        if getattr(health, key) <= 0:
            raise ConfigError(f"{where}.{key}", getattr(health, key), "a duration > 0")
    if not 100 <= health.expect_status <= 599:
        raise ConfigError(f"{where}.expect_status", health.expect_status, "a status 100-599")
    for key in ("rise", "fall"):
        if getattr(health, key) < 1:
            raise ConfigError(f"{where}.{key}", getattr(health, key), "an integer >= 1")
    if health.host is not None and (not _HOST_RE.fullmatch(health.host) or "*" in health.host):
        raise ConfigError(f"{where}.host", health.host, "null or a host name")


def _check_rules(rules: CacheRulesConfig, where: str) -> None:
    for key in ("ttl", "default_ttl", "max_ttl", "stale_while_revalidate", "stale_if_error"):
        value = getattr(rules, key)
        if value is not None and value < 0:
            raise ConfigError(f"{where}.{key}", value, "null or a duration >= 0")
    if rules.max_ttl is not None:
        for key in ("ttl", "default_ttl"):
            value = getattr(rules, key)
            if value is not None and value > rules.max_ttl:
                raise ConfigError(
                    f"{where}.{key}", value, f"at most {where}.max_ttl ({rules.max_ttl:g}s)"
                )
    query = rules.query
    if query.mode not in QUERY_MODES:
        raise ConfigError(f"{where}.query.mode", query.mode, f"one of: {', '.join(QUERY_MODES)}")
    for key in ("drop", "keep"):
        patterns = getattr(query, key)
        if patterns and query.mode == "ignore":
            raise ConfigError(f"{where}.query.{key}", list(patterns), "empty with mode ignore")
        for j, name in enumerate(patterns):
            if not _PARAM_RE.fullmatch(name):
                raise ConfigError(
                    f"{where}.query.{key}[{j}]", name, "a parameter name, or a prefix and *"
                )
    for j, name in enumerate(rules.vary):
        if not _TOKEN_RE.fullmatch(name) or name == "*":
            raise ConfigError(f"{where}.vary[{j}]", name, "a request header field name")
