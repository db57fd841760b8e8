"""Edge compression decisions: which coding a client gets, and which responses may be coded.

Pure functions (no I/O, no codec): :mod:`edge.cache.compress` runs the codecs.

- :func:`choose_coding` negotiates Accept-Encoding (RFC 9110 §12.5.3) against the
  codings this node offers. Its result is also the secondary cache key of a
  response the edge negotiates (:mod:`edge.policy.vary`): the request's header
  spelling collapses to the one coding it selects, so ``gzip, br`` and
  ``br;q=1.0, gzip;q=0.9`` share the ``br`` variant.
- :func:`plan_coding` says whether a response is one the edge may compress.
- :func:`coded_etag` is the validator of a coded representation: the origin's,
  made weak (RFC 9110 §8.8.1: the edge's bytes depend on the codec's version and
  level, so they are not byte-for-byte stable across regenerations), as nginx does
  when it compresses. A strong comparison (If-Match, If-Range) never matches it; a
  weak one (If-None-Match) matches the identity's tag too, which is right: the
  representations differ only in their coding, the content is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.policy.cache_control import parse_cache_control
from edge.policy.headers import AnyHeaders, split_list
from edge.policy.validators import parse_etag

#: Codings edge can produce, by its own preference (ties in q-value go to the first).
KNOWN_CODINGS: tuple[str, ...] = ("zstd", "br", "gzip")

#: The identity coding, as a variant key and an Entry's ``coding``.
IDENTITY = ""

#: Aliases a recipient should treat as the coding (RFC 9110 §8.4.1.3).
_ALIASES = {"x-gzip": "gzip"}

#: Validator fields that describe the identity bytes and would lie about coded ones.
DIGEST_FIELDS: tuple[str, ...] = ("content-md5", "digest", "content-digest", "repr-digest")


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


def choose_coding(accept_encoding: str | None, offered: tuple[str, ...]) -> str:
    """The coding to send (``""`` for identity) for this Accept-Encoding value.

    RFC 9110 §12.5.3: no Accept-Encoding means identity (what every browser
    that wants compression asks for explicitly; any coding would be allowed).
    Codings are case-insensitive; ``x-gzip`` is ``gzip``; ``q=0`` refuses; ``*``
    stands for every coding not listed. The coding with the highest q-value
    among ``offered`` wins, ties going to the earlier one in ``offered``; an
    identity the client lists explicitly with a higher q-value wins over them.
    When no offered coding is acceptable the answer is identity, even when the
    client refused it (``identity;q=0``): what the origin sent is the only other
    representation there is (§12.5.3 lets a server send it).
    """
    if accept_encoding is None or not offered:
        return IDENTITY
    weights: dict[str, float] = {}
    star: float | None = None
    for member in split_list(accept_encoding):
        name, *params = member.split(";")
        coding = name.strip().lower()
        coding = _ALIASES.get(coding, coding)
        if not coding:
            continue
        q = _q(params)
        if coding == "*":
            star = q if star is None else max(star, q)
        else:
            weights[coding] = max(q, weights.get(coding, 0.0))
    best, best_q = IDENTITY, 0.0
    for coding in offered:
        q = weights.get(coding, star if star is not None else 0.0)
        if q > best_q:
            best, best_q = coding, q
    if best and "identity" in weights and weights["identity"] > best_q:
        return IDENTITY
    return best


def request_forbids(req_headers: AnyHeaders) -> bool:
    """A request ``Cache-Control: no-transform`` asks intermediaries not to transform
    the content (RFC 9111 §5.2.1.6): it gets the identity representation."""
    lines = req_headers.getall("cache-control", ())
    return bool(lines) and parse_cache_control(lines).no_transform


@dataclass(frozen=True, slots=True)
class CodingRules:
    """What the edge compresses (``cache.compression``), as plain data."""

    offered: tuple[str, ...]  # by preference; empty: compression is off
    types: tuple[str, ...]  # media types, lower-case; "text/*" matches a whole type
    min_size: int  # bytes; a response announcing fewer is left alone


def type_matches(content_type: str | None, types: tuple[str, ...]) -> bool:
    """Is the media type of ``content_type`` one of ``types`` (``type/*`` wildcards)?"""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    major = media.split("/", 1)[0]
    for t in types:
        if t == media or (t.endswith("/*") and t[:-2] == major):
            return True
    return False


def plan_coding(
    rules: CodingRules, status: int, resp_headers: AnyHeaders, content_length: int | None
) -> bool:
    """May the edge negotiate this response's coding (and so add Vary: Accept-Encoding)?

    Only a 200 whose content the origin sent unencoded (any Content-Encoding:
    never compress twice) and whole (no Content-Range), of a listed media type,
    announcing at least ``min_size`` bytes (a chunked body is compressed: its size
    is unknown), without ``Cache-Control: no-transform`` (RFC 9110 §7.7, RFC 9111
    §5.2.2.6), and not varying on Accept-Encoding already (the origin negotiates
    codings itself: its variants are left as they are).
    """
    if not rules.offered or status != 200:
        return False
    if "content-encoding" in resp_headers or "content-range" in resp_headers:
        return False
    if content_length is not None and content_length < rules.min_size:
        return False
    if not type_matches(resp_headers.get("content-type"), rules.types):
        return False
    if parse_cache_control(resp_headers.getall("cache-control", ())).no_transform:
        return False
    for line in resp_headers.getall("vary", ()):
        if any(m.lower() == "accept-encoding" for m in split_list(line)):
            return False
    return True


def coded_etag(etag: str | None) -> str | None:
    """``"abc"`` → ``W/"abc"`` (a weak tag stays as it is); None without a valid ETag."""
    parsed = parse_etag(etag)
    if parsed is None:
        return None
    return f"W/{parsed.opaque}"
