"""Header-field helpers shared by the policy modules.

Dates follow RFC 9110 §5.6.7, Age RFC 9111 §5.1, hop-by-hop fields
RFC 9110 §7.6.1. Every parser here returns ``None`` on bad input and never
raises: header values come from the network.
"""

from __future__ import annotations

import calendar
import math
import re
from email.utils import formatdate

from multidict import CIMultiDict, CIMultiDictProxy

AnyHeaders = CIMultiDict[str] | CIMultiDictProxy[str]

#: RFC 9110 §7.6.1 connection-specific fields, plus the legacy ones proxies
#: still meet (Keep-Alive, Proxy-Connection).
HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

#: RFC 9111 §1.2.2: a delta-seconds too large to represent becomes 2^31.
DELTA_MAX = 2147483648


def split_list(value: str) -> list[str]:
    """Split a comma-separated list (RFC 9110 §5.6.1), ignoring commas in quotes.

    Empty members are dropped and each member is stripped of whitespace.
    """
    if '"' not in value:
        return [m for m in (p.strip() for p in value.split(",")) if m]
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            member = "".join(cur).strip()
            if member:
                out.append(member)
            cur = []
            continue
        cur.append(ch)
    member = "".join(cur).strip()
    if member:
        out.append(member)
    return out


def combined(headers: AnyHeaders, name: str) -> str | None:
    """The field lines of ``name`` joined with ", ", or None when absent."""
    values = headers.getall(name, None)
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


def strip_hop_by_hop(headers: AnyHeaders) -> CIMultiDict[str]:
    """A new multidict without hop-by-hop fields (RFC 9110 §7.6.1).

    Fields named by ``Connection`` are connection-specific too and go as well.
    """
    drop = set(HOP_BY_HOP)
    for value in headers.getall("connection", ()):
        drop.update(m.lower() for m in split_list(value))
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


def age_value(seconds: float) -> str:
    """Age field value (RFC 9111 §5.1): a non-negative integer, capped at 2^31."""
    if math.isnan(seconds) or seconds <= 0:
        return "0"
    if seconds >= DELTA_MAX:
        return str(DELTA_MAX)
    return str(int(seconds))


def parse_delta_seconds(value: str) -> int | None:
    """RFC 9111 §1.2.2 delta-seconds; None when not a non-negative integer."""
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        return None
    return min(int(value), DELTA_MAX) if len(value) < 12 else DELTA_MAX


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_TIME = r"(\d\d):(\d\d):(\d\d)"
_IMF_RE = re.compile(rf"^{_DAY}, (\d\d) ([a-z]{{3}}) (\d{{4}}) {_TIME} gmt$")
_RFC850_RE = re.compile(rf"^{_LONG_DAY}, (\d\d)-([a-z]{{3}})-(\d\d) {_TIME} gmt$")
_ASCTIME_RE = re.compile(rf"^{_DAY} ([a-z]{{3}}) ([ \d]\d) {_TIME} (\d{{4}})$")


def _timestamp(year: int, month: str, day: int, hh: int, mm: int, ss: int) -> float | None:
    mon = _MONTHS.get(month)
    if mon is None or year < 1 or hh > 23 or mm > 59 or ss > 60:
        return None
    if day < 1 or day > calendar.monthrange(year, mon)[1]:
        return None
    # timegm is plain arithmetic, so a leap second (ss=60) rolls over.
    return float(calendar.timegm((year, mon, day, hh, mm, ss, 0, 0, 0)))


def parse_http_date(value: str | None) -> float | None:
    """HTTP-date (RFC 9110 §5.6.7) to epoch seconds; None when invalid.

    Accepts IMF-fixdate and the obsolete RFC 850 and asctime forms. Matching
    is case-insensitive (lenient); the weekday is checked for syntax only.
    RFC 850's two-digit year is pivoted at 70 (00-69 → 20xx): the §5.6.7
    "50 years in the future" rule needs a clock, which this pure module lacks.
    """
    if not value or len(value) > 64:
        return None
    text = value.strip().lower()
    try:
        if m := _IMF_RE.match(text):
            d, mon, y, hh, mm, ss = m.groups()
            return _timestamp(int(y), mon, int(d), int(hh), int(mm), int(ss))
        if m := _RFC850_RE.match(text):
            d, mon, yy, hh, mm, ss = m.groups()
            year = int(yy) + (2000 if int(yy) < 70 else 1900)
            return _timestamp(year, mon, int(d), int(hh), int(mm), int(ss))
        if m := _ASCTIME_RE.match(text):
            mon, d, hh, mm, ss, y = m.groups()
            return _timestamp(int(y), mon, int(d.strip()), int(hh), int(mm), int(ss))
    except (ValueError, OverflowError):
        return None
    return None


def format_http_date(ts: float) -> str:
    """IMF-fixdate (RFC 9110 §5.6.7) for epoch seconds ``ts``."""
    return formatdate(math.floor(ts), usegmt=True)
