"""Secondary cache keys from Vary (RFC 9111 §4.1).

Request field values are normalised before comparison, as §4.1 allows
("combining multiple field lines, normalizing both header field values in
a way that is known to have identical semantics"), to limit variant
explosion: Accept-Encoding becomes the sorted set of acceptable codings,
Accept-Language the lower-cased languages grouped by preference (see
:func:`normalize`). A stored response in one language also answers a request
whose first choice is that language (:func:`select_variant`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from edge.models import Entry
from edge.policy.coding import choose_coding, request_forbids
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
        return _languages(value)
    members = [" ".join(m.split()) for m in split_list(value)]
    out = ",".join(members)
    return out.lower() if lname in _CASE_INSENSITIVE else out


def _languages(value: str) -> str:
    """Accept-Language as its preference groups (RFC 9110 §12.5.4, §12.4.2).

    Ranges are case-insensitive (RFC 4647 §2.1). A q-value only ranks: ranges
    of equal weight form one group, written in sorted order (so ``en, de`` and
    ``de, en`` are one variant), groups from most to least preferred (so
    ``en, fr;q=0.5`` and ``en-US;q=1.0, fr;q=0.4`` differ only in case). A
    range refused with ``q=0`` is kept apart (it narrows ``*``).
    """
    weights: dict[str, float] = {}
    for lang, q in _weighted(value):
        weights[lang] = max(q, weights.get(lang, 0.0))
    groups: dict[float, list[str]] = {}
    for lang, q in weights.items():
        groups.setdefault(q, []).append(lang)
    ranked = [" ".join(sorted(groups[q])) for q in sorted(groups, reverse=True) if q > 0.0]
    refused = sorted(groups.get(0.0, ()))
    return ",".join(ranked + [f"!{lang}" for lang in refused])


def first_choice_matches(accept_language: str, language: str) -> bool:
    """Is ``language`` (a Content-Language tag) what this request prefers above all?

    True when every range of the highest weight matches the tag by basic
    filtering (RFC 4647 §3.3.1: the range equals the tag or is a prefix of it
    ending at a "-"); ``*`` never counts, it names no language.
    """
    weighted = [(lang, q) for lang, q in _weighted(accept_language) if q > 0.0]
    if not weighted:
        return False
    top = max(q for _, q in weighted)
    tag = language.strip().lower()
    firsts = [lang for lang, q in weighted if q == top]
    return all(r != "*" and (tag == r or tag.startswith(r + "-")) for r in firsts)


def variant_key(
    names: tuple[str, ...], req_headers: AnyHeaders, codings: tuple[str, ...] = ()
) -> str:
    """Stable secondary key: "" without Vary, else one ``name:value`` line per field.

    ``codings`` non-empty: the edge negotiates Accept-Encoding for this response
    (``Entry.codings``, :mod:`edge.policy.coding`), so the field's value is the one
    coding the request selects among them (``=br``, ``=identity``), whatever its
    spelling: every request that selects a coding shares one variant.
    """
    if not names:
        return ""
    parts = []
    for name in names:
        if codings and name == "accept-encoding":
            parts.append(f"{name}:={negotiated(req_headers, codings) or 'identity'}")
            continue
        lines = req_headers.getall(name, None)
        value = normalize(name, ", ".join(lines) if lines else None)
        parts.append(name if value == ABSENT else f"{name}:{value}")
    return "\n".join(parts)


def negotiated(req_headers: AnyHeaders, codings: tuple[str, ...]) -> str:
    """The coding (``""``: identity) the edge sends this request among ``codings``.

    Memoised by the field's value: clients send few distinct Accept-Encoding values,
    and a memory hit of a negotiated response makes this choice every time.
    """
    if "cache-control" in req_headers and request_forbids(req_headers):
        return ""
    lines = req_headers.getall("accept-encoding", None)
    if not lines:
        return ""
    return _choose(lines[0] if len(lines) == 1 else ", ".join(lines), codings)


_choose = functools.lru_cache(maxsize=4096)(choose_coding)


def entry_variant(entry: Entry, req_headers: AnyHeaders) -> str:
    """The secondary key this request would have if it were answered like ``entry``."""
    return variant_key(entry.vary, req_headers, entry.codings)


def select_variant(entries: Sequence[Entry], req_headers: AnyHeaders) -> Entry | None:
    """The most recent stored response whose Vary matches (RFC 9111 §4.1).

    ``Vary: *`` never matches. See :func:`matches` for what matching means. The
    request's key is computed once for entries that vary alike (the usual case:
    every variant of a URL names the same fields).
    """
    best: Entry | None = None
    last_vary: tuple[str, ...] | None = None
    last_codings: tuple[str, ...] = ()
    key = ""
    for entry in entries:
        if "*" in entry.vary:
            continue
        if entry.vary != last_vary or entry.codings != last_codings:
            last_vary, last_codings = entry.vary, entry.codings
            key = variant_key(entry.vary, req_headers, entry.codings)
        if key != entry.variant and not _language_matches(entry, req_headers, key):
            continue
        if best is None or entry.response_time > best.response_time:
            best = entry
    return best


def matches(entry: Entry, req_headers: AnyHeaders) -> bool:
    """Does this request select ``entry``? (RFC 9111 §4.1.)

    Every field Vary names must match the stored request's, once normalised;
    except that when the response is in one language (its Content-Language),
    a request whose first choice is that language selects it whatever else its
    Accept-Language lists: the origin, negotiating by preference
    (RFC 9110 §12.5.4), would answer it in the language it already chose once.
    """
    key = entry_variant(entry, req_headers)
    return key == entry.variant or _language_matches(entry, req_headers, key)


def _language_matches(entry: Entry, req_headers: AnyHeaders, key: str) -> bool:
    """The Content-Language exception of :func:`matches`, for a key that differs."""
    if "accept-language" not in entry.vary:
        return False
    language = _content_language(entry)
    if language is None:
        return False
    ours_lines, theirs_lines = key.split("\n"), entry.variant.split("\n")
    if len(ours_lines) != len(entry.vary) or len(theirs_lines) != len(entry.vary):
        return False
    for name, ours, theirs in zip(entry.vary, ours_lines, theirs_lines, strict=True):
        if ours == theirs:
            continue
        lines = req_headers.getall(name, None)
        if name != "accept-language" or not lines:
            return False
        if not first_choice_matches(", ".join(lines), language):
            return False
    return True


def _content_language(entry: Entry) -> str | None:
    """The stored response's language, when it names exactly one."""
    for name, value in entry.headers:
        if name.lower() == "content-language":
            tags = split_list(value)
            return tags[0] if len(tags) == 1 else None
    return None
