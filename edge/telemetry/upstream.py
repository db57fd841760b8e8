"""Upstream figures: requests, errors by kind and time to the response head, per upstream.

:class:`MeteredUpstream` wraps one :class:`~edge.origin.client.Upstream` (an origin
pool as a route uses it, ``origin`` being ``origin.url``, or one parent's client) and
counts into children bound when it is built, labelled ``upstream`` (origin or parent)
and ``name`` (the pool's or the parent's). The time is the node's monotonic clock
from sending to the response head; it is also kept on the response (``elapsed``) for
the access log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from multidict import CIMultiDict

from edge.clock import Clock
from edge.errors import UpstreamConnectError, UpstreamError, UpstreamTimeout, UpstreamTLSError
from edge.origin.client import InterimSink, OriginResponse, Upstream
from edge.telemetry import catalogue as c
from edge.telemetry.core import Meters

#: The ``kind`` label of ``edge_upstream_errors_total``.
ERROR_KINDS = ("connect", "tls", "timeout", "other", "status_5xx")


def error_kind(exc: UpstreamError) -> str:
    if isinstance(exc, UpstreamTLSError):
        return "tls"
    if isinstance(exc, UpstreamConnectError):
        return "connect"
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    return "other"


class MeteredUpstream:
    """An upstream whose requests, errors and latency are counted as ``upstream``."""

    def __init__(
        self, inner: Upstream, meters: Meters, clock: Clock, *, upstream: str, name: str
    ) -> None:
        self.inner = inner
        self.clock = clock
        self._requests = meters.cell(c.UPSTREAM_REQUESTS, upstream, name)
        self._errors = {
            kind: meters.cell(c.UPSTREAM_ERRORS, upstream, name, kind) for kind in ERROR_KINDS
        }
        self._seconds = meters.histogram(c.UPSTREAM_SECONDS, upstream, name)

    async def fetch(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None = None,
        *,
        key: str | None = None,
        on_interim: InterimSink | None = None,
    ) -> OriginResponse:
        self._requests.value += 1
        started = self.clock.monotonic()
        try:
            resp = await self.inner.fetch(
                method, target, headers, body, key=key, on_interim=on_interim
            )
        except UpstreamError as exc:
            self._errors[error_kind(exc)].value += 1
            self._seconds.observe(self.clock.monotonic() - started)
            raise
        elapsed = self.clock.monotonic() - started
        resp.elapsed = elapsed
        self._seconds.observe(elapsed)
        if resp.status >= 500:
            self._errors["status_5xx"].value += 1
        return resp
