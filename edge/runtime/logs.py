"""Logging set-up and the access log (one line per request, text or JSON)."""

from __future__ import annotations

import json
import logging
import sys
import time

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
    if cfg.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level.upper())
    access_log.disabled = not cfg.access_log


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
