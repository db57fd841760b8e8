"""Cache-Control directives (RFC 9111 §5.2) and targeted fields (RFC 9213).

One parsed form serves requests and responses: the grammar is shared
(§5.2), the meaning is applied by the caller. Parsing never raises.

Duplicates and bad values follow RFC 9111 §4.2.1: for conflicting
duplicates the most restrictive value wins (the smallest max-age, s-maxage,
stale-while-revalidate, stale-if-error, max-stale; the largest min-fresh);
an invalid max-age or s-maxage (e.g. ``max-age=abc``) makes the response
stale (value 0), an invalid stale-* or max-stale value grants nothing, an
invalid min-fresh is ignored. Unknown directives are ignored (§5.2.3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import http_sf

from edge.policy.headers import parse_delta_seconds, split_list

INF = float("inf")


@dataclass(frozen=True, slots=True)
class CacheControl:
    """Parsed directives. ``None`` means absent; seconds are floats."""

    max_age: float | None = None
    s_maxage: float | None = None
    no_cache: bool = False  # unqualified no-cache
    no_cache_fields: tuple[str, ...] = ()  # lower-cased field names of no-cache="…"
    private: bool = False  # unqualified private
    private_fields: tuple[str, ...] = ()
    no_store: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    public: bool = False
    immutable: bool = False  # RFC 8246
    must_understand: bool = False
    no_transform: bool = False
    stale_while_revalidate: float | None = None  # RFC 5861 §3
    stale_if_error: float | None = None  # RFC 5861 §4
    max_stale: float | None = None  # "any" (no value) = inf
    min_fresh: float | None = None
    only_if_cached: bool = False


EMPTY = CacheControl()

# Duplicate handling: which of two values is the more restrictive.
_MIN_FIELDS = ("max_age", "s_maxage", "stale_while_revalidate", "stale_if_error", "max_stale")
_FLAGS = {
    "no-store": "no_store",
    "must-revalidate": "must_revalidate",
    "proxy-revalidate": "proxy_revalidate",
    "public": "public",
    "immutable": "immutable",
    "must-understand": "must_understand",
    "no-transform": "no_transform",
    "only-if-cached": "only_if_cached",
}
_SECONDS = {
    "max-age": "max_age",
    "s-maxage": "s_maxage",
    "stale-while-revalidate": "stale_while_revalidate",
    "stale-if-error": "stale_if_error",
    "max-stale": "max_stale",
    "min-fresh": "min_fresh",
}
# What an invalid value means per directive (see the module docstring).
_INVALID: dict[str, float | None] = {
    "max_age": 0.0,
    "s_maxage": 0.0,
    "stale_while_revalidate": 0.0,
    "stale_if_error": 0.0,
    "max_stale": None,
    "min_fresh": None,
}


class _Builder:
    """Accumulates directives, applying the duplicate rules."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def flag(self, attr: str) -> None:
        self.values[attr] = True

    def seconds(self, attr: str, value: float | None) -> None:
        if value is None:
            return
        old = self.values.get(attr)
        if old is None:
            self.values[attr] = value
        elif attr in _MIN_FIELDS:
            self.values[attr] = min(old, value)
        else:  # min-fresh: the larger demand is the more restrictive
            self.values[attr] = max(old, value)

    def fields(self, attr: str, names: Iterable[str]) -> None:
        old: tuple[str, ...] = self.values.get(attr, ())
        new = [n.strip().lower() for n in names if n.strip()]
        self.values[attr] = tuple(dict.fromkeys([*old, *new]))

    def build(self) -> CacheControl:
        return replace(EMPTY, **self.values) if self.values else EMPTY


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        out: list[str] = []
        escaped = False
        for ch in value[1:-1]:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            else:
                out.append(ch)
        return "".join(out)
    return value


def _apply(b: _Builder, name: str, arg: str | None) -> None:
    if attr := _FLAGS.get(name):
        b.flag(attr)
    elif attr := _SECONDS.get(name):
        if arg is None:
            # max-stale without a value: any staleness (§5.2.1.2).
            b.seconds(attr, INF if name == "max-stale" else _INVALID[attr])
        else:
            delta = parse_delta_seconds(arg)
            b.seconds(attr, _INVALID[attr] if delta is None else float(delta))
    elif name in ("no-cache", "private"):
        base = name.replace("-", "_")
        if arg is None:
            b.flag(base)
        else:
            b.fields(base + "_fields", arg.split(","))


#: parsed values by their field lines: a few distinct values make most of the traffic
_PARSED: dict[tuple[str, ...], CacheControl] = {}
_PARSED_MAX = 4096  # entries; the memo starts again when full (values come from the network)
_PARSED_LONGEST = 256  # characters; longer values are parsed every time


def parse_cache_control(values: Iterable[str]) -> CacheControl:
    """Parse every Cache-Control field line as one list (RFC 9111 §5.2).

    Directive names are case-insensitive; arguments may be tokens or
    quoted-strings (§5.2: recipients accept both forms). The result is frozen,
    so one parse of a value serves every response that carries it.
    """
    lines = tuple(values)
    if not lines:
        return EMPTY
    found = _PARSED.get(lines)
    if found is None:
        found = _parse(lines)
        if sum(len(line) for line in lines) <= _PARSED_LONGEST:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[lines] = found
    return found


def _parse(values: tuple[str, ...]) -> CacheControl:
    b = _Builder()
    for line in values:
        for member in split_list(line):
            name, eq, arg = member.partition("=")
            if eq and (name != name.rstrip() or arg != arg.lstrip()):
                continue  # "max-age =60" or "max-age= 60": not the §5.2 grammar; ignored
            name = name.strip().lower()
            if not name:
                continue
            _apply(b, name, _unquote(arg.strip()) if eq else None)
    return b.build()


def _sf_arg(value: Any) -> str | None:
    """Map an RFC 9651 bare item back to a directive argument (RFC 9213 §2.1)."""
    if isinstance(value, bool):
        return None if value else "\x00false"
    if isinstance(value, int):
        return str(value) if value >= 0 else "-"
    if isinstance(value, (str, http_sf.Token)):
        return str(value)
    if isinstance(value, Decimal):
        return "-"  # never valid delta-seconds
    return "-"


def parse_targeted(value: str) -> CacheControl | None:
    """Parse a targeted field such as CDN-Cache-Control (RFC 9213 §2.1).

    The value is an RFC 9651 Dictionary. An empty or invalid field is
    ignored (None) so that the caller falls back to Cache-Control. Boolean
    false turns a directive off; a non-integer delta-seconds is invalid and
    handled as in Cache-Control.
    """
    try:
        parsed = http_sf.parse(value.encode("latin-1"), tltype="dictionary")
    except Exception:  # the parser has several failure modes; all mean "invalid"
        return None
    if not isinstance(parsed, dict) or not parsed:
        return None
    b = _Builder()
    for key, member in parsed.items():
        item = member[0] if isinstance(member, tuple) else member
        if isinstance(item, list):  # an Inner List is no directive argument
            continue
        if str(key) in _SECONDS and not isinstance(item, bool) and not isinstance(item, int):
            # RFC 9213 §2.1: a value of the wrong type makes the field invalid, and an
            # invalid field is ignored (Cache-Control applies), not half-understood.
            return None
        arg = _sf_arg(item)
        if arg == "\x00false":
            continue
        _apply(b, str(key), arg)
    return b.build()
