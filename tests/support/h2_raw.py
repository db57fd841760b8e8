"""A raw HTTP/2 client for the front's tests: frames written as an attacker would write them.

``h2``'s client-side connection encodes requests (HPACK state included) when a test wants
well-formed streams; :meth:`RawH2.frame` writes any frame as given, past any state machine.
What the server sends is read frame by frame with ``hyperframe`` (no state machine either),
so a test sees exactly the GOAWAY, RST_STREAM or SETTINGS the server wrote.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    RstStreamFrame,
    SettingsFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass
class Seen:
    """What the server sent, by kind."""

    frames: list[Frame] = field(default_factory=list)
    closed: bool = False  # EOF read

    @property
    def goaway(self) -> GoAwayFrame | None:
        found = [f for f in self.frames if isinstance(f, GoAwayFrame)]
        return found[-1] if found else None

    def resets(self) -> dict[int, int]:
        return {f.stream_id: f.error_code for f in self.frames if isinstance(f, RstStreamFrame)}

    def headers_on(self, sid: int) -> list[HeadersFrame]:
        return [f for f in self.frames if isinstance(f, HeadersFrame) and f.stream_id == sid]

    def data_on(self, sid: int) -> bytes:
        return b"".join(
            bytes(f.data) for f in self.frames if isinstance(f, DataFrame) and f.stream_id == sid
        )

    def settings(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for f in self.frames:
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                out.update(f.settings)
        return out


class RawH2:
    """One HTTP/2 connection to the front; ``authority`` goes in every request."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.authority = authority
        config = H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,  # a test may send what a client must not
            normalize_outbound_headers=False,
        )
        self.h2 = H2Connection(config)
        self.seen = Seen()
        self._buffer = b""

    @classmethod
    async def open(
        cls, port: int, *, ssl_context: ssl.SSLContext | None = None, settings: bool = True
    ) -> RawH2:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1",
                port,
                ssl=ssl_context,
                server_hostname="edge.test" if ssl_context is not None else None,
            ),
            10,
        )
        conn = cls(reader, writer, f"127.0.0.1:{port}")
        if settings:
            conn.h2.initiate_connection()  # the preface and an empty SETTINGS
            conn.flush()
        return conn

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)

    def raw(self, data: bytes) -> None:
        self.writer.write(data)

    def frame(self, frame: Frame) -> None:
        """Any frame, written as is (the client connection's state is not consulted)."""
        self.writer.write(frame.serialize())

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        extra: Iterable[tuple[str, str]] = (),
        end: bool = True,
    ) -> int:
        """A well-formed request on a new stream (HPACK through the client connection)."""
        sid = self.h2.get_next_available_stream_id()
        fields = [
            (b":method", method.encode()),
            (b":scheme", b"http"),
            (b":authority", self.authority.encode()),
            (b":path", path.encode()),
            *((n.encode(), v.encode()) for n, v in extra),
        ]
        self.h2.send_headers(sid, fields, end_stream=end)
        self.flush()
        return sid

    async def read(self, seconds: float = 2.0) -> Seen:
        """Every frame for ``seconds`` (or until EOF)."""
        return await self.read_until(lambda seen: False, seconds)

    async def read_until(self, check: Callable[[Seen], bool], seconds: float = 5.0) -> Seen:
        """Frames until ``check(seen)`` holds, EOF, or ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not check(self.seen) and not self.seen.closed:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                self.seen.closed = True
                break
            self._parse(chunk)
        return self.seen

    def _parse(self, chunk: bytes) -> None:
        buf = self._buffer + chunk
        while len(buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            frame.parse_body(memoryview(buf[9 : 9 + length]))
            self.seen.frames.append(frame)
            buf = buf[9 + length :]
        self._buffer = buf

    def close(self) -> None:
        self.writer.close()
