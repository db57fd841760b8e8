"""Disk-tier hits answered by the hot path: the head, then the file by ``os.sendfile`` at once.

The hot path (:mod:`edge.cache.hot`) hands a fresh disk-tier hit back as its head
and an open :class:`~edge.models.FileBody`. :func:`send_file_now` writes it from
``data_received`` without a task: on a plain-text socket whose transport has
nothing buffered, ``os.sendfile`` goes straight to the socket until the file is
sent or the socket is full. What is left goes out from a task
(:func:`file_rest`), and the connection's pipelined requests wait for it. A file
shorter than its entry aborts the connection: a
client must never take a truncated body for a whole one.
"""

from __future__ import annotations

import asyncio
import logging
import os

from edge.fronts.h1_send import SENDFILE_MAX, Wire, send_file_rest
from edge.models import FileBody

log = logging.getLogger("edge.proxy")


class ShortFile(Exception):
    """The stored body file ended before its entry's length."""


def send_file_now(transport: asyncio.Transport, body: FileBody) -> FileBody | None:
    """Send what the socket takes now; the rest of ``body`` (None: all of it is sent, and
    the file is closed). ConnectionResetError when the client is gone, ShortFile when
    the file is shorter than its entry (the file is closed then too)."""
    if transport.get_write_buffer_size():
        return body  # the head is still queued: bytes must stay in order
    sock = transport.get_extra_info("socket")
    if sock is None:
        return body
    out_fd, in_fd = sock.fileno(), body.file.fileno()
    pos, end = body.offset, body.offset + body.length
    try:
        while pos < end:
            try:
                n = os.sendfile(out_fd, in_fd, pos, min(end - pos, SENDFILE_MAX))
            except BlockingIOError:
                break  # the socket is full: the rest from a task
            except OSError as exc:
                raise ConnectionResetError(f"sendfile: {exc}") from exc
            if n == 0:
                raise ShortFile(f"sent {pos - body.offset} of {body.length} bytes")
            pos += n
    except BaseException:
        body.file.close()
        raise
    if pos == end:
        body.file.close()
        return None
    return FileBody(body.file, pos, end - pos)


async def file_rest(conn: Wire, body: FileBody, close: bool) -> bool:
    """Send the rest of a hot disk hit from a task; whether to close the connection after."""
    try:
        await send_file_rest(conn, body)
    except ConnectionResetError:
        return True
    return close
