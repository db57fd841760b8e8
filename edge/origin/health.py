"""The active health probe of a pool's servers (``origins[i].health``).

Every ``interval`` seconds of the node's clock each server of the pool is sent
``GET <path>`` (through its own client, so on the node's connection pool and TLS
settings); an answer with ``expect_status`` within ``timeout`` is a success, anything
else a failure. ``fall`` failures in a row mark an up server down, ``rise`` successes
in a row bring a down one back (HAProxy's rise/fall). The verdict is the server's
:attr:`ServerState.probed_up`; passive health (:mod:`edge.origin.balance`) applies on
top of it.

:meth:`HealthProbe.check_due` does one round for the servers that are due; the
background task calls it and sleeps until the next is due, so tests drive the probe
with a fake clock and ``check_due`` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from multidict import CIMultiDict

from edge.clock import Clock
from edge.errors import EdgeError
from edge.origin.balance import Server, ServerPool

log = logging.getLogger("edge.origin.health")

_MIN_SLEEP = 0.05


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    path: str = "/healthz"
    interval: float = 5.0
    timeout: float = 2.0
    expect_status: int = 200
    rise: int = 2
    fall: int = 3
    host: str | None = None  # Host field; None: each server URL's authority


class HealthProbe:
    """Probes one pool's servers; :meth:`start` runs it in a task, :meth:`close` ends it."""

    def __init__(
        self, pool: ServerPool, spec: ProbeSpec, clock: Clock, hosts: dict[str, str]
    ) -> None:
        self._pool = pool
        self._spec = spec
        self._clock = clock
        self._hosts = hosts  # server URL -> the Host its probe carries
        self._due: dict[str, float] = {}  # server URL -> monotonic time of its next probe
        self._task: asyncio.Task[None] | None = None

    async def check_due(self) -> int:
        """Probe every server whose turn has come (all of them the first time); how many."""
        now = self._clock.monotonic()
        due = [s for s in self._pool.servers if self._due.get(s.url, now) <= now]
        for server in due:
            self._due[server.url] = now + self._spec.interval
        results = await asyncio.gather(*(self._probe(s) for s in due))
        for server, error in zip(due, results, strict=True):
            self._record(server, error)
        return len(due)

    async def _probe(self, server: Server) -> str | None:
        """None when the server answered as expected, else what was wrong."""
        spec = self._spec
        headers = CIMultiDict([("Host", self._hosts[server.url]), ("User-Agent", "edge-health")])
        try:
            async with asyncio.timeout(spec.timeout):
                resp = await server.client.fetch("GET", spec.path, headers)
                try:
                    async for _ in resp.chunks():
                        pass  # read to the end, so the connection may be reused
                finally:
                    resp.close()
        except TimeoutError:
            return f"no answer to GET {spec.path} within {spec.timeout:g}s"
        except EdgeError as exc:
            return exc.message
        if resp.status != spec.expect_status:
            return f"GET {spec.path} answered {resp.status}, expected {spec.expect_status}"
        return None

    def _record(self, server: Server, error: str | None) -> None:
        state, spec, name = server.state, self._spec, self._pool.name
        agrees = (error is None) == state.probed_up
        state.probe_streak = 0 if agrees else state.probe_streak + 1
        if error is not None:
            state.last_error = f"health probe: {error}"
        if state.probed_up and state.probe_streak >= spec.fall:
            state.probed_up, state.probe_streak = False, 0
            log.warning("pool %s: server %s down (health probe: %s)", name, server.url, error)
        elif not state.probed_up and state.probe_streak >= spec.rise:
            state.probed_up, state.probe_streak = True, 0
            log.info("pool %s: server %s up again (health probe)", name, server.url)

    # -- the task ------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name=f"health-{self._pool.name}"
            )

    async def _loop(self) -> None:
        while True:
            try:
                await self.check_due()
            except Exception:  # a task boundary: the probe must go on
                log.exception("pool %s: health probe round failed", self._pool.name)
            now = self._clock.monotonic()
            wait = min(self._due.values(), default=now + self._spec.interval) - now
            await asyncio.sleep(max(_MIN_SLEEP, min(wait, self._spec.interval)))

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stop(self) -> None:
        """Cancel the task without waiting (a reload replacing this probe)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
