"""Range requests answered from a stored full response (RFC 9110 §14, §13.1.5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edge.policy.headers import parse_http_date
from edge.policy.validators import parse_etag, strong_match

#: More ranges than this are coalesced; still more and the Range is ignored (§14.2).
MAX_RANGES = 16
_MAX_SPECS = 256  # a longer range-set is treated as abuse and ignored

RangeKind = Literal["full", "partial", "unsatisfiable"]


@dataclass(frozen=True, slots=True)
class RangeDecision:
    kind: RangeKind
    ranges: tuple[tuple[int, int], ...] = ()  # inclusive (first, last), clipped to the size


FULL = RangeDecision("full")
UNSATISFIABLE = RangeDecision("unsatisfiable")

_Spec = tuple[int | None, int | None]  # (first, last) or (None, suffix-length)


def _parse(value: str) -> list[_Spec] | None:
    """``bytes=`` range-set (§14.1.2); None when the syntax is invalid."""
    unit, eq, rest = value.partition("=")
    if not eq or unit.lower() != "bytes":  # no whitespace around "=" (§14.2)
        return None
    specs: list[_Spec] = []
    for raw in rest.split(","):
        member = raw.strip(" \t")
        if not member:
            continue  # empty list members are allowed (§5.6.1)
        first, dash, last = member.partition("-")
        if not dash or not (first.isascii() and last.isascii()):
            return None
        if first == "":
            if not last.isdigit():
                return None
            specs.append((None, int(last)))
        elif first.isdigit() and (last == "" or last.isdigit()):
            a, b = int(first), (int(last) if last else None)
            if b is not None and b < a:
                return None  # §14.1.1: last-pos < first-pos is invalid
            specs.append((a, b))
        else:
            return None
        if len(specs) > _MAX_SPECS:
            return None
    return specs or None


def _if_range_matches(
    if_range: str, etag: str | None, last_modified: str | None, date: str | None
) -> bool:
    """§13.1.5: an entity-tag must match strongly; a date must equal a strong Last-Modified.

    Last-Modified is strong only when at least one second before Date (§8.8.2.2).
    """
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return strong_match(parse_etag(value), parse_etag(etag))
    since = parse_http_date(value)
    lm = parse_http_date(last_modified)
    sent = parse_http_date(date)
    if since is None or lm is None or sent is None:
        return False
    return since == lm and sent - lm >= 1.0


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _overlap(ranges: list[tuple[int, int]]) -> bool:
    ordered = sorted(ranges)
    return any(b[0] <= a[1] for a, b in zip(ordered, ordered[1:], strict=False))


def evaluate_range(
    range_header: str | None,
    if_range: str | None,
    *,
    size: int,
    etag: str | None,
    last_modified: str | None,
    date: str | None,
) -> RangeDecision:
    """Decide between 200 (full), 206 (partial) and 416 (unsatisfiable).

    Only the ``bytes`` unit; an invalid Range is ignored (§14.2). A failed
    If-Range means the full response (§13.1.5). A range is satisfiable when
    its first position is below the size or it is a non-zero suffix
    (§14.1.1). Overlapping ranges, or more than :data:`MAX_RANGES`, are
    coalesced (§14.2); an empty representation is always sent in full.
    """
    if range_header is None:
        return FULL
    specs = _parse(range_header)
    if specs is None or size <= 0:
        return FULL
    if if_range is not None and not _if_range_matches(if_range, etag, last_modified, date):
        return FULL
    ranges: list[tuple[int, int]] = []
    for first, last in specs:
        if first is None:
            if last:  # suffix-length > 0
                ranges.append((max(0, size - last), size - 1))
        elif first < size:
            ranges.append((first, size - 1 if last is None else min(last, size - 1)))
    if not ranges:
        return UNSATISFIABLE
    if len(ranges) > MAX_RANGES or _overlap(ranges):
        ranges = _coalesce(ranges)
        if len(ranges) > MAX_RANGES:
            return FULL
    return RangeDecision("partial", tuple(ranges))
