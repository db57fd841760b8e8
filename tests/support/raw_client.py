"""A blocking HTTP/1.1 client on a raw socket that says exactly how a response ended.

HTTP libraries hide what the fault suite must see: whether a body stopped short of its
Content-Length, whether a chunked body ended with its last chunk, whether the server
closed or reset. :func:`get` reads one response and reports it as a :class:`Got`.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

HOST = "127.0.0.1"


@dataclass
class Got:
    status: int  # 0: no response head at all
    headers: dict[str, str]  # lower-case names (the last of repeated fields)
    body: bytes
    complete: bool  # the framing said the body ended (all of Content-Length, or last chunk)
    closed: bool  # the server closed or reset the connection after it
    reset: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def request(path: str, *extra: str, host: str = "edge.test", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *extra, "", ""]
    return "\r\n".join(lines).encode("latin-1")


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""
        self.eof = False
        self.reset = False

    def more(self) -> bool:
        if self.eof:
            return False
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data, self.reset = b"", True
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def until(self, marker: bytes) -> bytes | None:
        while marker not in self.buf:
            if not self.more():
                return None
        out, _, self.buf = self.buf.partition(marker)
        return out

    def exactly(self, n: int) -> tuple[bytes, bool]:
        while len(self.buf) < n:
            if not self.more():
                out, self.buf = self.buf, b""
                return out, False
        out, self.buf = self.buf[:n], self.buf[n:]
        return out, True


def read_response(sock: socket.socket, *, within: float = 10.0, head_only: bool = False) -> Got:
    r = _Reader(sock, time.monotonic() + within)
    raw = r.until(b"\r\n\r\n")
    if raw is None:
        return Got(0, {}, r.buf, False, True, r.reset)
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if head_only or status in (204, 304) or status < 200:
        return Got(status, headers, b"", True, False)
    body, complete = b"", False
    if "content-length" in headers:
        body, complete = r.exactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size_line = r.until(b"\r\n")
            if size_line is None:
                break
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            data, whole = r.exactly(size + 2)
            if not whole:
                parts.append(data[:size])
                break
            if size == 0:
                complete = True
                break
            parts.append(data[:-2])
        body = b"".join(parts)
    else:
        while r.more():
            pass
        body, r.buf, complete = r.buf, b"", not r.reset
    closed = r.eof
    if not closed and (not complete or headers.get("connection", "").lower() == "close"):
        with contextlib.suppress(TimeoutError, OSError):
            while r.more():  # what follows before the close (nothing, for an honest server)
                pass
        closed = r.eof
    return Got(status, headers, body, complete, closed, r.reset)


def get(port: int, path: str, *extra: str, within: float = 10.0, method: str = "GET") -> Got:
    """One request on a new connection; how its response ended."""
    with socket.create_connection((HOST, port), timeout=within) as sock:
        sock.sendall(request(path, *extra, method=method))
        return read_response(sock, within=within, head_only=method == "HEAD")
