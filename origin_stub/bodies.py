"""Deterministic bodies, generated chunk by chunk so that size never costs memory."""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["CHUNK", "filler_chunks", "modulo_chunks", "padded_chunks", "parse_size"]

CHUNK = 64 * 1024
_MODULUS = 251
# A period-251 pattern long enough that any CHUNK-sized window is one slice.
_MODULO_BLOCK = bytes(range(_MODULUS)) * (CHUNK // _MODULUS + 2)
_FILL_LINE = b"." * 63 + b"\n"
_FILL_BLOCK = _FILL_LINE * (CHUNK // len(_FILL_LINE) + 1)
_SIZE = re.compile(r"(?P<n>\d+)(?P<unit>KiB|MiB|GiB)?")
_UNITS = {None: 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def parse_size(text: str) -> int | None:
    """``"3MiB"``, ``"12KiB"``, ``"100"`` to a byte count; None when malformed."""
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    return int(match["n"]) * _UNITS[match["unit"]]


def modulo_chunks(size: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield ``size`` bytes where byte ``i`` is ``i % 251``, in ``chunk``-sized pieces."""
    offset = 0
    while offset < size:
        length = min(chunk, size - offset, CHUNK)
        start = offset % _MODULUS
        yield _MODULO_BLOCK[start : start + length]
        offset += length


def filler_chunks(size: int, offset: int = 0) -> Iterator[bytes]:
    """Yield ``size`` bytes of dotted text lines, as if starting at ``offset``."""
    period = len(_FILL_LINE)
    end = offset + size
    while offset < end:
        length = min(CHUNK, end - offset)
        start = offset % period
        yield _FILL_BLOCK[start : start + length]
        offset += length


def padded_chunks(prefix: bytes, size: int | None) -> Iterator[bytes]:
    """``prefix`` padded with filler (or truncated) to exactly ``size`` bytes."""
    if size is None:
        yield prefix
        return
    head = prefix[:size]
    if head:
        yield head
    yield from filler_chunks(size - len(head), offset=len(head))
