"""The shield tier on the data path: a miss goes to the parent that owns its cache key.

Parents are tried in ring preference order (:class:`~edge.cluster.ring.HashRing`), skipping
those marked down; the origin comes last. A parent that refuses a connection or times out is
marked down for ``down_for`` seconds of the injected clock (passive health); an optional probe
task GETs each parent's ``<admin_url>/healthz`` and marks it up or down (active health).

Only requests whose body has not been sent yet move on to the next upstream: an upload that
the parent started reading is never replayed (the body stream is gone, and the request may not
be idempotent), the error goes to the caller instead.

HTTP semantics across tiers (Age, Cache-Status chains, CDN-Loop) are the engine's job: a parent
is just an upstream that answers like an origin.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict

from edge.clock import Clock
from edge.cluster.ring import DEFAULT_VNODES, HashRing
from edge.errors import UpstreamConnectError, UpstreamTimeout
from edge.origin.balance import OnceBody
from edge.origin.client import InterimSink, OriginResponse, Upstream

log = logging.getLogger("edge.cluster.parents")


@dataclass(frozen=True, slots=True)
class ParentSpec:
    name: str  # the parent's node name: its place on the ring, and what CDN-Loop shows
    url: str  # its proxy port, e.g. http://shield:8180
    admin_url: str | None = None  # its admin port, for the /healthz probe


ClientFactory = Callable[[ParentSpec], Upstream]


@dataclass(slots=True)
class _Health:
    down_until: float = -math.inf  # monotonic seconds; down while now < down_until
    failures: int = 0  # connect errors and timeouts seen, all time
    last_error: str | None = None


class ParentSet:
    """Implements :class:`Upstream`: ring-chosen parents with failover, then the origin."""

    def __init__(
        self,
        parents: Sequence[ParentSpec],
        clients: ClientFactory,
        clock: Clock,
        origin: Upstream,
        *,
        down_for: float = 10.0,
        probe_timeout: float = 2.0,
        vnodes: int = DEFAULT_VNODES,
    ) -> None:
        self._specs = {p.name: p for p in parents}
        if len(self._specs) != len(parents):
            raise ValueError(f"parent names must be distinct: {[p.name for p in parents]}")
        self._ring = HashRing([p.name for p in parents], vnodes)
        self._clients = {p.name: clients(p) for p in parents}
        self._clock = clock
        self._origin = origin
        self._down_for = down_for
        self._probe_timeout = probe_timeout
        self._health = {p.name: _Health() for p in parents}
        self._probe: asyncio.Task[None] | None = None

    # -- health ------------------------------------------------------------------
    def is_up(self, name: str) -> bool:
        return self._clock.monotonic() >= self._health[name].down_until

    def mark_down(self, name: str, reason: str) -> None:
        health = self._health[name]
        if self.is_up(name):
            log.warning("parent %s marked down for %gs: %s", name, self._down_for, reason)
        health.down_until = self._clock.monotonic() + self._down_for
        health.failures += 1
        health.last_error = reason

    def mark_up(self, name: str) -> None:
        health = self._health[name]
        if not self.is_up(name):
            log.info("parent %s is up again", name)
        health.down_until = -math.inf

    def candidates(self, key: str) -> list[str]:
        """Live parents for ``key``, owner first; the origin is implied after them."""
        return [name for name in self._ring.preference(key) if self.is_up(name)]

    # -- the data path -------------------------------------------------------------
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
        return await self.fetch_via(
            self._origin, method, target, headers, body, key=key, on_interim=on_interim
        )

    def via(self, origin: Upstream) -> Upstream:
        """These parents, then ``origin`` (a route's pool) when none is up."""
        return _Via(self, origin)

    async def fetch_via(
        self,
        origin: Upstream,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None = None,
        *,
        key: str | None = None,
        on_interim: InterimSink | None = None,
    ) -> OriginResponse:
        once = OnceBody(body) if body is not None else None
        for name in self.candidates(key if key is not None else target):
            try:
                return await self._clients[name].fetch(
                    method, target, headers, once, on_interim=on_interim
                )
            except (UpstreamConnectError, UpstreamTimeout) as exc:
                self.mark_down(name, exc.message)
                if once is not None and once.started:
                    raise  # part of the upload went to the parent: never replay it
        return await origin.fetch(method, target, headers, once, key=key, on_interim=on_interim)

    # -- active health -------------------------------------------------------------
    async def probe_once(self, session: aiohttp.ClientSession) -> None:
        """GET every parent's ``/healthz`` (those with an admin URL) at once; 200 means up."""
        specs = [p for p in self._specs.values() if p.admin_url]
        results = await asyncio.gather(*(self._probe_one(session, p) for p in specs))
        for spec, error in zip(specs, results, strict=True):
            if error is None:
                self.mark_up(spec.name)
            else:
                self.mark_down(spec.name, f"health probe: {error}")

    async def _probe_one(self, session: aiohttp.ClientSession, spec: ParentSpec) -> str | None:
        assert spec.admin_url is not None
        url = spec.admin_url.rstrip("/") + "/healthz"
        timeout = self._probe_timeout
        try:
            async with asyncio.timeout(timeout):
                async with session.get(url, allow_redirects=False) as resp:
                    return None if resp.status == 200 else f"{url} answered {resp.status}"
        except TimeoutError:
            return f"{url} did not answer within {timeout:g}s"
        except aiohttp.ClientError as exc:
            return f"{url}: {exc}"

    def start_probe(self, session: aiohttp.ClientSession, interval: float) -> None:
        """Probe every ``interval`` seconds in a tracked task; :meth:`close` cancels it."""
        if self._probe is not None:
            raise RuntimeError("the parent health probe is already running")
        self._probe = asyncio.create_task(self._probe_loop(session, interval), name="parent-probe")

    async def _probe_loop(self, session: aiohttp.ClientSession, interval: float) -> None:
        while True:
            await self.probe_once(session)
            await asyncio.sleep(interval)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.wait([self._probe])
            self._probe = None

    def status(self) -> dict[str, object]:
        """For ``/stats``: each parent's state."""
        now = self._clock.monotonic()
        return {
            name: {
                "url": self._specs[name].url,
                "up": self.is_up(name),
                "down_for": max(0.0, health.down_until - now),
                "failures": health.failures,
                "last_error": health.last_error,
            }
            for name, health in self._health.items()
        }


class _Via:
    """Implements :class:`Upstream`: the parents, then one route's origin pool."""

    __slots__ = ("_parents", "_origin")

    def __init__(self, parents: ParentSet, origin: Upstream) -> None:
        self._parents = parents
        self._origin = origin

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
        return await self._parents.fetch_via(
            self._origin, method, target, headers, body, key=key, on_interim=on_interim
        )
