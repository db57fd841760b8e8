"""Config loading and validation: parsers, key checks, types, rules, env, overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import CacheConfig, Config, HostPort, MemoryTierConfig
from edge.config.load import apply_overrides, config_from_dict, load_config
from edge.config.units import parse_duration, parse_hostport, parse_size
from edge.errors import ConfigError

REFERENCE = Path(__file__).resolve().parent.parent / "config" / "edge.yaml"
NO_OVERRIDES: dict[str, Any] = dict(
    listen=None, origin=None, admin_listen=None, cache_dir=None, name=None, workers=None
)


# ---------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0),
        (1234, 1234),
        ("100B", 100),
        ("100", 100),
        ("512KiB", 512 * 1024),
        ("256MiB", 256 << 20),
        ("4GiB", 4 << 30),
        ("1TiB", 1 << 40),
        ("10KB", 10_000),
        ("10MB", 10_000_000),
        ("2GB", 2_000_000_000),
        ("1.5KiB", 1536),
        (" 8 MiB ", 8 << 20),
    ],
)
def test_parse_size_accepts(text: int | str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    [-1, True, 1.5, None, "", "MiB", "10mb", "10 M", "1.5B", "-3KiB", "ten", "1e6", "1" * 40],
)
def test_parse_size_rejects(text: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_size(text, path="cache.memory.max_bytes")
    assert info.value.path == "cache.memory.max_bytes"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0.0),
        (30, 30.0),
        (2.5, 2.5),
        ("30", 30.0),
        ("250ms", 0.25),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
    ],
)
def test_parse_duration_accepts(text: float | str, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [-1, True, None, float("nan"), float("inf"), 10**400, "", "s", "5 minutes", "1w", "-5s", "1h-"],
)
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(text, path="origin.read_timeout")
    assert info.value.path == "origin.read_timeout"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", HostPort("127.0.0.1", 8080)),
        ("localhost:1", HostPort("localhost", 1)),
        ("edge-a.example.com:65535", HostPort("edge-a.example.com", 65535)),
        ("[::1]:8443", HostPort("::1", 8443)),
        ("[2001:db8::2]:80", HostPort("2001:db8::2", 80)),
        ("127.0.0.1:0", HostPort("127.0.0.1", 0)),
    ],
)
def test_parse_hostport_accepts(text: str, expected: HostPort) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",
        "127.0.0.1:",
        ":8080",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:http",
        "::1:80",
        "[::1:80",
        "[not-v6]:80",
        "host name:80",
        8080,
        None,
    ],
)
def test_parse_hostport_rejects(text: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_hostport(text, path="proxy.listen")
    assert info.value.path == "proxy.listen"


def test_hostport_str_round_trips() -> None:
    for text in ("127.0.0.1:8080", "[::1]:8443"):
        assert str(parse_hostport(text)) == text


# ---------------------------------------------------------------------------- keys and types


def test_empty_mapping_is_the_defaults() -> None:
    assert config_from_dict({}) == Config()


def test_reference_file_loads_to_exactly_the_defaults() -> None:
    assert load_config(REFERENCE, env={}) == Config()


def test_none_path_is_the_defaults() -> None:
    assert load_config(None) == Config()


def test_values_are_converted() -> None:
    cfg = config_from_dict(
        {
            "workers": 4,
            "origin": {"url": "https://origin.example:8443", "connect_timeout": "250ms"},
            "proxy": {"listen": "[::1]:0", "max_request_body": "10MB"},
            "cache": {"memory": {"max_bytes": "1GiB", "policy": "lru"}, "heuristic_max": 60},
            "admin": {"token": "0123456789abcdef"},
        }
    )
    assert cfg.workers == 4
    assert cfg.origin.connect_timeout == 0.25
    assert cfg.proxy.listen == HostPort("::1", 0)
    assert cfg.proxy.max_request_body == 10_000_000
    assert cfg.cache.memory == MemoryTierConfig(max_bytes=1 << 30, policy="lru")
    assert cfg.cache.heuristic_max == 60.0 and isinstance(cfg.cache.heuristic_max, float)
    assert cfg.admin.token == "0123456789abcdef"


@pytest.mark.parametrize(
    ("data", "path", "listed"),
    [
        ({"nmae": "x"}, "nmae", "name"),
        ({"cache": {"memroy": {}}}, "cache.memroy", "memory"),
        ({"cache": {"memory": {"max_byts": 1}}}, "cache.memory.max_byts", "max_object_bytes"),
        ({"logging": {"level": "info", "colour": True}}, "logging.colour", "access_log"),
        ({"proxy": {1: 2}}, "proxy.1", "listen"),
    ],
)
def test_unknown_key_names_its_path_and_the_allowed_keys(
    data: dict[str, Any], path: str, listed: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.path == path
    assert listed in info.value.expected
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        ({"workers": True}, "workers", "an integer"),
        ({"workers": "4"}, "workers", "an integer"),
        ({"workers": 1.0}, "workers", "an integer"),
        ({"cache": {"max_variants": False}}, "cache.max_variants", "an integer"),
        ({"origin": {"preserve_host": "yes"}}, "origin.preserve_host", "a boolean"),
        ({"origin": {"preserve_host": 1}}, "origin.preserve_host", "a boolean"),
        ({"name": 7}, "name", "a string"),
        ({"cache": {"heuristic_fraction": True}}, "cache.heuristic_fraction", "a number"),
        ({"cache": {"heuristic_fraction": "0.5"}}, "cache.heuristic_fraction", "a number"),
        ({"cache": {"memory": {"max_bytes": True}}}, "cache.memory.max_bytes", "a size"),
        ({"cache": {"memory": {"max_bytes": 1.5}}}, "cache.memory.max_bytes", "a size"),
        ({"origin": {"read_timeout": False}}, "origin.read_timeout", "a duration"),
        ({"proxy": {"listen": 8080}}, "proxy.listen", "HOST:PORT"),
        ({"cache": "./var"}, "cache", "a mapping"),
        ({"cache": {"memory": None}}, "cache.memory", "a mapping"),
        ({"admin": {"token": 1234567890123456}}, "admin.token", "a string"),
    ],
)
def test_wrong_type_names_path_value_and_type(
    data: dict[str, Any], path: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.path == path
    assert expected in info.value.expected


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"name": "edge a"}, "name"),
        ({"name": ""}, "name"),
        ({"workers": 0}, "workers"),
        ({"origin": {"url": "ftp://origin"}}, "origin.url"),
        ({"origin": {"url": "http://"}}, "origin.url"),
        ({"origin": {"url": "http://o:99999"}}, "origin.url"),
        ({"origin": {"connect_timeout": 0}}, "origin.connect_timeout"),
        ({"origin": {"max_connections": -1}}, "origin.max_connections"),
        ({"proxy": {"max_header_size": 0}}, "proxy.max_header_size"),
        ({"proxy": {"front": "h2"}}, "proxy.front"),
        ({"proxy": {"front": 1}}, "proxy.front"),
        ({"proxy": {"limits": {"request_line": "10B"}}}, "proxy.limits.request_line"),
        ({"proxy": {"limits": {"header_count": 0}}}, "proxy.limits.header_count"),
        ({"proxy": {"limits": {"header_bytes": 1}}}, "proxy.limits.header_bytes"),
        ({"proxy": {"timeouts": {"head": 0}}}, "proxy.timeouts.head"),
        ({"proxy": {"timeouts": {"keepalive": "-1s"}}}, "proxy.timeouts.keepalive"),
        ({"proxy": {"timeouts": {"body_idle": "soon"}}}, "proxy.timeouts.body_idle"),
        ({"cache": {"dir": ""}}, "cache.dir"),
        ({"cache": {"memory": {"policy": "fifo"}}}, "cache.memory.policy"),
        ({"cache": {"disk": {"max_bytes": "0B"}}}, "cache.disk.max_bytes"),
        ({"cache": {"heuristic_fraction": 0}}, "cache.heuristic_fraction"),
        ({"cache": {"heuristic_fraction": 1.5}}, "cache.heuristic_fraction"),
        ({"cache": {"targeted_field": "Edge Cache"}}, "cache.targeted_field"),
        ({"cache": {"max_variants": 0}}, "cache.max_variants"),
        (
            {"cache": {"compression": {"codings": ["br", "deflate"]}}},
            "cache.compression.codings[1]",
        ),
        ({"cache": {"compression": {"codings": ["br", "br"]}}}, "cache.compression.codings[1]"),
        ({"cache": {"compression": {"types": ["text"]}}}, "cache.compression.types[0]"),
        ({"cache": {"compression": {"min_size": "-1"}}}, "cache.compression.min_size"),
        ({"cache": {"compression": {"zstd_level": 20}}}, "cache.compression.zstd_level"),
        ({"cache": {"compression": {"brotli_level": 12}}}, "cache.compression.brotli_level"),
        ({"cache": {"compression": {"gzip_level": 0}}}, "cache.compression.gzip_level"),
        ({"cache": {"compression": {"enabled": "yes"}}}, "cache.compression.enabled"),
        ({"cache": {"prefetch": {"per_response": 0}}}, "cache.prefetch.per_response"),
        ({"cache": {"prefetch": {"concurrency": 65}}}, "cache.prefetch.concurrency"),
        ({"cache": {"prefetch": {"max_in_flight": 0}}}, "cache.prefetch.max_in_flight"),
        ({"cache": {"refresh_ahead": {"fraction": 1}}}, "cache.refresh_ahead.fraction"),
        ({"cache": {"refresh_ahead": {"fraction": -0.1}}}, "cache.refresh_ahead.fraction"),
        ({"cache": {"refresh_ahead": {"min_hits": 0}}}, "cache.refresh_ahead.min_hits"),
        ({"cache": {"refresh_ahead": {"every": 2}}}, "cache.refresh_ahead.every"),
        ({"logging": {"level": "verbose"}}, "logging.level"),
        ({"logging": {"format": "xml"}}, "logging.format"),
        ({"admin": {"token": ""}}, "admin.token"),
    ],
)
def test_bad_value_names_its_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.path == path


def test_short_admin_token_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"admin": {"token": "hunter2"}})
    assert info.value.path == "admin.token"
    assert "hunter2" not in str(info.value)


def test_max_object_bytes_may_not_exceed_max_bytes() -> None:
    ok = config_from_dict({"cache": {"memory": {"max_bytes": "8MiB", "max_object_bytes": "8MiB"}}})
    assert ok.cache.memory.max_object_bytes == ok.cache.memory.max_bytes
    with pytest.raises(ConfigError) as info:
        config_from_dict({"cache": {"memory": {"max_bytes": "1MiB"}}})
    assert info.value.path == "cache.memory.max_object_bytes"
    assert "cache.memory.max_bytes" in info.value.expected


# ---------------------------------------------------------------------------- files and env


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_env_interpolation_with_value_and_default(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "name: ${NODE}\n"
        "workers: ${WORKERS:-3}\n"
        "origin:\n  url: http://${ORIGIN_HOST:-127.0.0.1}:${ORIGIN_PORT}/\n"
        "cache:\n  dir: ${DIR:-}/cache\n  memory:\n    max_bytes: ${MEM:-64MiB}\n"
        "proxy:\n  purge_method: ${PURGE}\n",
    )
    cfg = load_config(path, env={"NODE": "edge-b", "ORIGIN_PORT": "9000", "PURGE": "true"})
    assert cfg.name == "edge-b"
    assert cfg.workers == 3
    assert cfg.origin.url == "http://127.0.0.1:9000/"
    assert cfg.cache.dir == "/cache"
    assert cfg.cache.memory.max_bytes == 64 << 20
    assert cfg.proxy.purge_method is True


def test_env_interpolation_keeps_string_fields_strings(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "name: ${N}\n"), env={"N": "123"})
    assert cfg.name == "123"
    assert type(cfg.name) is str


def test_empty_interpolation_of_a_nullable_key_is_null(tmp_path: Path) -> None:
    path = _write(tmp_path, "admin:\n  token: ${TOKEN:-}\n")
    assert load_config(path, env={}).admin.token is None
    assert load_config(path, env={"TOKEN": "t" * 16}).admin.token == "t" * 16


def test_missing_env_var_without_default_names_key_and_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, "admin:\n  token: ${EDGE_TEST_TOKEN}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.path == "admin.token"
    assert "EDGE_TEST_TOKEN" in str(info.value)


def test_malformed_env_reference_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, "cache:\n  dir: ${not a name}\n"), env={})
    assert info.value.path == "cache.dir"


def test_interpolated_value_is_still_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, "workers: ${W}\n"), env={"W": "many"})
    assert info.value.path == "workers"
    assert info.value.value == "many"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.path == str(missing)
    assert "readable YAML" in info.value.expected


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: edge\ncache:\n  dir: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path.startswith(f"{path}:")
    assert info.value.expected == "valid YAML"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, "- a\n- b\n"))
    assert info.value.path == str(tmp_path / "edge.yaml")


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "# nothing\n")) == Config()


# ---------------------------------------------------------------------------- overrides


def test_no_overrides_changes_nothing() -> None:
    assert apply_overrides(Config(), **NO_OVERRIDES) == Config()


def test_overrides_replace_only_their_fields() -> None:
    base = Config(cache=CacheConfig(max_variants=7))
    cfg = apply_overrides(
        base,
        listen="0.0.0.0:9080",
        origin="https://origin.example",
        admin_listen="[::1]:0",
        cache_dir="/tmp/edge-a",
        name="edge-a",
        workers=2,
    )
    assert cfg.proxy.listen == HostPort("0.0.0.0", 9080)
    assert cfg.origin.url == "https://origin.example"
    assert cfg.admin.listen == HostPort("::1", 0)
    assert cfg.cache.dir == "/tmp/edge-a"
    assert (cfg.name, cfg.workers) == ("edge-a", 2)
    assert cfg.cache.max_variants == 7
    assert dataclasses.replace(cfg, proxy=base.proxy).proxy == base.proxy


@pytest.mark.parametrize(
    ("flag", "kwarg", "value"),
    [
        ("--listen", "listen", "8080"),
        ("--admin-listen", "admin_listen", "localhost:70000"),
        ("--origin", "origin", "origin.example"),
        ("--cache-dir", "cache_dir", ""),
        ("--name", "name", "a/b"),
        ("--workers", "workers", 0),
    ],
)
def test_bad_override_names_the_flag(flag: str, kwarg: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(Config(), **{**NO_OVERRIDES, kwarg: value})
    assert info.value.path == flag


# ---------------------------------------------------------------------------- property

_FIELD_NAMES = sorted(
    {f.name for cls in (Config, CacheConfig, MemoryTierConfig) for f in dataclasses.fields(cls)}
    | {"listen", "url", "token", "max_request_body", "level", "format", "enabled"}
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["256MiB", "30s", "1h30m", "127.0.0.1:0", "[::1]:80", "lru", "json"])
)
_keys = st.sampled_from(_FIELD_NAMES) | st.text(max_size=8) | st.integers()
_trees = st.recursive(
    _scalars,
    lambda children: st.dictionaries(_keys, children, max_size=5) | st.lists(children, max_size=3),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _trees, max_size=6))
def test_config_from_dict_returns_config_or_config_error(data: dict[Any, Any]) -> None:
    try:
        cfg = config_from_dict(data)
    except ConfigError as e:
        assert e.path
    else:
        assert isinstance(cfg, Config)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"cache": {"serve_stale_on_error": "-1s"}}, "cache.serve_stale_on_error"),
        ({"cache": {"serve_stale_on_error": "forever"}}, "cache.serve_stale_on_error"),
        ({"cache": {"store_set_cookie": "always"}}, "cache.store_set_cookie"),
        ({"cache": {"store_set_cookie": True}}, "cache.store_set_cookie"),
    ],
)
def test_stale_grace_and_set_cookie_bad_values_name_their_key(
    data: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.path == path


def test_stale_grace_and_set_cookie_values() -> None:
    cfg = config_from_dict({"cache": {"serve_stale_on_error": "10m", "store_set_cookie": "rfc"}})
    assert (cfg.cache.serve_stale_on_error, cfg.cache.store_set_cookie) == (600.0, "rfc")
    default = config_from_dict({})
    assert (default.cache.serve_stale_on_error, default.cache.store_set_cookie) == (
        86400.0,
        "shared-only",
    )


def test_trusted_proxies_are_checked_by_index() -> None:
    ok = config_from_dict({"proxy": {"trusted_proxies": ["10.0.0.0/8", "::1"]}})
    assert ok.proxy.trusted_proxies == ("10.0.0.0/8", "::1")
    with pytest.raises(ConfigError, match=r"proxy\.trusted_proxies\[1\]"):
        config_from_dict({"proxy": {"trusted_proxies": ["10.0.0.0/8", "lb.example"]}})
