"""The process log's set-up: text or JSON lines on standard error.

Access lines are not written through ``logging`` (a record per request costs
more than the line): see :mod:`edge.runtime.access_log`.
"""

from __future__ import annotations

import json
import logging
import sys

from edge.config import LoggingConfig

# handed to aiohttp's server, which calls its access logger only when given one; the
# aiohttp front's logger (ProxyFront.access_logger) writes through edge.runtime.access_log
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
