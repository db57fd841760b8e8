"""Values written in config files and flags: sizes, durations, addresses.

Each parser takes what YAML or the command line gave and returns the typed
value, or raises :class:`~edge.errors.ConfigError` naming ``path``.
"""

from __future__ import annotations

import ipaddress
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from edge.errors import ConfigError

# Field metadata: how a config field's value is read (see ``edge.config.load``).
SIZE: Mapping[str, str] = {"kind": "size"}  # int bytes, or "512KiB", "256MiB", "10MB", "100B"
DURATION: Mapping[str, str] = {"kind": "duration"}  # float seconds, or "250ms", "30s", "5m", "1h"


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "TiB": 1 << 40,
}
_SIZE_RE = re.compile(r"\s*(\d{1,15}(?:\.\d{1,15})?)\s*([KMGT]i?B|B)?\s*")
_SIZE_EXPECTED = "a size: bytes as an integer, or a string like '100B', '512KiB', '256MiB', '10MB'"

_DURATION_UNITS = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
    "d": Fraction(86400),
}
_DURATION_PART = r"(\d{1,15}(?:\.\d{1,15})?)(ms|s|m|h|d)"
_DURATION_RE = re.compile(rf"\s*(?:{_DURATION_PART})+\s*")
_DURATION_EXPECTED = (
    "a duration: seconds as a number, or a string like '250ms', '30s', '5m', '1h30m'"
)

_HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_HOSTPORT_EXPECTED = "'HOST:PORT' or '[IPv6]:PORT' with a port in 0..65535"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_size(s: object, *, path: str = "size") -> int:
    """Bytes from an int or ``"512KiB"`` / ``"256MiB"`` / ``"10MB"`` / ``"100B"``.

    KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB powers of 1000. Raises ``ConfigError`` at
    ``path`` for anything else, for negatives and for fractions of a byte.
    """
    if isinstance(s, int) and not isinstance(s, bool):
        if s < 0:
            raise ConfigError(path, s, "a size >= 0")
        return s
    if not isinstance(s, str):
        raise ConfigError(path, s, _SIZE_EXPECTED)
    match = _SIZE_RE.fullmatch(s)
    if match is None:
        raise ConfigError(path, s, _SIZE_EXPECTED)
    amount = Fraction(match.group(1)) * _SIZE_UNITS[match.group(2) or ""]
    if amount.denominator != 1:
        raise ConfigError(path, s, "a whole number of bytes")
    return int(amount)


def parse_duration(s: object, *, path: str = "duration") -> float:
    """Seconds from a number, or ``"250ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1h30m"``.

    A bare number string (``"30"``) is seconds. Raises ``ConfigError`` at ``path`` for anything
    else, for negatives and for non-finite values.
    """
    if _is_number(s):
        try:
            seconds = float(typing.cast(float, s))
        except OverflowError:
            raise ConfigError(path, s, "a finite duration") from None
    elif isinstance(s, str):
        text = s.strip()
        if re.fullmatch(r"\d{1,15}(?:\.\d{1,15})?", text):
            seconds = float(text)
        elif _DURATION_RE.fullmatch(s):
            total = sum(
                (Fraction(n) * _DURATION_UNITS[u] for n, u in re.findall(_DURATION_PART, s)),
                Fraction(0),
            )
            seconds = float(total)
        else:
            raise ConfigError(path, s, _DURATION_EXPECTED)
    else:
        raise ConfigError(path, s, _DURATION_EXPECTED)
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(path, s, "a finite duration >= 0")
    return seconds


def parse_hostport(s: object, *, path: str = "address") -> HostPort:
    """``HostPort`` from ``"host:port"`` or ``"[::1]:port"``; port 0 (ephemeral) is allowed."""
    if not isinstance(s, str):
        raise ConfigError(path, s, _HOSTPORT_EXPECTED)
    host, sep, port_text = s.strip().rpartition(":")
    if not sep or not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        raise ConfigError(path, s, _HOSTPORT_EXPECTED)
    port = int(port_text)
    if port > 65535:
        raise ConfigError(path, s, "a port in 0..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(path, s, "an IPv6 address inside [...]") from None
    elif not _HOSTNAME_RE.fullmatch(host):
        raise ConfigError(path, s, _HOSTPORT_EXPECTED)
    return HostPort(host, port)
