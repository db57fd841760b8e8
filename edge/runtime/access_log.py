"""The access log: one line per request, ``combined`` text or ``json``, written off the loop.

Formats (``logging.access.format``):

- ``combined``: nginx's combined format, then edge's fields as ``key=value``::

    127.0.0.1 - - [02/Dec/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8" \
host="example.com" cache=hit tier=memory upstream_status=- upstream_time=- \
duration=0.000081 request_id="1f2e…-3" cache_status="edge; hit; ttl=59; detail=memory"

  Quoted values escape ``"``, ``\\`` and control or non-ASCII bytes as ``\\xHH``, as nginx
  does, so a line always splits the same way.
- ``json``: one object per line with the same fields (durations in seconds).

Lines are gathered on the event loop (a list append per request) and handed to
one writer thread about every 50 ms or 64 KiB, so the loop never waits for a
write. If the destination cannot keep up and more than ``max_backlog`` bytes
are waiting, further lines are dropped and counted (``dropped``) rather than
held in memory or allowed to stall requests. ``path`` empty: standard error
(beside the process log); else a file opened for appending, opened again on
every reload (SIGHUP), which is what logrotate needs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import select
import stat
import sys
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

from edge.config import LoggingConfig

log = logging.getLogger("edge.access")

COMBINED, JSON = "combined", "json"


@dataclass(frozen=True, slots=True)
class AccessRecord:
    client: str
    method: str
    target: str
    version: str  # "1.1"
    status: int
    bytes: int
    duration: float  # seconds, head received to last byte written
    cache: str  # the cache outcome (edge.telemetry.outcomes)
    tier: str
    upstream_status: int | None
    upstream_time: float | None  # seconds to the upstream's response head
    request_id: str
    cache_status: str
    host: str = ""
    referer: str = ""
    user_agent: str = ""


def access_format(cfg: LoggingConfig) -> str:
    """``logging.access.format``; ``auto`` follows ``logging.format`` (json, else combined)."""
    chosen = cfg.access.format
    if chosen == "auto":
        return JSON if cfg.format == "json" else COMBINED
    return chosen


def _escape(value: str) -> str:
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return value
    out = []
    for byte in value.encode("utf-8", "surrogateescape"):
        if byte < 0x20 or byte >= 0x7F or byte in (0x22, 0x5C):
            out.append(f"\\x{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def _quoted(value: str) -> str:
    return '"' + _escape(value) + '"' if value else '"-"'


class _Clock:
    """``[02/Dec/2026:10:00:00 +0000]``, formatted once a second."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def stamp(self, now: float) -> str:
        second = int(now)
        if second != self.second:
            self.second = second
            self.text = time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime(second))
        return self.text


def combined_line(rec: AccessRecord, stamp: str) -> str:
    up_status = str(rec.upstream_status) if rec.upstream_status is not None else "-"
    up_time = f"{rec.upstream_time:.6f}" if rec.upstream_time is not None else "-"
    request = f"{rec.method} {rec.target} HTTP/{rec.version}"
    return (
        f"{rec.client or '-'} - - {stamp} {_quoted(request)} {rec.status} {rec.bytes}"
        f" {_quoted(rec.referer)} {_quoted(rec.user_agent)} host={_quoted(rec.host)}"
        f" cache={rec.cache} tier={rec.tier or '-'} upstream_status={up_status}"
        f" upstream_time={up_time} duration={rec.duration:.6f}"
        f" request_id={_quoted(rec.request_id)} cache_status={_quoted(rec.cache_status)}"
    )


def json_line(rec: AccessRecord, now: float) -> str:
    return json.dumps(
        {
            "ts": round(now, 3),
            "logger": "edge.access",
            "client": rec.client,
            "method": rec.method,
            "target": rec.target,
            "version": rec.version,
            "host": rec.host,
            "status": rec.status,
            "bytes": rec.bytes,
            "duration": round(rec.duration, 6),
            "cache": rec.cache,
            "tier": rec.tier,
            "upstream_status": rec.upstream_status,
            "upstream_time": (
                round(rec.upstream_time, 6) if rec.upstream_time is not None else None
            ),
            "request_id": rec.request_id,
            "cache_status": rec.cache_status,
            "referer": rec.referer,
            "user_agent": rec.user_agent,
        },
        ensure_ascii=True,
    )


class AccessLog:
    """The node's access log; ``enabled`` is a plain attribute the fronts test per request."""

    __slots__ = ("enabled", "format", "_writer", "_clock", "_time", "dropped")

    def __init__(self, cfg: LoggingConfig | None = None, *, stream: BinaryIO | None = None) -> None:
        self.enabled = False
        self.format = COMBINED
        self.dropped = 0  # lines lost to a destination that could not keep up (over a reload)
        self._writer: _Writer | None = None
        self._clock = _Clock()
        self._time = time.time
        if cfg is not None:
            self.configure(cfg, stream=stream)

    def configure(self, cfg: LoggingConfig, *, stream: BinaryIO | None = None) -> None:
        """Apply ``logging.access_log`` and ``logging.access`` (at start and on reload)."""
        old, self._writer = self._writer, None
        if old is not None:
            self.dropped += old.dropped
            old.close()
        self.format = access_format(cfg)
        self.enabled = cfg.access_log
        if self.enabled:
            self._writer = _Writer(cfg.access.path, stream)

    def write(self, rec: AccessRecord) -> None:
        writer = self._writer
        if writer is None:
            return
        now = self._time()
        if self.format == JSON:
            writer.add(json_line(rec, now))
        else:
            writer.add(combined_line(rec, self._clock.stamp(now)))

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        writer, self._writer = self._writer, None
        self.enabled = False
        if writer is not None:
            self.dropped += writer.dropped
            writer.close()

    @property
    def lost(self) -> int:
        return self.dropped + (self._writer.dropped if self._writer is not None else 0)


class _Writer:
    """Lines gathered on the loop, written by one thread, a batch at a time."""

    def __init__(
        self,
        path: str,
        stream: BinaryIO | None,
        *,
        delay: float = 0.05,
        max_buffer: int = 64 << 10,
        max_backlog: int = 8 << 20,
    ) -> None:
        self.path = path
        self.delay = delay
        self.max_buffer = max_buffer
        self.max_backlog = max_backlog
        self.dropped = 0
        self._stream = stream
        self._lines: list[str] = []
        self._size = 0
        self._scheduled: asyncio.TimerHandle | None = None
        self._backlog = 0  # bytes handed to the thread and not written yet
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def add(self, line: str) -> None:
        if self._backlog > self.max_backlog:
            self.dropped += 1
            return
        self._lines.append(line)
        self._size += len(line) + 1
        if self._size >= self.max_buffer:
            self.flush()
        elif self._scheduled is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = loop.call_later(self.delay, self.flush)

    def flush(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        if not self._lines:
            return
        self._lines.append("")
        data = "\n".join(self._lines).encode("utf-8", "surrogateescape")
        self._lines.clear()
        self._size = 0
        with self._lock:
            self._backlog += len(data)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="edge-access-log", daemon=True)
            self._thread.start()
        self._queue.put(data)

    def close(self) -> None:
        self.flush()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    # -- the writer thread ---------------------------------------------------------------
    def _open(self) -> tuple[BinaryIO, bool]:
        if self._stream is not None:
            return self._stream, False
        if not self.path:
            return sys.stderr.buffer, False
        return open(self.path, "ab"), True  # noqa: SIM115 - closed when the thread ends

    def _run(self) -> None:
        try:
            out, owned = self._open()
        except OSError as exc:
            log.error("cannot open the access log %s: %s; access lines are dropped", self.path, exc)
            out, owned = None, False
        failed = False
        try:
            while (data := self._queue.get()) is not None:
                try:
                    if out is not None:
                        _write(out, data)
                except (OSError, ValueError) as exc:
                    if not failed:
                        log.error("access log write failed (%s): lines are dropped", exc)
                        failed = True
                finally:
                    with self._lock:
                        self._backlog -= len(data)
        finally:
            if owned and out is not None:
                out.close()


def _write(out: BinaryIO, data: bytes) -> None:
    """``data`` (whole lines) to ``out``; to a pipe in writes of at most PIPE_BUF bytes cut at
    line ends, which the kernel keeps whole, so workers sharing standard error never mix
    their lines (a regular file opened for appending keeps every write whole anyway)."""
    try:
        fd = out.fileno()
    except (OSError, ValueError, AttributeError):
        fd = -1
    if fd < 0 or stat.S_ISREG(os.fstat(fd).st_mode):
        out.write(data)
        out.flush()
        return
    out.flush()
    limit = select.PIPE_BUF
    view = memoryview(data)
    start = 0
    while start < len(data):
        end = len(data)
        if end - start > limit:
            cut = data.rfind(b"\n", start, start + limit)
            end = cut + 1 if cut >= start else data.find(b"\n", start + limit) + 1 or len(data)
        while start < end:
            start += os.write(fd, view[start:end])
