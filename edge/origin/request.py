"""The request side of the origin client: the head as bytes, and the body as it streams.

RFC 9112 §3: the request line in origin-form, ``Host`` first (§3.2: a client MUST send it,
and SHOULD send it first); the fields otherwise as the proxy gave them (it already removed
the hop-by-hop ones, RFC 9110 §7.6.1). The framing is ours (§6): a body of known length
goes with its ``Content-Length`` (§6.2), one of unknown length with
``Transfer-Encoding: chunked`` (§7.1), and a request without a body carries neither, so an
origin never waits for bytes that will not come (a GET whose body the proxy dropped, issue
14). POST, PUT and PATCH without a body say ``Content-Length: 0`` (RFC 9110 §8.6).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from multidict import CIMultiDict

from edge.errors import ClientRequestError, UpstreamError

#: fields this module writes itself; the caller's copies are not sent as given
_FRAMED = frozenset({"host", "content-length", "transfer-encoding"})
_ZERO_LENGTH = frozenset({"POST", "PUT", "PATCH"})
LAST_CHUNK = b"0\r\n\r\n"


class BodyWire(Protocol):
    """Where an upload goes: the connection, with its write flow control."""

    def write(self, data: bytes) -> None: ...

    def writelines(self, data: list[bytes]) -> None: ...

    async def drain(self) -> None:
        """Wait while the transport's buffer is full; raises an UpstreamError if it is gone."""
        ...

    def sent_all(self) -> None:
        """The last byte of the body is written (the answer may come at once)."""
        ...


def declared_length(headers: CIMultiDict[str]) -> int | None:
    """The request's own Content-Length (RFC 9112 §6.2), or None (the body goes chunked)."""
    value = headers.get("Content-Length")
    if value is not None and value.isdigit():
        return int(value)
    return None


def request_head(
    method: str,
    target: str,
    host: str,
    headers: CIMultiDict[str],
    *,
    body: bool,
    length: int | None,
) -> bytes:
    """The request line and header section, ready for the wire (RFC 9112 §2.1, §3)."""
    parts = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
    parts.extend(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in _FRAMED)
    if body:
        parts.append(
            "Transfer-Encoding: chunked\r\n" if length is None else f"Content-Length: {length}\r\n"
        )
    elif method in _ZERO_LENGTH:
        parts.append("Content-Length: 0\r\n")
    parts.append("\r\n")
    text = "".join(parts)
    # RFC 9112 §11.1: no CR or LF from a value may split the head (the fronts refuse them
    # already; this is the last line of defence, and costs two C-level counts)
    lines = len(parts) + 1
    if text.count("\n") != lines or text.count("\r") != lines:
        raise ClientRequestError("a request field holds CR or LF: not forwarded")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:  # the aiohttp front decodes fields as UTF-8 (surrogateescape)
        return text.encode("utf-8", "surrogateescape")


async def send_body(wire: BodyWire, body: AsyncIterator[bytes], length: int | None) -> None:
    """Stream ``body`` with back-pressure: chunked when ``length`` is None (RFC 9112 §7.1).

    ``sent_all`` is called as soon as the last byte is written, before the source says it
    has ended: the origin may answer in between.

    A body that does not match its declared length is never sent as if it did: the
    connection is given up (the caller aborts it) and the error says why.
    """
    sent = 0
    async for chunk in body:
        if not chunk:
            continue
        sent += len(chunk)
        if length is None:
            wire.writelines([b"%x\r\n" % len(chunk), chunk, b"\r\n"])
        elif sent > length:
            raise ClientRequestError(f"request body longer than its Content-Length {length}")
        else:
            wire.write(chunk)
            if sent == length:
                wire.sent_all()
        await wire.drain()
    if length is None:
        wire.write(LAST_CHUNK)
        wire.sent_all()
    elif sent != length:
        raise UpstreamError(f"request body of {sent} bytes, Content-Length said {length}")
