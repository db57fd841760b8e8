"""Stored partial content: 206 parts, reused and combined (RFC 9111 §3.3, §3.4, RFC 9110 §14).

A stored partial response is one :class:`~edge.models.Entry` with status 206
whose ``parts`` are the inclusive byte ranges of the representation it holds
and whose body is those ranges' bytes, concatenated in order. Its
``complete_length`` is the representation's length from Content-Range. The
rules here are pure: what a 206 must look like to be stored, when two parts
describe the same representation, how parts merge, when a request is wholly
within them, and what is left to ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.models import Entry
from edge.policy.headers import AnyHeaders, parse_http_date
from edge.policy.validators import parse_etag

#: At most this many disjoint parts per stored object: a 206 that would make more
#: replaces the stored parts, so one object's metadata stays small.
MAX_PARTS = 8

#: Fields of a 206 that describe only that part: never stored, rebuilt per answer.
PART_FIELDS = ("content-range", "content-length")

Part = tuple[int, int]  # inclusive (first, last) positions in the representation


@dataclass(frozen=True, slots=True)
class ContentRange:
    first: int
    last: int
    complete: int | None  # None for "*": the representation's length is unknown


def parse_content_range(value: str | None) -> ContentRange | None:
    """A single-part ``Content-Range: bytes first-last/complete`` (RFC 9110 §14.4).

    None when absent, not ``bytes``, unsatisfied-range (``*/N``) or invalid: a
    last position before the first, or a complete length not above the last
    position. RFC 9110 §14.4: an invalid one must not be recombined.
    """
    if value is None:
        return None
    unit, _, rest = value.strip().partition(" ")
    if unit.lower() != "bytes":
        return None
    span, slash, length = rest.strip().partition("/")
    first_s, dash, last_s = span.partition("-")
    if not slash or not dash or not (first_s.isdigit() and last_s.isdigit()):
        return None
    if not (first_s.isascii() and last_s.isascii()):
        return None
    first, last = int(first_s), int(last_s)
    if last < first:
        return None
    if length == "*":
        return ContentRange(first, last, None)
    if not (length.isascii() and length.isdigit()):
        return None
    complete = int(length)
    if complete <= last:
        return None
    return ContentRange(first, last, complete)


def storable_part(status: int, headers: AnyHeaders, content_length: int | None) -> Part | None:
    """The part a 206 response carries, if it can be stored (RFC 9111 §3.3).

    Only a single part (not multipart/byteranges) with a valid Content-Range
    that names the complete length, whose body length (Content-Length, the
    message framing) equals the range it claims: a 206 whose body disagrees
    with its Content-Range cannot say which bytes it holds, so it is passed on
    and never sliced or combined.
    """
    if status != 206:
        return None
    cr = parse_content_range(headers.get("content-range"))
    if cr is None or cr.complete is None or content_length is None:
        return None
    if content_length != cr.last - cr.first + 1:
        return None
    return (cr.first, cr.last)


def strong_validator(etag: str | None, last_modified: str | None, date: str | None) -> str | None:
    """The response's strong validator, for If-Range and combining (RFC 9110 §8.8.1).

    A strong ETag; else a Last-Modified at least one second before the Date
    (§8.8.2.2); else None.
    """
    tag = parse_etag(etag)
    if tag is not None:
        return None if tag.weak else tag.opaque
    lm, sent = parse_http_date(last_modified), parse_http_date(date)
    if last_modified is not None and lm is not None and sent is not None and sent - lm >= 1.0:
        return last_modified.strip()
    return None


def entry_validator(entry: Entry) -> str | None:
    date = next((v for k, v in entry.headers if k.lower() == "date"), None)
    return strong_validator(entry.etag, entry.last_modified, date)


def response_validator(headers: AnyHeaders) -> str | None:
    return strong_validator(headers.get("etag"), headers.get("last-modified"), headers.get("date"))


def same_representation(stored: Entry, headers: AnyHeaders, complete: int) -> bool:
    """May a new 206 be combined with the stored parts? (RFC 9111 §3.4.)

    Both must carry the same strong validator, and the same complete length.
    """
    mine = entry_validator(stored)
    same = mine is not None and mine == response_validator(headers)
    return same and stored.complete_length == complete


def merge_parts(
    old: tuple[Part, ...], old_body: bytes, new: Part, new_body: bytes
) -> tuple[tuple[Part, ...], bytes]:
    """The union of stored parts and a new one, and its concatenated bytes.

    Adjacent or overlapping parts coalesce; where they overlap, the new part's
    bytes are kept (RFC 9111 §3.4: the new response is the current one).
    """
    pieces: list[tuple[Part, bytes]] = []
    offset = 0
    for first, last in old:
        size = last - first + 1
        pieces.append(((first, last), old_body[offset : offset + size]))
        offset += size
    spans: list[list[int]] = []
    for first, last in sorted([p for p, _ in pieces] + [new]):
        if spans and first <= spans[-1][1] + 1:
            spans[-1][1] = max(spans[-1][1], last)
        else:
            spans.append([first, last])
    bufs = [bytearray(last - first + 1) for first, last in spans]
    for (first, last), data in [*pieces, (new, new_body)]:  # the new part written last
        for (s_first, s_last), buf in zip(spans, bufs, strict=True):
            if s_first <= first and last <= s_last:
                buf[first - s_first : last - s_first + 1] = data
                break
    parts = tuple((first, last) for first, last in spans)
    return parts, b"".join(bytes(buf) for buf in bufs)


def covering(parts: tuple[Part, ...], first: int, last: int) -> int | None:
    """The body offset of ``first`` when one stored part holds all of ``first..last``."""
    offset = 0
    for p_first, p_last in parts:
        if p_first <= first and last <= p_last:
            return offset + first - p_first
        offset += p_last - p_first + 1
    return None


def is_complete(parts: tuple[Part, ...], complete: int) -> bool:
    return len(parts) == 1 and parts[0] == (0, complete - 1)


def completion_start(entry: Entry) -> int | None:
    """Where ``Range: bytes=N-`` completes the stored parts, or None (RFC 9111 §3.4).

    Only when one part holds the representation's beginning: the rest is then
    one open range, and the answer to it combines into the whole.
    """
    parts = entry.parts
    if len(parts) != 1 or parts[0][0] != 0:
        return None
    start = parts[0][1] + 1
    return start if start < entry.complete_length else None
