"""A pool of origin servers behind one :class:`~edge.origin.client.Upstream`.

``origins[i]`` in the config: servers with weights, picked by smooth weighted
round-robin (nginx's: over any run of requests each server gets its share, spread
out rather than in bursts) or by least connections (the fewest connections opening
or in an exchange, relative to weight; the pool's :meth:`ConnectionPool.busy`).

Health, on the injected clock:

- passive: ``max_fails`` failures in a row (a refused or reset connection, a
  timeout; a 5xx answer too with ``fail_on_5xx``) take a server out for
  ``down_for`` seconds; a good answer resets the count;
- active (optional, :mod:`edge.origin.health`): a probe marks a server down after
  ``fall`` failed probes and up after ``rise`` good ones.

A server is used while both say up. A request that could not connect moves on to
the next server unless part of its body was sent (an upload is never replayed);
when no server is up the pool answers :class:`UpstreamConnectError` (a 502 with the
generic body, or a stale response where HTTP allows it). Health state lives in
:class:`ServerState` objects that a reload hands to the new pool for servers it
keeps, with the connections of the node's one connection pool.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from multidict import CIMultiDict

from edge.clock import Clock
from edge.errors import UpstreamConnectError, UpstreamTimeout
from edge.origin.client import InterimSink, OriginResponse, Upstream

log = logging.getLogger("edge.origin.pool")


class OnceBody:
    """Wraps a request body to tell whether any of it was read (then it cannot be resent)."""

    __slots__ = ("_inner", "started")

    def __init__(self, inner: AsyncIterator[bytes]) -> None:
        self._inner = inner
        self.started = False

    def __aiter__(self) -> OnceBody:
        return self

    async def __anext__(self) -> bytes:
        self.started = True
        return await self._inner.__anext__()


@dataclass(slots=True)
class ServerState:
    """One server's health and balancing state; outlives a reload that keeps the server."""

    fails: int = 0  # passive failures in a row
    down_until: float = -math.inf  # monotonic seconds: passively down while now < down_until
    probed_up: bool = True  # the active probe's verdict (True without a probe)
    probe_streak: int = 0  # probes in a row that disagreed with probed_up
    current: int = 0  # smooth weighted round-robin's running weight
    requests: int = 0  # sent to it, all time
    failures: int = 0  # all time
    last_error: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Server:
    url: str
    weight: int
    client: Upstream
    busy: Callable[[], int]  # connections in use (least-connections)
    state: ServerState = field(default_factory=ServerState)


@dataclass(frozen=True, slots=True)
class PassiveHealth:
    max_fails: int = 1
    down_for: float = 10.0
    fail_on_5xx: bool = False


class ServerPool:
    """Implements :class:`Upstream`: one request to one server of the pool, with failover."""

    def __init__(
        self,
        name: str,
        servers: Sequence[Server],
        clock: Clock,
        *,
        balance: str = "round-robin",
        passive: PassiveHealth | None = None,
    ) -> None:
        if not servers:
            raise ValueError(f"pool {name!r} has no server")
        self.name = name
        self.servers = tuple(servers)
        self._clock = clock
        self._least = balance == "least-connections"
        self._passive = passive or PassiveHealth()
        self._turn = 0  # breaks least-connections ties in turn

    # -- choosing ----------------------------------------------------------------------
    def is_up(self, server: Server) -> bool:
        state = server.state
        return state.probed_up and self._clock.monotonic() >= state.down_until

    def pick(self, exclude: Sequence[Server] = ()) -> Server | None:
        """The server for the next request (None: none is up)."""
        up = [s for s in self.servers if s not in exclude and self.is_up(s)]
        if not up:
            return None
        if len(up) == 1:
            return up[0]
        if self._least:
            return self._least_loaded(up)
        total = 0
        best = up[0]
        for server in up:  # nginx's smooth weighted round-robin
            state = server.state
            state.current += server.weight
            total += server.weight
            if state.current > best.state.current:
                best = server
        best.state.current -= total
        return best

    def _least_loaded(self, up: list[Server]) -> Server:
        loads = [s.busy() / s.weight for s in up]
        low = min(loads)
        ties = [s for s, load in zip(up, loads, strict=True) if load == low]
        self._turn += 1
        return ties[self._turn % len(ties)]

    # -- health ------------------------------------------------------------------------
    def failed(self, server: Server, reason: str) -> None:
        state = server.state
        state.fails += 1
        state.failures += 1
        state.last_error = reason
        passive = self._passive
        if state.fails >= passive.max_fails:
            if self._clock.monotonic() >= state.down_until:
                log.warning(
                    "pool %s: server %s marked down for %gs after %d failure(s): %s",
                    self.name,
                    server.url,
                    passive.down_for,
                    state.fails,
                    reason,
                )
            state.down_until = self._clock.monotonic() + passive.down_for

    def answered(self, server: Server) -> None:
        state = server.state
        state.fails = 0
        if state.down_until != -math.inf:
            state.down_until = -math.inf

    # -- the data path -----------------------------------------------------------------
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
        once = OnceBody(body) if body is not None else None
        tried: list[Server] = []
        while True:
            server = self.pick(tried)
            if server is None:
                raise UpstreamConnectError(f"pool {self.name}: no server is up")
            tried.append(server)
            server.state.requests += 1
            try:
                resp = await server.client.fetch(
                    method, target, headers, once, key=key, on_interim=on_interim
                )
            except UpstreamConnectError as exc:
                self.failed(server, exc.message)
                if once is not None and once.started:
                    raise  # part of the upload went to that server: never replay it
                continue
            except UpstreamTimeout as exc:
                self.failed(server, exc.message)  # it may have acted on it: not sent again
                raise
            if resp.status >= 500 and self._passive.fail_on_5xx:
                self.failed(server, f"answered {resp.status}")
            else:
                self.answered(server)
            return resp

    def status(self) -> dict[str, object]:
        """For ``/stats``: each server's state."""
        now = self._clock.monotonic()
        return {
            s.url: {
                "up": self.is_up(s),
                "weight": s.weight,
                "down_for": max(0.0, s.state.down_until - now),
                "probed_up": s.state.probed_up,
                "requests": s.state.requests,
                "failures": s.state.failures,
                "last_error": s.state.last_error,
            }
            for s in self.servers
        }
