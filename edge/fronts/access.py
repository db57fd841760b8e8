"""The access log for the http1 front: the same line as aiohttp's ``EdgeAccessLogger``.

One record per request on the ``edge.access`` logger, with the same message
and the same ``extra`` fields, so text and JSON output are identical whichever
front runs. Records are not written one by one: :class:`BufferedLineHandler`
(``edge.runtime.logs``, installed by ``setup_logging``) gathers the formatted lines
and writes them in one call per batch.
"""

from __future__ import annotations

import logging
import time

from edge.runtime.logs import access_log

FORMAT = '%s "%s %s" %d %d %.1fms up=%s cs="%s"'


class AccessLog:
    """Writes the line for one finished request, when the access logger is on."""

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger = access_log) -> None:
        self.logger = logger

    @property
    def enabled(self) -> bool:
        return not self.logger.disabled and self.logger.isEnabledFor(logging.INFO)

    def line(
        self,
        client: str,
        method: str,
        target: str,
        status: int,
        size: int,
        seconds: float,
        upstream: int | None,
        cache_status: str,
    ) -> None:
        self.logger.info(
            FORMAT,
            client,
            method,
            target,
            status,
            size,
            seconds * 1000,
            upstream if upstream is not None else "-",
            cache_status,
            extra={
                "client": client,
                "method": method,
                "target": target,
                "status": status,
                "bytes": size,
                "duration_ms": round(seconds * 1000, 2),
                "upstream_status": upstream,
                "cache_status": cache_status,
                "at": time.time(),
            },
        )
