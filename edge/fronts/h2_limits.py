"""HTTP/2 limits: the front's settings, and a frame guard that reads frame headers first.

The ``h2`` library decodes a header block only once it is whole, and it answers SETTINGS,
PING and RST_STREAM frames without telling anyone how many came. The published attacks
live in exactly those gaps, so :class:`FrameGuard` reads every frame's 9-byte header
(RFC 9113 §4.1) from the bytes *before* they reach ``h2``, and counts:

- RST_STREAM frames from the client (rapid reset, CVE-2023-44487: open a stream, cancel
  it, repeat; the server starts work for each);
- SETTINGS, PING and PRIORITY frames (each costs a reply or bookkeeping; the 2019 floods
  CVE-2019-9512/9515);
- frames with nothing in them: DATA without payload that does not end the stream, and
  HEADERS/CONTINUATION fragments of zero bytes (CVE-2019-9518);
- the bytes of one header block (HEADERS and its CONTINUATIONs until END_HEADERS),
  bounded before HPACK decodes any of it (the CONTINUATION flood, CVE-2024-27316 class).

Counts are per connection within a fixed window (``flood_window``) on the front's timers.
The first limit passed is returned as a reason; the connection then sends GOAWAY with
ENHANCE_YOUR_CALM (RFC 9113 §7) and closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config import Config
from edge.config.http2 import check_http2
from edge.fronts.h1_settings import Timers

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # RFC 9113 §3.4

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, CONTINUATION = 0, 1, 2, 3, 4, 6, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


@dataclass(frozen=True, slots=True)
class H2Settings:
    """``proxy.http2`` as the front uses it."""

    enabled: bool = True
    max_concurrent_streams: int = 100
    max_header_list_size: int = 16384
    max_header_block: int = 65536
    hpack_table_size: int = 4096
    initial_window: int = 256 * 1024
    max_resets: int = 100
    max_control_frames: int = 200
    max_empty_frames: int = 100
    flood_window: float = 10.0

    @classmethod
    def from_config(cls, cfg: Config) -> H2Settings:
        h = cfg.proxy.http2
        check_http2(h)  # also checked by the loader; a Config built in code is checked here
        return cls(
            enabled=h.enabled,
            max_concurrent_streams=h.max_concurrent_streams,
            max_header_list_size=h.max_header_list_size,
            max_header_block=h.max_header_block,
            hpack_table_size=h.hpack_table_size,
            initial_window=h.initial_window,
            max_resets=h.max_resets,
            max_control_frames=h.max_control_frames,
            max_empty_frames=h.max_empty_frames,
            flood_window=h.flood_window,
        )


class FrameGuard:
    """Counts what a client sends, frame header by frame header (see the module docstring).

    ``feed`` takes the client's bytes from the connection preface on (it is skipped), in
    any pieces, and returns None or the reason the connection must end.
    """

    __slots__ = (
        "limits",
        "timers",
        "_head",
        "_skip",
        "_block",
        "_in_block",
        "_since",
        "resets",
        "control",
        "empty",
    )

    def __init__(self, limits: H2Settings, timers: Timers) -> None:
        self.limits = limits
        self.timers = timers
        self._head = b""  # a frame header split across reads
        self._skip = len(PREFACE)  # bytes still to pass: the preface, then each payload
        self._block = 0  # bytes of the header block being received
        self._in_block = False
        self._since = timers.time()
        self.resets = 0
        self.control = 0
        self.empty = 0

    def feed(self, data: bytes) -> str | None:
        pos, end = 0, len(data)
        while pos < end:
            skip = self._skip
            if skip:
                taken = min(skip, end - pos)
                self._skip = skip - taken
                pos += taken
                continue
            if not self._head and end - pos >= 9:
                head = data[pos : pos + 9]
                pos += 9
            else:
                piece = data[pos : pos + 9 - len(self._head)]
                pos += len(piece)
                self._head += piece
                if len(self._head) < 9:
                    return None
                head, self._head = self._head, b""
            length = int.from_bytes(head[0:3], "big")
            self._skip = length
            problem = self._frame(length, head[3], head[4])
            if problem is not None:
                return problem
        return None

    def _frame(self, length: int, kind: int, flags: int) -> str | None:
        limits = self.limits
        if kind == HEADERS or kind == CONTINUATION:
            self._block = length if kind == HEADERS else self._block + length
            self._in_block = not flags & END_HEADERS
            if self._block > limits.max_header_block:
                return f"header block over {limits.max_header_block} bytes"
            if length == 0 and self._in_block:
                return self._count_empty()
            return None
        if kind == DATA:
            if length == 0 and not flags & END_STREAM:
                return self._count_empty()
            return None
        if kind == RST_STREAM:
            self._roll()
            self.resets += 1
            if self.resets > limits.max_resets:
                return f"{self.resets} stream resets within {limits.flood_window:g}s"
            return None
        if kind == PRIORITY or ((kind == SETTINGS or kind == PING) and not flags & ACK):
            self._roll()
            self.control += 1
            if self.control > limits.max_control_frames:
                return f"{self.control} control frames within {limits.flood_window:g}s"
        return None

    def _count_empty(self) -> str | None:
        self._roll()
        self.empty += 1
        if self.empty > self.limits.max_empty_frames:
            return f"{self.empty} empty frames within {self.limits.flood_window:g}s"
        return None

    def _roll(self) -> None:
        now = self.timers.time()
        if now - self._since >= self.limits.flood_window:
            self._since = now
            self.resets = self.control = self.empty = 0
