"""Asking the origin on the cache path: every request counted, and timed where it is stored.

The fills, HEAD refreshes, partial fetches and the flow's passes all send their
requests through :class:`OriginAsk`, so what the node counts of its origin
(``origin_requests``, ``origin_errors``) is counted in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from multidict import CIMultiDict

from edge.clock import Clock
from edge.errors import UpstreamError
from edge.origin.client import InterimSink, OriginResponse, Upstream
from edge.policy.keys import url_of_key
from edge.runtime.stats import Stats


class OriginAsk:
    def __init__(self, origin: Upstream, clock: Clock, stats: Stats) -> None:
        self._origin = origin
        self._clock = clock
        self._stats = stats

    async def timed(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        key: str,
        interim: InterimSink | None = None,
        via: Upstream | None = None,
    ) -> tuple[OriginResponse, float, float]:
        """A request whose answer may be stored: with its request and response times
        (RFC 9111 §4.2.3); a 5xx answer counts as an origin error. ``via``: the request's
        route's upstream (edge.cache.routes), instead of the node's origin."""
        stats = self._stats
        stats.origin_requests += 1
        request_time = self._clock.now()
        try:
            resp = await (via or self._origin).fetch(
                method, target, headers, key=url_of_key(key), on_interim=interim
            )
        except UpstreamError:
            stats.origin_errors += 1
            raise
        if resp.status >= 500:
            stats.origin_errors += 1
        return resp, request_time, self._clock.now()

    async def passing(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None,
        key: str,
        interim: InterimSink | None = None,
        via: Upstream | None = None,
    ) -> OriginResponse:
        """A request passed through (uncacheable, or a method the cache forwards)."""
        self._stats.origin_requests += 1
        try:
            return await (via or self._origin).fetch(
                method, target, headers, body, key=url_of_key(key), on_interim=interim
            )
        except UpstreamError:
            self._stats.origin_errors += 1
            raise
