"""Logging set-up and the access log (one line per request, text or JSON)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import TextIO

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from edge.config import LoggingConfig

access_log = logging.getLogger("edge.access")

_STD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(cfg: LoggingConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter
    if cfg.format == "json":
        formatter = JsonFormatter()
    else:
        formatter = logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level.upper())
    access_log.disabled = not cfg.access_log
    # access lines are many: buffered, written once per batch rather than once per request
    buffered = BufferedLineHandler(sys.stderr)
    buffered.setFormatter(formatter)
    for old in access_log.handlers:
        old.close()
    access_log.handlers[:] = [buffered]
    access_log.propagate = False


class BufferedLineHandler(logging.Handler):
    """Formats records into a buffer written in one call per event-loop batch.

    A flush is scheduled on the running loop shortly after the first buffered
    line (or happens at once past ``max_buffer`` bytes, or with no loop), so a
    burst of requests costs one write instead of one per line.
    """

    def __init__(
        self, stream: TextIO | None = None, *, delay: float = 0.05, max_buffer: int = 64 << 10
    ) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self.max_buffer = max_buffer
        self._lines: list[str] = []
        self._size = 0
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        self._lines.append(text)
        self._size += len(text)
        if self._size >= self.max_buffer:
            self.flush()
            return
        if not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_later(self.delay, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        self._size = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: nothing sensible left to do
            pass

    def close(self) -> None:
        self.flush()
        super().close()


class EdgeAccessLogger(AbstractAccessLogger):
    """method, target, status, bytes, duration, upstream status and Cache-Status."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_: float) -> None:
        from edge.fronts.aio import RESPONSE

        proxied = request.get(RESPONSE)
        upstream = getattr(proxied, "upstream_status", None)
        self.logger.info(
            '%s "%s %s" %d %d %.1fms up=%s cs="%s"',
            request.remote,
            request.method,
            request.raw_path,
            response.status,
            response.body_length,
            time_ * 1000,
            upstream if upstream is not None else "-",
            response.headers.get("Cache-Status", ""),
            extra={
                "client": request.remote,
                "method": request.method,
                "target": request.raw_path,
                "status": response.status,
                "bytes": response.body_length,
                "duration_ms": round(time_ * 1000, 2),
                "upstream_status": upstream,
                "cache_status": response.headers.get("Cache-Status", ""),
                "at": time.time(),
            },
        )

    @property
    def enabled(self) -> bool:
        return not self.logger.disabled and self.logger.isEnabledFor(logging.INFO)
