"""Rendering a :class:`ProxyResponse` onto an HTTP/1.1 connection (RFC 9112 §6, §7).

- ``BytesBody``: the head and the body in one write;
- ``StreamBody``: ``Content-Length`` when its length is known, else chunked
  (HTTP/1.0 clients: close-delimited, RFC 9112 §6.3 rule 8);
- ``FileBody``: ``loop.sendfile``; where the loop has none (uvloop), ``os.sendfile``
  straight on the socket whenever the transport's buffer is empty, with pread
  chunks through the transport when the socket is full;
- HEAD, 204, 304 and 1xx carry no body (RFC 9110 §6.4.1).

A body that breaks off after the head is out, or does not match its length,
aborts the connection: a client must never take a truncated body for a whole one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Protocol

from edge.errors import EdgeError
from edge.fronts import h1_wire as wire
from edge.models import BytesBody, FileBody, ProxyResponse, StreamBody

log = logging.getLogger("edge.proxy")

FILE_CHUNK = 256 * 1024
SENDFILE_MAX = 1 << 20


class Wire(Protocol):
    """The connection as a writer."""

    transport: asyncio.Transport | None

    @property
    def lost(self) -> bool: ...

    def write(self, data: bytes) -> None: ...

    def writelines(self, data: Iterable[bytes]) -> None: ...

    async def drain(self) -> None:
        """Wait while the transport is over its high-water mark; ConnectionResetError if gone."""
        ...

    def abort(self) -> None: ...


class Framing:
    """How one response goes out: its Connection line, Date line, and the request's method."""

    __slots__ = ("head_only", "chunked_ok", "connection", "date")

    def __init__(self, *, head_only: bool, chunked_ok: bool, connection: bytes, date: bytes):
        self.head_only = head_only
        self.chunked_ok = chunked_ok
        self.connection = connection
        self.date = date


def declared_length(resp: ProxyResponse) -> int | None:
    """A bodiless answer's own Content-Length (HEAD, 304), kept as the origin or flow set it."""
    if resp.status < 200 or resp.status == 204:
        return None
    value = resp.headers.get("Content-Length")
    if value is not None and value.isdigit():
        return int(value)
    body = resp.body
    if isinstance(body, StreamBody | FileBody) and resp.status != 304:
        return body.length
    return None


async def send(conn: Wire, resp: ProxyResponse, how: Framing) -> int:
    """Write ``resp``; returns the body bytes sent. ConnectionResetError when the client left."""
    body = resp.body
    status = resp.status
    no_body = how.head_only or status in (204, 304) or status < 200
    if isinstance(body, BytesBody):
        length = declared_length(resp) if no_body else len(body.data)
        head = wire.head(
            status,
            resp.reason,
            resp.headers,
            length=length,
            chunked=False,
            date=how.date,
            connection=how.connection,
        )
        conn.write(head if no_body else head + body.data)
        return 0 if no_body else len(body.data)
    if isinstance(body, StreamBody):
        return await _send_stream(conn, resp, body, how, no_body)
    if isinstance(body, FileBody):
        return await _send_file(conn, resp, body, how, no_body)
    raise TypeError(f"unknown body source {type(body).__name__}")


async def _send_stream(
    conn: Wire, resp: ProxyResponse, body: StreamBody, how: Framing, no_body: bool
) -> int:
    chunks = body.chunks
    sent = 0
    head_out = False
    try:
        if no_body:
            async for _ in chunks:  # HEAD/304/204: nothing to send; release the upstream
                pass
            conn.write(_head(resp, how, declared_length(resp), chunked=False))
            return 0
        length = body.length
        chunked = length is None and how.chunked_ok
        head = _head(resp, how, length, chunked=chunked)
        async for chunk in chunks:
            if not chunk:
                continue
            if conn.lost:
                raise ConnectionResetError("client went away")
            sent += len(chunk)
            if length is not None and sent > length:
                raise EdgeError(f"body longer than its Content-Length {length}")
            if chunked:
                conn.writelines((head, wire.chunk_prefix(len(chunk)), chunk, wire.CRLF))
            else:
                conn.writelines((head, chunk))
            head, head_out = b"", True
            await conn.drain()
        if length is not None and sent != length:
            raise EdgeError(f"body of {sent} bytes, Content-Length said {length}")
        conn.write(head + wire.LAST_CHUNK if chunked else head)
        return sent
    except (ConnectionResetError, asyncio.CancelledError):
        raise  # the client went away, or shutdown
    except Exception as exc:
        if not head_out:
            raise  # nothing sent yet: the caller answers with an error instead
        # the head is out: the only honest signal left is a broken connection
        why = exc.message if isinstance(exc, EdgeError) else repr(exc)
        log.warning("aborting client response mid-body: %s", why)
        conn.abort()
        return sent
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def _head(resp: ProxyResponse, how: Framing, length: int | None, *, chunked: bool) -> bytes:
    return wire.head(
        resp.status,
        resp.reason,
        resp.headers,
        length=length,
        chunked=chunked,
        date=how.date,
        connection=how.connection,
    )


async def _send_file(
    conn: Wire, resp: ProxyResponse, body: FileBody, how: Framing, no_body: bool
) -> int:
    try:
        if no_body:
            conn.write(_head(resp, how, declared_length(resp), chunked=False))
            return 0
        conn.write(_head(resp, how, body.length, chunked=False))
        if not body.length:
            return 0
        transport = conn.transport
        if transport is None or conn.lost:
            raise ConnectionResetError("client went away")
        try:
            sent = await asyncio.get_running_loop().sendfile(
                transport, body.file, body.offset, body.length
            )
        except NotImplementedError:
            sent = await _sendfile_on_socket(conn, transport, body)
        if sent != body.length:  # the file is shorter than its entry: never a clean end
            log.error("stored body short: sent %d of %d bytes; aborting", sent, body.length)
            conn.abort()
        return sent
    finally:
        body.file.close()


async def send_file_rest(conn: Wire, body: FileBody) -> None:
    """The rest of a hot-path disk hit whose head is out (edge.fronts.h1_files); a file
    that ends early aborts the connection. Closes the file."""
    try:
        transport = conn.transport
        if transport is None or conn.lost:
            raise ConnectionResetError("client went away")
        sent = await _sendfile_on_socket(conn, transport, body)
        if sent != body.length:
            log.error("stored body short: %d bytes missing; aborting", body.length - sent)
            conn.abort()
    finally:
        body.file.close()


async def _sendfile_on_socket(conn: Wire, transport: asyncio.Transport, body: FileBody) -> int:
    """``os.sendfile`` on the socket while the transport has nothing buffered.

    Never on a TLS connection: the socket carries encrypted records, so the file
    goes through the transport in pread chunks instead.

    The transport's limits go to zero meanwhile, so ``pause_writing`` fires as
    soon as anything is buffered and ``resume_writing`` only once all of it is
    sent: then the socket is ours again and bytes stay in order.
    """
    sock = transport.get_extra_info("socket")
    tls = transport.get_extra_info("ssl_object") is not None  # the socket carries records
    out_fd = sock.fileno() if sock is not None and not tls else -1
    in_fd = body.file.fileno()
    pos, end = body.offset, body.offset + body.length
    transport.set_write_buffer_limits(high=0, low=0)
    try:
        await conn.drain()  # the head written before this leaves first
        while pos < end:
            if conn.lost:
                raise ConnectionResetError("client went away")
            if out_fd >= 0 and transport.get_write_buffer_size() == 0:
                try:
                    n = os.sendfile(out_fd, in_fd, pos, min(end - pos, SENDFILE_MAX))
                except BlockingIOError:
                    n = -1  # the socket is full: let the transport wait for it
                except OSError as exc:
                    raise ConnectionResetError(f"sendfile: {exc}") from exc
                if n == 0:
                    break  # end of file before the entry's length
                if n > 0:
                    pos += n
                    continue
            chunk = await asyncio.to_thread(os.pread, in_fd, min(FILE_CHUNK, end - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            conn.write(chunk)
            await conn.drain()
    finally:
        if not conn.lost:
            transport.set_write_buffer_limits()
    return pos - body.offset
