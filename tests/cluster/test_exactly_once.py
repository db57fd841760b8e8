"""A clustered node with workers applies each event exactly once per worker.

Node "a" is a leader worker (a real Coordinator, Applier and ControlPlane on a real
nats-server) with two fake peer workers on Unix sockets that count what the leader sends
them; node "b" is a bare ControlPlane. An event "a" makes is applied by "a" and its workers
when it is made, and not again when it comes back through the stream; an event "b" makes
reaches "a" and each of its workers once.
"""

from __future__ import annotations

import collections
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cluster_helpers import NatsServer, until

from edge.clock import FakeClock
from edge.cluster.control import ControlPlane
from edge.cluster.coordinator import Applier, Coordinator
from edge.cluster.events import InvalidationEvent, purge_event
from edge.invalidation.versions import VersionTable
from edge.runtime.workers import WorkerLink, WorkerRole

TOKEN = "once-token-0123456789abcdef"
FAST = {"reconnect_wait": 0.1, "request_timeout": 2.0, "pull_wait": 0.2, "ack_wait": 2.0}


class PeerWorker:
    """A fake non-leader worker on a Unix socket: counts each (path, body) the leader sends."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def call(request: web.Request) -> web.Response:
            body = await request.json()
            what = body.get("prefix") or ",".join(body.get("urls", []))
            self.calls[(request.path, what)] += 1
            return web.json_response({"purged": 0, "soft": False, "nodes": {}, "version": 0})

        app = web.Application()
        app.router.add_post("/{tail:.*}", call)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.UnixSite(self._runner, self.path).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class CountingInvalidator:
    """The leader worker's own purges, counted by URL."""

    purges: collections.Counter[str] = field(default_factory=collections.Counter)

    async def purge(
        self,
        urls: Sequence[str] = (),
        prefixes: Sequence[str] = (),
        tags: Sequence[str] = (),
        all: bool = False,
        soft: bool = False,
    ) -> int:
        for url in urls:
            self.purges[url] += 1
        return len(urls)


class CountingVersions(VersionTable):
    """The leader worker's own version applies, counted by (prefix, version)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.applied: collections.Counter[tuple[str, int]] = collections.Counter()

    async def apply(self, prefix: str, version: int) -> int:
        self.applied[(prefix, version)] += 1
        return await super().apply(prefix, version)


@dataclass
class Sink:
    """Node b's EventSink: nothing to apply on."""

    events: list[InvalidationEvent] = field(default_factory=list)

    async def apply_event(self, event: InvalidationEvent) -> None:
        self.events.append(event)

    async def apply_version(self, prefix: str, version: int) -> None:
        pass

    async def drop_everything(self) -> None:
        pass


@dataclass
class Rig:
    coordinator: Coordinator
    control_a: ControlPlane
    control_b: ControlPlane
    invalidator: CountingInvalidator
    versions: CountingVersions
    peers: list[PeerWorker]

    def peer_counts(self, path: str, what: str) -> list[int]:
        return [peer.calls[(path, what)] for peer in self.peers]

    async def a_applied(self, seq: int) -> bool:
        """Node a's consumer has acknowledged ``seq`` (it has seen the event come back)."""
        return (await self.control_a.applied_by()).get("a", 0) >= seq


@pytest.fixture
async def rig(nats_server: NatsServer) -> AsyncIterator[Rig]:
    with tempfile.TemporaryDirectory(prefix="once-") as sockets_dir:  # short: AF_UNIX paths
        sockets = tuple(str(Path(sockets_dir) / f"w{i}.sock") for i in range(3))
        peers = [PeerWorker(path) for path in sockets[1:]]
        for peer in peers:
            await peer.start()
        invalidator = CountingInvalidator()
        versions = CountingVersions()
        link = WorkerLink(WorkerRole(0, 3, sockets), TOKEN)
        applier = Applier(
            name="a",
            invalidator=invalidator,  # type: ignore[arg-type]
            versions=versions,
            link=link,
        )
        clock = FakeClock()
        control_a = ControlPlane([nats_server.url], "a", sink=applier, clock=clock, **FAST)
        control_b = ControlPlane([nats_server.url], "b", sink=Sink(), clock=clock, **FAST)
        coordinator = Coordinator(applier=applier, clock=clock, control=control_a)
        try:
            assert await control_a.start(within=10)
            assert await control_b.start(within=10)
            yield Rig(coordinator, control_a, control_b, invalidator, versions, peers)
        finally:
            await control_a.close()
            await control_b.close()
            await link.close()
            for peer in peers:
                await peer.stop()


def _purge_kw(url: str) -> dict[str, Any]:
    return {"urls": [url], "prefixes": [], "tags": [], "everything": False, "soft": False}


async def test_a_purge_made_here_is_applied_once_per_worker(rig: Rig) -> None:
    outcome = await rig.coordinator.purge(**_purge_kw("/mine"), wait=True)
    assert outcome.nodes == {"a": True, "b": True}
    # wait=True waited for a's own consumer too: the event has come back through the stream
    assert rig.invalidator.purges["/mine"] == 1
    assert rig.peer_counts("/purge", "/mine") == [1, 1]


async def test_a_version_bump_made_here_is_applied_once_per_worker(rig: Rig) -> None:
    version, nodes = await rig.coordinator.bump("/static/", wait=True)
    assert version == 1 and nodes == {"a": True, "b": True}
    assert rig.versions.applied[("/static/", 1)] == 1
    assert rig.peer_counts("/versions", "/static/") == [1, 1]


async def test_events_from_another_node_are_applied_once_per_worker(rig: Rig) -> None:
    seq = await rig.control_b.submit(purge_event("b", FakeClock(), urls=["/theirs"]))
    assert seq is not None
    await until(lambda: rig.a_applied(seq), what="a applied b's purge")
    bumped = await rig.control_b.bump_version("/img/")
    assert bumped.seq is not None
    await until(lambda: rig.a_applied(bumped.seq or 0), what="a applied b's version bump")
    assert rig.invalidator.purges["/theirs"] == 1
    assert rig.peer_counts("/purge", "/theirs") == [1, 1]
    assert rig.versions.applied[("/img/", 1)] == 1
    assert rig.peer_counts("/versions", "/img/") == [1, 1]
