"""The leader worker's fan-out to the other workers (edge.runtime.workers, Coordinator):
a worker that missed a version bump is reported, a cluster event a worker missed is not
acknowledged, and the public admin port ignores the private fan-out header."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.clock import FakeClock
from edge.cluster.coordinator import Applier, Coordinator
from edge.cluster.events import purge_event, version_event
from edge.invalidation.versions import VersionTable
from edge.runtime.workers import WorkerLink, WorkerRole

TOKEN = "fanout-token-0123456789abcdef"


class Peer:
    """A fake non-leader worker on a Unix socket: records what the leader sends it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def any_call(request: web.Request) -> web.Response:
            self.calls.append((request.method, request.path, dict(request.headers)))
            return web.json_response({"purged": 0, "soft": False, "nodes": {}, "version": 0})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", any_call)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.UnixSite(self.runner, self.path).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def leader(tmp_path: Path, *, peer_up: bool) -> tuple[Coordinator, str]:
    sockets = (str(tmp_path / "w0.sock"), str(tmp_path / "w1.sock"))
    applier = Applier(
        name="n",
        invalidator=SimpleNamespace(purge=_noop_purge),  # type: ignore[arg-type]
        versions=VersionTable(None),
        link=WorkerLink(WorkerRole(0, 2, sockets), TOKEN),
    )
    return Coordinator(applier=applier, clock=FakeClock()), sockets[1]


async def _noop_purge(*_a: Any, **_k: Any) -> int:
    return 0


async def test_bump_reports_a_worker_that_missed_it(tmp_path: Path) -> None:
    coord, _ = leader(tmp_path, peer_up=False)  # worker 1 is restarting: no socket yet
    try:
        version, nodes = await coord.bump("/static/")
    finally:
        assert coord.link is not None
        await coord.link.close()
    assert version == 1
    assert nodes == {"n": False}


async def test_a_cluster_event_a_worker_missed_is_not_acknowledged(tmp_path: Path) -> None:
    coord, _ = leader(tmp_path, peer_up=False)
    clock = FakeClock()
    try:
        with pytest.raises(Exception):  # noqa: B017 - any error makes ControlPlane retry
            await coord.applier.apply_event(purge_event("other", clock, urls=["/x"]))
        with pytest.raises(Exception):  # noqa: B017
            await coord.applier.apply_event(version_event("other", clock, "/static/", 3))
    finally:
        assert coord.link is not None
        await coord.link.close()


async def test_the_public_admin_port_ignores_the_fanout_header(tmp_path: Path) -> None:
    from edge.web.admin import make_admin_app

    coord, peer_path = leader(tmp_path, peer_up=True)
    peer = Peer(peer_path)
    await peer.start()
    node = SimpleNamespace(
        admin_token=TOKEN, coordinator=coord, cfg=SimpleNamespace(name="n"), warmer=None
    )
    app = make_admin_app(
        node,  # type: ignore[arg-type]
        invalidator=coord.invalidator,
        versions=coord.versions,
        registry=SimpleNamespace(),  # type: ignore[arg-type]
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.post(
            "/purge",
            json={"urls": ["/x"]},
            headers={"Authorization": f"Bearer {TOKEN}", "X-Edge-Worker-Fanout": "1"},
        )
        assert resp.status == 200
        assert (await resp.json())["nodes"] == {"n": True}
        assert [c[1] for c in peer.calls] == ["/purge"], "worker 1 never got the purge"
    finally:
        await client.close()
        await peer.stop()
        assert coord.link is not None
        await coord.link.close()
