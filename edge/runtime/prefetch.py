"""Preload prefetch: the ``rel=preload`` links of HTML responses fetched into the cache.

When a fill stores an HTML response (``text/html``, 200), the same-origin
``Link: <…>; rel=preload`` targets of that response and of the 103 Early Hints
before it (:func:`edge.policy.links.preload_targets`) are requested through the
node's own request flow, as cache warming does (:mod:`edge.runtime.warm`): same
key, same rules, collapsing with the clients that ask for them a moment later.
Each prefetch carries the triggering request's Accept-Encoding and
Accept-Language, so the variants that client's browser will ask for are the ones
stored.

Bounded three ways (``cache.prefetch``): at most ``per_response`` links of one
response, ``concurrency`` requests at once, and ``max_in_flight`` accepted and not
yet done (beyond it a link is dropped, not queued); a target already in flight is
not asked twice. A request this prefetcher sent never triggers another round. Off
by default; the tasks are cancelled when the node shuts down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from multidict import CIMultiDict, CIMultiDictProxy

from edge.errors import EdgeError
from edge.models import ProxyRequest, ProxyResponse
from edge.policy.coding import type_matches
from edge.policy.headers import AnyHeaders
from edge.policy.links import preload_targets
from edge.runtime.stats import Stats
from edge.runtime.warm import drain

log = logging.getLogger("edge.prefetch")

USER_AGENT = "edge-prefetch"
_COPIED = ("Accept-Encoding", "Accept-Language")

Handle = Callable[[ProxyRequest, None], Awaitable[ProxyResponse]]


class Prefetcher:
    def __init__(
        self,
        handle: Handle,
        stats: Stats,
        *,
        per_response: int,
        concurrency: int,
        max_in_flight: int,
    ) -> None:
        self._handle = handle
        self._stats = stats
        self._per_response = per_response
        self._gate = asyncio.Semaphore(concurrency)
        self._max_in_flight = max_in_flight
        self._in_flight: set[tuple[str, str]] = set()  # (host, target)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def offer(
        self, req: ProxyRequest, status: int, headers: AnyHeaders, hints: Sequence[str]
    ) -> int:
        """A fill stored this response: prefetch its preload links; returns how many."""
        if self._closed or status != 200 or req.headers.get("User-Agent") == USER_AGENT:
            return 0
        if not type_matches(headers.get("content-type"), ("text/html",)):
            return 0
        values = [*hints, *headers.getall("link", ())]
        started = 0
        for target in preload_targets(values, req.url, self._per_response):
            slot = (req.host, target)
            if slot in self._in_flight or target == req.target:
                continue
            if len(self._in_flight) >= self._max_in_flight:
                self._stats.prefetch_dropped += 1
                continue
            self._in_flight.add(slot)
            task = asyncio.get_running_loop().create_task(self._fetch(req, target, slot))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def _fetch(self, origin: ProxyRequest, target: str, slot: tuple[str, str]) -> None:
        fields = CIMultiDict([("Host", origin.host), ("User-Agent", USER_AGENT)])
        for name in _COPIED:
            for value in origin.headers.getall(name, ()):
                fields.add(name, value)
        request = ProxyRequest(
            method="GET",
            target=target,
            scheme=origin.scheme,
            host=origin.host,
            headers=CIMultiDictProxy(fields),
            client_ip="127.0.0.1",
        )
        try:
            async with self._gate:
                response = await self._handle(request, None)
                await drain(response.body)
            self._stats.prefetched += 1
        except (EdgeError, OSError, ValueError) as exc:
            self._stats.prefetch_failed += 1
            log.info("prefetch of %s%s failed: %s", origin.host, target, exc)
        finally:
            self._in_flight.discard(slot)

    async def close(self) -> None:
        """Cancel every prefetch still running (node shutdown)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every prefetch started so far has ended (tests, warm-up scripts)."""
        for _ in range(100):  # bounded: prefetches never start prefetches
            if not self._tasks:
                return
            await asyncio.gather(*self._tasks, return_exceptions=True)
