"""``origins:`` and ``routes:``: loaded into types, every bad value named by its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.config import CacheRulesConfig, HealthCheckConfig, QueryRuleConfig, ServerConfig
from edge.config.load import config_from_dict, load_config
from edge.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "examples" / "pools.yaml"

POOLS: dict[str, Any] = {
    "origins": [
        {"name": "app", "servers": [{"url": "http://10.0.0.1:8000", "weight": 3}]},
        {"name": "api", "servers": [{"url": "http://10.0.0.2"}], "balance": "least-connections"},
    ]
}


def with_routes(*routes: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**POOLS, "routes": list(routes), **top}


def test_pools_and_routes_load_into_types() -> None:
    cfg = config_from_dict(
        with_routes(
            {"hosts": ["api.example.com"], "pool": "api"},
            {
                "hosts": ["*.example.com"],
                "paths": ["/static/"],
                "pool": "app",
                "max_request_body": "10MiB",
                "cache": {
                    "ttl": "1h",
                    "max_ttl": "1d",
                    "query": {"mode": "sort", "drop": ["utm_*"]},
                    "vary": ["X-Device"],
                },
            },
        )
    )
    app, api = cfg.origins
    assert app.servers == (ServerConfig("http://10.0.0.1:8000", 3),)
    assert (api.balance, api.max_fails, api.down_for, api.health) == (
        "least-connections",
        1,
        10.0,
        None,
    )
    first, second = cfg.routes
    assert (first.pool, first.cache) == ("api", CacheRulesConfig())
    assert second.cache.ttl == 3600.0 and second.cache.max_ttl == 86400.0
    assert second.cache.query == QueryRuleConfig("sort", ("utm_*",), ())
    assert second.cache.ignore_client_no_cache  # on by default inside a route
    assert (first.max_request_body, second.max_request_body) == (None, 10 << 20)


def test_a_health_probe_with_defaults() -> None:
    data = {"origins": [{"name": "a", "servers": [{"url": "http://x"}], "health": {}}]}
    assert config_from_dict(data).origins[0].health == HealthCheckConfig()


def test_the_example_config_loads() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert [p.name for p in cfg.origins] == ["www", "api"]
    assert [r.pool for r in cfg.routes] == ["api", "www", "www"]
    assert any(not r.cache.query.drop == () for r in cfg.routes)
    assert any(r.cache.ttl is not None for r in cfg.routes)


@pytest.mark.parametrize(
    ("data", "path", "says"),
    [
        (with_routes({"pool": "nope"}), "routes[0].pool", "one of: app, api"),
        ({"routes": [{}, {"pool": "api"}]}, "routes[1].pool", "origins is empty"),
        (with_routes({"hosts": ["a b"]}), "routes[0].hosts[0]", "host name"),
        (with_routes({"hosts": ["*"]}), "routes[0].hosts[0]", "host name"),
        (with_routes({"paths": ["static/"]}), "routes[0].paths[0]", "starting with /"),
        (with_routes({"cache": {"ttl": "-1s"}}), "routes[0].cache.ttl", "duration"),
        (
            with_routes({"cache": {"ttl": "2h", "max_ttl": "1h"}}),
            "routes[0].cache.ttl",
            "at most routes[0].cache.max_ttl",
        ),
        (with_routes({"cache": {"query": {"mode": "x"}}}), "routes[0].cache.query.mode", "sort"),
        (
            with_routes({"cache": {"query": {"mode": "ignore", "drop": ["a"]}}}),
            "routes[0].cache.query.drop",
            "empty with mode ignore",
        ),
        (
            with_routes({"cache": {"query": {"drop": ["a=b"]}}}),
            "routes[0].cache.query.drop[0]",
            "parameter name",
        ),
        (with_routes({"cache": {"vary": ["bad field"]}}), "routes[0].cache.vary[0]", "field"),
        (with_routes({"cache": {"ttl_max": 1}}), "routes[0].cache.ttl_max", "max_ttl"),
        (with_routes({"max_request_body": 0}), "routes[0].max_request_body", "size > 0"),
        (with_routes({"max_request_body": "lots"}), "routes[0].max_request_body", "a size"),
        ({"origins": [{"name": "a"}]}, "origins[0].servers", "at least one server"),
        (
            {"origins": [{"name": "a", "servers": [{"url": "ftp://x"}]}]},
            "origins[0].servers[0].url",
            "http://",
        ),
        (
            {"origins": [{"name": "a", "servers": [{"url": "http://x?q"}]}]},
            "origins[0].servers[0].url",
            "no query",
        ),
        (
            {"origins": [{"name": "a", "servers": [{"url": "http://x"}, {"url": "http://x/"}]}]},
            "origins[0].servers[1].url",
            "not already",
        ),
        (
            {"origins": [{"name": "a", "servers": [{"url": "http://x", "weight": 0}]}]},
            "origins[0].servers[0].weight",
            "1 to 1000",
        ),
        (
            {"origins": [POOLS["origins"][0], POOLS["origins"][0]]},
            "origins[1].name",
            "distinct",
        ),
        (
            {"origins": [{**POOLS["origins"][0], "balance": "random"}]},
            "origins[0].balance",
            "least-connections",
        ),
        (
            {"origins": [{**POOLS["origins"][0], "max_fails": 0}]},
            "origins[0].max_fails",
            ">= 1",
        ),
        (
            {"origins": [{**POOLS["origins"][0], "health": {"path": "healthz"}}]},
            "origins[0].health.path",
            "starting with /",
        ),
        (
            {"origins": [{**POOLS["origins"][0], "health": {"rise": 0}}]},
            "origins[0].health.rise",
            ">= 1",
        ),
        (
            {"origins": [{**POOLS["origins"][0], "health": {"expect_status": 99}}]},
            "origins[0].health.expect_status",
            "100-599",
        ),
    ],
)
def test_bad_pools_and_routes_name_their_key(data: dict[str, Any], path: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.path == path
    assert says in info.value.message
