"""The value rules of ``proxy.http2`` (``Http2Config``), beyond the types the loader checks.

Each failure is a :class:`ConfigError` naming the key path, the value and what is expected,
as every other rule of the loader does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.config import Http2Config
from edge.errors import ConfigError

#: RFC 9113 §6.5.2 and §6.9.1: the largest window and the default one
MAX_WINDOW = (1 << 31) - 1
DEFAULT_WINDOW = 65535


@dataclass(frozen=True, slots=True)
class _Rule:
    key: str
    ok: Callable[[int | float], bool]
    expected: str


_RULES = (
    _Rule("max_concurrent_streams", lambda v: 1 <= v <= 10000, "an integer from 1 to 10000"),
    _Rule("max_header_list_size", lambda v: 1024 <= v <= 1 << 24, "a size from 1KiB to 16MiB"),
    _Rule("max_header_block", lambda v: 1024 <= v <= 1 << 24, "a size from 1KiB to 16MiB"),
    _Rule("hpack_table_size", lambda v: 0 <= v <= 1 << 16, "a size from 0 to 64KiB"),
    _Rule(
        "initial_window",
        lambda v: DEFAULT_WINDOW <= v <= MAX_WINDOW,
        f"a size from {DEFAULT_WINDOW} to {MAX_WINDOW} bytes",
    ),
    _Rule("max_resets", lambda v: v >= 1, "an integer >= 1"),
    _Rule("max_control_frames", lambda v: v >= 1, "an integer >= 1"),
    _Rule("max_empty_frames", lambda v: v >= 1, "an integer >= 1"),
    _Rule("flood_window", lambda v: v > 0, "a duration > 0"),
)


def check_http2(cfg: Http2Config, where: str = "proxy.http2") -> None:
    """Raise :class:`ConfigError` for the first value of ``cfg`` out of its range."""
    for rule in _RULES:
        value = getattr(cfg, rule.key)
        if not rule.ok(value):
            raise ConfigError(f"{where}.{rule.key}", value, rule.expected)
