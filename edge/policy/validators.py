"""Entity tags and their comparison (RFC 9110 §8.8.3)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.policy.headers import split_list


@dataclass(frozen=True, slots=True)
class ETag:
    weak: bool
    opaque: str  # including the double quotes


def parse_etag(value: str | None) -> ETag | None:
    """One entity-tag (``"x"`` or ``W/"x"``); None when malformed."""
    if value is None:
        return None
    v = value.strip()
    weak = v.startswith("W/")
    if weak:
        v = v[2:]
    if len(v) < 2 or v[0] != '"' or v[-1] != '"' or '"' in v[1:-1]:
        return None
    return ETag(weak, v)


def parse_etag_list(value: str) -> list[ETag] | None:
    """An If-Match / If-None-Match value: None means ``*``; bad members dropped."""
    if value.strip() == "*":
        return None
    tags = (parse_etag(m) for m in split_list(value))
    return [t for t in tags if t is not None]


def strong_match(a: ETag | None, b: ETag | None) -> bool:
    """Strong comparison: both strong and identical opaque tags."""
    return a is not None and b is not None and not a.weak and not b.weak and a.opaque == b.opaque


def weak_match(a: ETag | None, b: ETag | None) -> bool:
    """Weak comparison: opaque tags identical, weakness ignored."""
    return a is not None and b is not None and a.opaque == b.opaque
