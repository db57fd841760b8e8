"""Preload links (RFC 8288 ``Link``, W3C Preload ``rel=preload``): what prefetch may fetch.

Pure: :func:`preload_targets` reads Link field values (of a response, or of the 103
Early Hints before it, RFC 8297) and returns the request targets of the same-origin
``rel=preload`` links, in order, deduplicated, at most ``limit``. The node's
prefetcher (:mod:`edge.runtime.prefetch`) requests them through its own flow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

from edge.policy.keys import normalize_host

# one link-value: <URI-Reference> then its parameters (up to the next link's "<")
_LINK = re.compile(r"<([^>]*)>([^<]*)")
_PARAM = re.compile(r';\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,]*))?')


def _rels(params: str) -> list[str]:
    for match in _PARAM.finditer(params):
        if match.group(1).lower() == "rel":  # RFC 8288 §3.3: the first rel parameter counts
            value: str = match.group(2) or ""
            return value.strip().strip('"').lower().split()
    return []


def preload_targets(values: Iterable[str], base_url: str, limit: int) -> list[str]:
    """Targets (``/path?query``) of the same-origin ``rel=preload`` links in ``values``.

    Relative references resolve against ``base_url`` (the request's URL, RFC 8288
    §3.2); a link to another scheme or host (after lower-casing and dropping the
    default port) is not this origin's and is skipped, as are fragments' parts.
    """
    if limit <= 0:
        return []
    base = urlsplit(base_url)
    scheme = base.scheme.lower()
    host = normalize_host(scheme, base.netloc)
    out: list[str] = []
    for value in values:
        for ref, params in _LINK.findall(value):
            if "preload" not in _rels(params):
                continue
            try:
                url = urlsplit(urljoin(base_url, ref.strip()))
            except ValueError:
                continue
            if url.scheme.lower() != scheme or normalize_host(scheme, url.netloc) != host:
                continue
            target = (url.path or "/") + (f"?{url.query}" if url.query else "")
            if not target.isprintable() or " " in target or target in out:
                continue
            out.append(target)
            if len(out) >= limit:
                return out
    return out
