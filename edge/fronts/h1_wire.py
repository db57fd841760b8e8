"""HTTP/1.1 bytes on the wire: status lines, header sections, chunks (RFC 9112).

Kept apart from the connection so the hot path (``edge.cache.hot``) renders
a stored response through exactly the same code as the full flow's answers:
byte-identical fields by construction.
"""

from __future__ import annotations

import http
from collections.abc import Iterable
from email.utils import formatdate

from edge.models import Headers

#: Fields the front frames itself; a response's own copies are dropped (RFC 9112 §6, §9.6).
FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})

CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"  # RFC 9112 §7.1: last-chunk, no trailers, end of the chunked body
CONNECTION_CLOSE = b"Connection: close\r\n"
CONNECTION_KEEP_ALIVE = b"Connection: keep-alive\r\n"  # HTTP/1.0 persistence, RFC 9112 §C.2.2

_STATUS_LINES: dict[tuple[int, str], bytes] = {}


def reason_of(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_line(status: int, reason: str = "") -> bytes:
    """``HTTP/1.1 200 OK`` (RFC 9112 §4); we always speak 1.1, whatever the client's minor."""
    key = (status, reason)
    line = _STATUS_LINES.get(key)
    if line is None:
        text = _clean(reason or reason_of(status))
        line = f"HTTP/1.1 {status} {text}\r\n".encode("latin-1", "replace")
        if len(_STATUS_LINES) < 512:
            _STATUS_LINES[key] = line
    return line


def _clean(value: str) -> str:
    """A field value or reason without CR, LF or NUL: nothing can split the head."""
    if "\r" in value or "\n" in value or "\x00" in value:
        return value.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
    return value


def header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """The fields as ``Name: value`` lines, skipping those the front frames itself."""
    lines = [
        f"{name}: {_clean(value)}\r\n"
        for name, value in headers
        if name.lower() not in FRAMING and _valid_name(name)
    ]
    return "".join(lines).encode("latin-1", "replace")


def _valid_name(name: str) -> bool:
    return bool(name) and ":" not in name and not any(c in name for c in " \r\n\t\x00")


class DateCache:
    """The IMF-fixdate of the current second, formatted once per second (RFC 9110 §5.6.7)."""

    __slots__ = ("_second", "_line", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""
        self._value = b""

    def line(self, now: float) -> bytes:
        """``Date: <date>`` and CRLF (HTTP/1.1)."""
        if int(now) != self._second:
            self._format(int(now))
        return self._line

    def value(self, now: float) -> bytes:
        """The date alone (an HTTP/2 field value)."""
        if int(now) != self._second:
            self._format(int(now))
        return self._value

    def _format(self, second: int) -> None:
        self._second = second
        self._value = formatdate(second, usegmt=True).encode("ascii")
        self._line = b"Date: " + self._value + CRLF


def head(
    status: int,
    reason: str,
    headers: Headers,
    *,
    length: int | None,
    chunked: bool,
    date: bytes | None,
    connection: bytes = b"",
) -> bytes:
    """A whole response head.

    ``length``: a Content-Length to send (RFC 9110 §8.6), or None; ``chunked``:
    ``Transfer-Encoding: chunked`` (RFC 9112 §7.1); ``date``: a ``Date`` line to
    add when the response has none (RFC 9110 §6.6.1: an origin's own Date is kept);
    ``connection``: a ``Connection`` line (close, or keep-alive for HTTP/1.0).
    """
    parts = [status_line(status, reason), header_block(headers.items())]
    if length is not None:
        parts.append(b"Content-Length: %d\r\n" % length)
    elif chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    if date is not None and "Date" not in headers:
        parts.append(date)
    parts.append(connection)
    parts.append(CRLF)
    return b"".join(parts)


def chunk_prefix(size: int) -> bytes:
    """``<hex size>CRLF`` before a chunk's data (RFC 9112 §7.1)."""
    return b"%x\r\n" % size
