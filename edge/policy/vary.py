"""Secondary cache keys from Vary (RFC 9111 §4.1).

Request field values are normalised before comparison, as §4.1 allows
("combining multiple field lines, normalizing both header field values in
a way that is known to have identical semantics"), to limit variant
explosion: Accept-Encoding becomes the sorted set of acceptable codings,
Accept-Language the lower-cased languages in preference order.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.models import Entry
from edge.policy.headers import AnyHeaders, split_list

#: A field absent from the request matches only another absent field (§4.1).
ABSENT = "\x00"

# Fields whose values are case-insensitive (media types, charsets, codings).
_CASE_INSENSITIVE = frozenset({"accept", "accept-charset", "accept-encoding", "accept-language"})


def vary_names(resp_headers: AnyHeaders) -> tuple[str, ...]:
    """The lower-cased, sorted, deduplicated Vary field names; ``("*",)`` for any ``*``."""
    names: set[str] = set()
    for line in resp_headers.getall("vary", ()):
        for member in split_list(line):
            if member == "*":
                return ("*",)
            names.add(member.lower())
    return tuple(sorted(names))


def _q(params: list[str]) -> float:
    for p in params:
        key, _, value = p.partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def _weighted(value: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for member in split_list(value):
        item, *params = member.split(";")
        item = item.strip().lower()
        if item:
            out.append((item, _q(params)))
    return out


def normalize(name: str, value: str | None) -> str:
    """Canonical form of a request field value for Vary matching.

    ``value`` is all field lines joined by ", " (None when absent).
    """
    if value is None:
        return ABSENT
    lname = name.lower()
    if lname == "accept-encoding":
        return ",".join(sorted({c for c, q in _weighted(value) if q > 0.0}))
    if lname == "accept-language":
        langs = sorted(((lang, q) for lang, q in _weighted(value) if q > 0.0), key=lambda p: -p[1])
        return ",".join(dict.fromkeys(lang for lang, _ in langs))
    members = [" ".join(m.split()) for m in split_list(value)]
    out = ",".join(members)
    return out.lower() if lname in _CASE_INSENSITIVE else out


def variant_key(names: tuple[str, ...], req_headers: AnyHeaders) -> str:
    """Stable secondary key: "" without Vary, else one ``name:value`` line per field."""
    if not names:
        return ""
    parts = []
    for name in names:
        lines = req_headers.getall(name, None)
        value = normalize(name, ", ".join(lines) if lines else None)
        parts.append(name if value == ABSENT else f"{name}:{value}")
    return "\n".join(parts)


def select_variant(entries: Sequence[Entry], req_headers: AnyHeaders) -> Entry | None:
    """The most recent stored response whose Vary matches (RFC 9111 §4.1).

    ``Vary: *`` never matches.
    """
    best: Entry | None = None
    for entry in entries:
        if "*" in entry.vary:
            continue
        if variant_key(entry.vary, req_headers) != entry.variant:
            continue
        if best is None or entry.response_time > best.response_time:
            best = entry
    return best
