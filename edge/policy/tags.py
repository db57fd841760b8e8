"""Purge tags from origin response fields.

``Surrogate-Key`` (space separated, Fastly), ``Cache-Tag`` (comma
separated, Cloudflare/Akamai) and ``Cache-Groups`` (RFC 9875 §2, a
Structured List of Strings).
"""

from __future__ import annotations

import http_sf

from edge.policy.headers import AnyHeaders, split_list


def _sf_strings(headers: AnyHeaders, name: str) -> list[str]:
    """String members of an RFC 9651 List; an unparsable field is ignored (RFC 9875 §2)."""
    lines = headers.getall(name, None)
    if not lines:
        return []
    try:
        parsed = http_sf.parse(", ".join(lines).encode("latin-1"), tltype="list")
    except Exception:  # any parse failure: ignore the whole field
        return []
    if not isinstance(parsed, list):
        return []
    out: list[str] = []
    for member in parsed:
        item = member[0] if isinstance(member, tuple) else member
        # RFC 9875 §2: members that are not Strings are ignored.
        if isinstance(item, str):
            out.append(item)
    return out


def extract_tags(resp_headers: AnyHeaders) -> tuple[str, ...]:
    """All tags of a response, deduplicated, in order of appearance."""
    tags: list[str] = []
    for line in resp_headers.getall("surrogate-key", ()):
        tags.extend(line.split())
    for line in resp_headers.getall("cache-tag", ()):
        tags.extend(split_list(line))
    tags.extend(_sf_strings(resp_headers, "cache-groups"))
    return tuple(dict.fromkeys(t for t in tags if t))


def group_invalidations(resp_headers: AnyHeaders) -> tuple[str, ...]:
    """Groups named by ``Cache-Group-Invalidation`` (RFC 9875 §3).

    The caller applies them only to responses to unsafe methods (§3).
    """
    return tuple(dict.fromkeys(_sf_strings(resp_headers, "cache-group-invalidation")))
