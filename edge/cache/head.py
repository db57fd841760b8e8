"""HEAD write-through: a HEAD that must be validated goes upstream as HEAD (RFC 9111 §4.3.5).

A client's HEAD that finds only a stored GET response it may not reuse as it
is (stale, or the request asks for validation) is sent to the origin as a
HEAD, not turned into a GET: nobody wants the body. It carries the stored
validators, so a 304 freshens the entry (§4.3.4); a 200 updates its fields
and freshness when its validators and length agree with it, and marks it
stale when they do not. Either way the client's answer is built as for any
other request (:mod:`edge.cache.deliver`).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from edge.cache.asking import OriginAsk
from edge.cache.fills import PassThrough
from edge.cache.forwarding import Forwarding
from edge.cache.routes import Route
from edge.clock import Clock
from edge.models import Entry, ProxyRequest
from edge.origin.client import Upstream
from edge.policy.entries import conditional_headers, freshen, head_updates, matches_304
from edge.policy.fill import CLIENT_ONLY_FIELDS
from edge.policy.options import PolicyOptions
from edge.runtime.stats import Stats
from edge.store.base import Store


@dataclass(frozen=True, slots=True)
class Refreshed:
    """The stored entry, updated by the origin's ``status`` (200 or 304) to the HEAD."""

    entry: Entry
    status: int


class HeadThrough:
    """Sends a HEAD upstream on behalf of a stored GET response and updates it."""

    def __init__(
        self,
        *,
        origin: Upstream,
        forwarding: Forwarding,
        store: Store,
        clock: Clock,
        opts: PolicyOptions,
        stats: Stats,
    ) -> None:
        self._ask = OriginAsk(origin, clock, stats)
        self._fwd = forwarding
        self._store = store
        self._clock = clock
        self._opts = opts
        self._stats = stats

    async def refresh(
        self, key: str, req: ProxyRequest, entry: Entry, route: Route | None = None
    ) -> Refreshed | PassThrough:
        """:class:`Refreshed` when the origin's answer updated ``entry``; else the response.

        Sent without the client's preconditions and range (the cache answers them from
        the updated entry) and with the entry's validators: a 304 freshens it (§4.3.4),
        a 200 updates it when it describes the same representation (§4.3.5).
        ``route``: the request's (its upstream and cache rules); None: the node's.
        """
        via = route.upstream if route is not None else None
        opts = route.opts if route is not None else self._opts
        headers = self._fwd.upstream(req)
        for name in CLIENT_ONLY_FIELDS:
            headers.popall(name, None)
        validators = conditional_headers(entry)
        for name, value in validators:
            headers[name] = value
        resp, request_time, response_time = await self._ask.timed(
            "HEAD", req.target, headers, key, None, via
        )
        if resp.status == 304 and not matches_304(entry, resp.headers):
            resp.close()  # §4.3.4: it matches nothing stored; ask again, unconditionally
            for name, _ in validators:
                headers.popall(name, None)
            resp, request_time, response_time = await self._ask.timed(
                "HEAD", req.target, headers, key, None, via
            )
        if resp.status == 200 and not head_updates(entry, resp.headers):
            await self._store.update(msgspec.structs.replace(entry, invalidated=True))
            return PassThrough(resp, "head")
        if resp.status not in (200, 304):
            return PassThrough(resp, "head")
        resp.close()
        fresh = freshen(
            entry,
            resp.headers,
            request_time=request_time,
            response_time=response_time,
            opts=opts,
        )
        await self._store.update(fresh)
        self._stats.revalidated += 1
        return Refreshed(fresh, resp.status)
