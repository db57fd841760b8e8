"""Conditional GET evaluation for the stub (RFC 9110 section 13)."""

from __future__ import annotations

from aiohttp import web

from .httpdate import parse_http_date

__all__ = ["etag_matches", "not_modified"]


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison of ``etag`` against an If-None-Match list (RFC 9110 13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(candidate) == wanted for candidate in if_none_match.split(","))


def not_modified(
    request: web.Request, *, etag: str | None = None, last_modified: str | None = None
) -> bool:
    """True when a GET/HEAD should be answered 304 (RFC 9110 13.2.2 precedence)."""
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        # If-None-Match present: If-Modified-Since must be ignored (RFC 9110 13.1.3).
        return etag is not None and etag_matches(if_none_match, etag)
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since is None or last_modified is None:
        return False
    since = parse_http_date(if_modified_since)
    modified = parse_http_date(last_modified)
    return since is not None and modified is not None and modified <= since
