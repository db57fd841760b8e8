"""Typed, frozen configuration, and the loader that fills it.

``load_config`` reads YAML, substitutes ``${VAR}`` / ``${VAR:-default}`` in string values, then
``config_from_dict`` walks the dataclasses below by their type hints: every key is checked,
unknown keys and wrong types are errors, sizes (``256MiB``) and durations (``30s``) are
converted where a field is marked ``kind: size`` / ``kind: duration``. Value rules that go
beyond the type (ranges, choices, cross-field) live in :mod:`edge.config.checks`. Every failure is a
``ConfigError`` naming the key path, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

import yaml

from edge.config import Config, HostPort
from edge.config.checks import check_rules
from edge.config.units import _is_number, parse_duration, parse_hostport, parse_size
from edge.errors import ConfigError

# ---------------------------------------------------------------------------- environment


class _EnvStr(str):
    """A string that came out of ``${VAR}`` substitution: non-string fields may re-read it."""

    __slots__ = ()


_REF_RE = re.compile(r"\$\{([^}]*)\}|\$\{")
_REF_INNER_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def _interpolate(value: object, env: Mapping[str, str], path: str) -> object:
    if isinstance(value, Mapping):
        return {k: _interpolate(v, env, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        inner = match.group(1)
        ref = _REF_INNER_RE.fullmatch(inner) if inner is not None else None
        if ref is None:
            raise ConfigError(path, value, "references written ${NAME} or ${NAME:-default}")
        name, default = ref.group(1), ref.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            path, value, f"environment variable {name} to be set (or a default: ${{{name}:-...}})"
        )

    return _EnvStr(_REF_RE.sub(substitute, value))


# ---------------------------------------------------------------------------- loading


def load_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> Config:
    """Read, interpolate and validate a YAML config file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    where = os.fspath(path)
    try:
        with open(where, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(where, e.strerror or str(e), "a readable YAML config file") from None
    except UnicodeDecodeError:
        raise ConfigError(where, "undecodable bytes", "a UTF-8 YAML config file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(at, problem, "valid YAML") from None
    if data is None:
        return Config()
    if not isinstance(data, Mapping):
        raise ConfigError(where, data, "a YAML mapping at the top level")
    interpolated = _interpolate(data, os.environ if env is None else env, "")
    assert isinstance(interpolated, Mapping)
    return config_from_dict(interpolated)


def config_from_dict(data: Mapping[str, object]) -> Config:
    """Validate a plain mapping (parsed YAML) into a ``Config``; ``ConfigError`` otherwise."""
    if not isinstance(data, Mapping):
        raise ConfigError("<top level>", data, "a mapping of config keys")
    cfg = _build(Config, data, "")
    assert isinstance(cfg, Config)
    check_rules(cfg, {})
    return cfg


def _join(prefix: str, key: object) -> str:
    text = str(key)
    if not text or not text.isprintable() or any(c in text for c in ". "):
        text = repr(key)  # keep odd keys ("", "a.b") visible in the path
    return f"{prefix}.{text}" if prefix else text


def _build(cls: type[Any], data: Mapping[Any, object], prefix: str) -> object:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, object] = {}
    for key, raw in data.items():
        path = _join(prefix, key)
        spec = known.get(key) if isinstance(key, str) else None
        if spec is None:
            raise ConfigError(path, key, f"one of the keys: {', '.join(known)}")
        values[spec.name] = _convert(hints[spec.name], spec.metadata.get("kind"), raw, path)
    return cls(**values)


_TYPE_EXPECTED: dict[object, str] = {
    bool: "a boolean (true or false)",
    int: "an integer",
    float: "a number",
    str: "a string",
}


def _convert(hint: Any, kind: object, value: object, path: str) -> object:
    """One field's value, checked against its type hint and converted (see module docstring)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        if isinstance(value, _EnvStr) and not value and type(None) in args:
            return None  # `token: ${EDGE_ADMIN_TOKEN:-}` means "unset"
        (hint,) = (a for a in args if a is not type(None))
    if isinstance(value, _EnvStr) and hint is not str:
        value = _reread(value)
    if kind == "size":
        return parse_size(value, path=path)
    if kind == "duration":
        return parse_duration(value, path=path)
    if hint is HostPort:
        return parse_hostport(value, path=path)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise ConfigError(path, value, "a list")
        (item,) = (a for a in typing.get_args(hint) if a is not Ellipsis)
        return tuple(_convert(item, None, v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            keys = ", ".join(f.name for f in dataclasses.fields(hint))
            raise ConfigError(path, value, f"a mapping with the keys: {keys}")
        return _build(hint, value, path)
    if hint is float and _is_number(value):
        try:
            number = float(typing.cast(float, value))
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        raise ConfigError(path, value, "a finite number")
    if hint is int and _is_number(value) and isinstance(value, int):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return str(value)
    if hint in _TYPE_EXPECTED:
        raise ConfigError(path, value, _TYPE_EXPECTED[hint])
    raise TypeError(f"config field {path} has an unsupported type {hint!r}")


def _reread(value: _EnvStr) -> object:
    """Read an interpolated string as a YAML scalar, so ``workers: ${N}`` can become an int."""
    try:
        scalar = yaml.safe_load(value)
    except yaml.YAMLError:
        return str(value)
    return scalar if isinstance(scalar, bool | int | float | str) else str(value)


# ---------------------------------------------------------------------------- flags

_FLAGS = {
    "proxy.listen": "--listen",
    "origin.url": "--origin",
    "admin.listen": "--admin-listen",
    "cache.dir": "--cache-dir",
    "name": "--name",
    "workers": "--workers",
}


def apply_overrides(
    cfg: Config,
    *,
    listen: str | None,
    origin: str | None,
    admin_listen: str | None,
    cache_dir: str | None,
    name: str | None,
    workers: int | None,
) -> Config:
    """``cfg`` with the command-line flags that were given; errors name the flag."""
    if listen is not None:
        hp = parse_hostport(listen, path="--listen")
        cfg = dataclasses.replace(cfg, proxy=dataclasses.replace(cfg.proxy, listen=hp))
    if admin_listen is not None:
        hp = parse_hostport(admin_listen, path="--admin-listen")
        cfg = dataclasses.replace(cfg, admin=dataclasses.replace(cfg.admin, listen=hp))
    if origin is not None:
        cfg = dataclasses.replace(cfg, origin=dataclasses.replace(cfg.origin, url=origin))
    if cache_dir is not None:
        cfg = dataclasses.replace(cfg, cache=dataclasses.replace(cfg.cache, dir=cache_dir))
    if name is not None:
        cfg = dataclasses.replace(cfg, name=name)
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int):
            raise ConfigError("--workers", workers, "an integer >= 1")
        cfg = dataclasses.replace(cfg, workers=workers)
    check_rules(cfg, _FLAGS)
    return cfg
