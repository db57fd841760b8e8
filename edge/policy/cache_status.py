"""Cache-Status field members (RFC 9211), serialised as RFC 9651 List members.

Hand-written rather than through http_sf: this runs on every response.
"""

from __future__ import annotations

import functools
import math
import re

_SF_TOKEN = re.compile(r"^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$")


@functools.lru_cache(maxsize=1024)
def sf_bare(value: str) -> str:
    """A Token when ``value`` is one (RFC 9651 §3.3.4), else a String (§3.3.3).

    Characters a String cannot carry (outside printable ASCII) become "?".
    """
    if _SF_TOKEN.match(value):
        return value
    chars = []
    for ch in value:
        if ch in ('"', "\\"):
            chars.append("\\" + ch)
        elif " " <= ch <= "~":
            chars.append(ch)
        else:
            chars.append("?")
    return '"' + "".join(chars) + '"'


_INT_MAX = 999_999_999_999_999  # RFC 9651 §3.3.1 Integer range


def cache_status(
    name: str,
    *,
    hit: bool,
    fwd: str | None = None,
    fwd_status: int | None = None,
    ttl: float | None = None,
    stored: bool = False,
    collapsed: bool = False,
    detail: str | None = None,
) -> str:
    """One Cache-Status member, e.g. ``edge; hit; ttl=42`` (RFC 9211 §2).

    ``ttl`` is rounded to an Integer (it may be negative for stale hits,
    §2.5); ``fwd`` and ``detail`` become Tokens when valid, else Strings.
    """
    if hit and fwd is None and not stored and not collapsed and fwd_status is None:
        # the hit path: "name; hit; ttl=N; detail=D" without the general machinery
        if ttl is not None and math.isfinite(ttl):
            head = f"{sf_bare(name)}; hit; ttl={max(-_INT_MAX, min(_INT_MAX, round(ttl)))}"
        else:
            head = f"{sf_bare(name)}; hit"
        return head if detail is None else f"{head}; detail={sf_bare(detail)}"
    parts = [sf_bare(name)]
    if hit:
        parts.append("hit")
    if fwd is not None:
        parts.append("fwd=" + sf_bare(fwd))
    if fwd_status is not None:
        parts.append(f"fwd-status={int(fwd_status)}")
    if ttl is not None and math.isfinite(ttl):
        parts.append(f"ttl={max(-_INT_MAX, min(_INT_MAX, round(ttl)))}")
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if detail is not None:
        parts.append("detail=" + sf_bare(detail))
    return "; ".join(parts)
