"""A scriptable origin on raw sockets: the faults no HTTP server library will make on purpose.

:class:`RawOrigin` listens on 127.0.0.1 (a free port) in a thread of the test process and
answers each path with the replies a test scripted for it, in order (the last one
repeats). A reply is a list of steps, played on the socket as written::

    origin.script("/a", reset_mid_body(100_000, 40_000), ok(b"whole"))

- :class:`Send` writes bytes; :class:`Hold` waits for a :class:`threading.Event` (or its
  bound) with nothing sent; :class:`Close` sends FIN, :class:`Reset` an RST
  (``SO_LINGER`` 0); a reply that ends without either keeps the connection for the next
  request (it is reusable only if its head said so).
- the ready-made replies below cover what the fault suite needs: a body cut by a reset or a
  FIN (fewer bytes than Content-Length), more bytes than declared, a stall in the head or
  the body, a close before any byte, garbage instead of HTTP, a chunked body that breaks off.

The origin records every request (path, the connection it came on) so a test can tell a
collapsed fill (one request) from a herd, and a reused connection from a new one. Every
wait is bounded; :meth:`close` releases every held reply and joins the threads.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

HOST = "127.0.0.1"
HOLD_BOUND = 15.0  # no held reply outlives this, whatever the test forgot


@dataclass(frozen=True)
class Send:
    data: bytes


@dataclass(frozen=True)
class Hold:
    """Send nothing until ``gate`` is set (or ``HOLD_BOUND``, or the origin closes)."""

    gate: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Close:
    """FIN: the origin closes its side (what was sent stays sent)."""


@dataclass(frozen=True)
class Reset:
    """RST: the connection is aborted (``SO_LINGER`` 0, then close)."""


Step = Send | Hold | Close | Reset
Reply = Sequence[Step]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    connection: int  # the n-th connection the origin accepted
    head: bytes


def pattern(size: int, offset: int = 0) -> bytes:
    """``size`` deterministic bytes (byte ``i`` is ``i % 251``), as from ``offset``."""
    block = bytes(range(251))
    start = offset % 251
    reps = (start + size) // 251 + 1
    return (block * reps)[start : start + size]


def head(
    status: int = 200,
    *,
    length: int | None = None,
    chunked: bool = False,
    cc: str = "max-age=600",
    keep_alive: bool = False,
    extra: Sequence[tuple[str, str]] = (),
) -> bytes:
    lines = [f"HTTP/1.1 {status} OK", "Content-Type: application/octet-stream"]
    if cc:
        lines.append(f"Cache-Control: {cc}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    if not keep_alive:
        lines.append("Connection: close")
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


# -- ready-made replies ----------------------------------------------------------------
def ok(body: bytes, *, cc: str = "max-age=600", keep_alive: bool = False) -> Reply:
    tail: list[Step] = [] if keep_alive else [Close()]
    return [Send(head(length=len(body), cc=cc, keep_alive=keep_alive) + body), *tail]


def reset_mid_body(total: int, sent: int, gate: threading.Event | None = None) -> Reply:
    """Content-Length ``total``, ``sent`` bytes of it, (a hold,) then an RST."""
    return [Send(head(length=total) + pattern(sent)), *_held(gate), Reset()]


def short_body(total: int, sent: int, gate: threading.Event | None = None) -> Reply:
    """Content-Length ``total``, only ``sent`` bytes, (a hold,) then FIN."""
    return [Send(head(length=total) + pattern(sent)), *_held(gate), Close()]


def long_body(declared: int, extra: bytes) -> Reply:
    """Content-Length ``declared``, then ``extra`` more bytes on a kept-alive connection."""
    return [Send(head(length=declared, keep_alive=True) + pattern(declared) + extra)]


def stall_in_head(gate: threading.Event | None = None) -> Reply:
    """Half a head, then nothing (until the gate or the bound), then FIN."""
    return [Send(b"HTTP/1.1 200 OK\r\nContent-Ty"), Hold(gate or threading.Event()), Close()]


def stall_in_body(total: int, sent: int, gate: threading.Event | None = None) -> Reply:
    return [Send(head(length=total) + pattern(sent)), Hold(gate or threading.Event()), Close()]


def close_before_head(gate: threading.Event | None = None) -> Reply:
    return [*_held(gate), Close()]


def garbage(gate: threading.Event | None = None) -> Reply:
    return [*_held(gate), Send(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 not http\r\n\r\n"), Close()]


def chunked_broken(sizes: Sequence[int], *, reset: bool = False) -> Reply:
    """A chunked body of ``sizes`` chunks that ends without its last chunk (FIN or RST)."""
    body, offset = b"", 0
    for size in sizes:
        body += chunk(pattern(size, offset))
        offset += size
    return [Send(head(chunked=True) + body), Reset() if reset else Close()]


def chunked_ok(sizes: Sequence[int]) -> Reply:
    body, offset = b"", 0
    for size in sizes:
        body += chunk(pattern(size, offset))
        offset += size
    return [Send(head(chunked=True) + body + b"0\r\n\r\n"), Close()]


def _held(gate: threading.Event | None) -> list[Step]:
    return [Hold(gate)] if gate is not None else []


class RawOrigin:
    """The scripted origin; use as a context manager (or call :meth:`close`)."""

    def __init__(self) -> None:
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.05)  # accept() wakes to see close(): closing alone won't
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: set[socket.socket] = set()
        self._accepted = 0
        self._acceptor = threading.Thread(target=self._accept, name="raw-origin", daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def script(self, path: str, *replies: Reply) -> str:
        with self._lock:
            self._scripts[path] = list(replies)
        return path

    def seen(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> RawOrigin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(5)
        for t in self._threads:
            t.join(5)

    # -- the server side ---------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self._accepted += 1
                number = self._accepted
                self._socks.add(conn)
            t = threading.Thread(target=self._serve, args=(conn, number), daemon=True)
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            for req in self._requests(conn, number):
                if not self._play(conn, self._reply_for(req)):
                    return
        except OSError:
            pass
        finally:
            with self._lock:
                self._socks.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _requests(self, conn: socket.socket, number: int) -> Iterator[Request]:
        buf = b""
        while not self._closing.is_set():
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            raw, _, buf = buf.partition(b"\r\n\r\n")
            method, target, *_ = raw.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            req = Request(method, target, number, raw)
            with self._lock:
                self.requests.append(req)
            yield req

    def _reply_for(self, req: Request) -> Reply:
        with self._lock:
            queue = self._scripts.get(req.path)
            if not queue:
                return ok(b"unscripted\n", cc="no-store")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _play(self, conn: socket.socket, reply: Reply) -> bool:
        """Play ``reply``; whether the connection stays open for another request."""
        for step in reply:
            if isinstance(step, Send):
                conn.sendall(step.data)
            elif isinstance(step, Hold):
                deadline = HOLD_BOUND
                while deadline > 0 and not step.gate.is_set() and not self._closing.is_set():
                    step.gate.wait(0.05)
                    deadline -= 0.05
            elif isinstance(step, Close):
                conn.shutdown(socket.SHUT_WR)
                return False
            else:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return False
        return True
