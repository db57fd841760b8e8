"""Body sources cut to what a client asked for: slices and multipart/byteranges (RFC 9110 §14)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from edge.models import BodySource, BytesBody, ClosingChunks, FileBody, StreamBody

PART_CHUNK = 256 * 1024


def close_body(body: BodySource) -> None:
    if isinstance(body, FileBody):
        body.file.close()


def slice_body(body: BodySource, first: int, last: int) -> BodySource:
    """Bytes ``first..last`` (inclusive) of a stored body."""
    if isinstance(body, BytesBody):
        return BytesBody(body.data[first : last + 1])
    if isinstance(body, FileBody):
        return FileBody(body.file, body.offset + first, last - first + 1)
    raise TypeError(f"cannot slice a {type(body).__name__}")


def multipart_body(
    body: BodySource,
    ranges: Sequence[tuple[int, int]],
    size: int,
    content_type: str | None,
) -> tuple[str, StreamBody]:
    """A multipart/byteranges body (RFC 9110 §14.6); returns (Content-Type, body)."""
    boundary = secrets.token_hex(16)
    heads: list[bytes] = []
    for first, last in ranges:
        head = f"\r\n--{boundary}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        head += f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
        heads.append(head.encode("latin-1"))
    tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length = sum(len(h) for h in heads) + sum(b - a + 1 for a, b in ranges) + len(tail)

    async def parts() -> AsyncGenerator[bytes, None]:
        for head, (first, last) in zip(heads, ranges, strict=True):
            yield head
            async for chunk in _read_region(body, first, last):
                yield chunk
        yield tail

    chunks = ClosingChunks(parts(), lambda: close_body(body))
    return f"multipart/byteranges; boundary={boundary}", StreamBody(chunks, length)


async def _read_region(body: BodySource, first: int, last: int) -> AsyncIterator[bytes]:
    if isinstance(body, BytesBody):
        yield body.data[first : last + 1]
        return
    if not isinstance(body, FileBody):
        raise TypeError(f"cannot read a region of a {type(body).__name__}")
    fd = body.file.fileno()
    pos, end = body.offset + first, body.offset + last + 1
    while pos < end:
        chunk = await asyncio.to_thread(os.pread, fd, min(PART_CHUNK, end - pos), pos)
        if not chunk:
            raise OSError("stored body file is shorter than its entry says")
        pos += len(chunk)
        yield chunk
