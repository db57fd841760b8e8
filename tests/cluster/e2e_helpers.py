"""A whole small CDN as real processes for the end-to-end tests, on free 127.0.0.1 ports.

``nats-server`` (JetStream) + the origin stub + one shield + edge-a and edge-b (parent: the
shield), every node on the JetStream control plane. Processes are started and stopped by PID
(:class:`tests.support.processes.LocalProcess`); every wait polls with a deadline
(:func:`wait_for`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from cluster_helpers import NatsServer

from tests.support.http_client import Reply, admin_call, origin_counts, request
from tests.support.processes import (
    LocalProcess,
    Parent,
    free_port,
    node_config,
    node_process,
    origin_process,
    stop_all,
    write_config,
)

TOKEN = "e2e-token-0123456789abcdef"
SITE = "cdn.example.test"  # every client request carries this Host, as real clients of one site
NODE_NAMES = ("shield", "edge-a", "edge-b")
EDGES = ("edge-a", "edge-b")

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    within: float = 10.0,
    what: str = "",
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``probe`` until it returns something true (returned); AssertionError at the deadline.

    Exceptions in ``retry_on`` count as "not yet".
    """
    deadline = time.monotonic() + within
    delay = 0.01
    last: object = None
    while True:
        try:
            result = probe()
        except retry_on as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {within}s: {what or probe} (last: {last!r})")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def unique(stem: str, suffix: str = ".css") -> str:
    """A path no other test (nor an earlier run) cached: ``/static/<stem>-<hex><suffix>``."""
    return f"/static/{stem}-{uuid.uuid4().hex[:10]}{suffix}"


def names(reply: Reply) -> list[str]:
    """The caches in the reply's Cache-Status, origin side first."""
    return [m.cache for m in reply.cache_status()]


@dataclass
class E2ECluster:
    root: Path
    nats: NatsServer
    origin: LocalProcess
    nodes: dict[str, LocalProcess]

    @classmethod
    def start(cls, root: Path, nats_binary: str) -> E2ECluster:
        nats = NatsServer(nats_binary, root / "jetstream")
        origin = origin_process(free_port(), root / "origin.log")
        started: list[LocalProcess] = []
        try:
            nats.start()
            origin.start()
            started.append(origin)
            origin.wait_http(f"{origin.url}/__origin/stats")
            ports = {name: (free_port(), free_port()) for name in NODE_NAMES}
            shield_port, shield_admin = ports["shield"]
            shield = Parent(
                "shield", f"http://127.0.0.1:{shield_port}", f"http://127.0.0.1:{shield_admin}"
            )
            nodes: dict[str, LocalProcess] = {}
            for name in NODE_NAMES:
                config = node_config(
                    name,
                    origin.url,
                    parents=() if name == "shield" else (shield,),
                    nats_url=nats.url,
                    parent_down_for="1s",
                    parent_probe_interval="250ms",
                    catch_up_timeout="3s",  # then it serves around its cache until caught up
                    wait_timeout="2s",
                )
                path = write_config(root / f"{name}.yaml", config)
                port, admin = ports[name]
                env = {"EDGE_ADMIN_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
                nodes[name] = node_process(
                    name, path, port, admin, root / f"cache-{name}", root / f"{name}.log", env
                )
            for node in nodes.values():
                node.start()
                started.append(node)
            for node in nodes.values():
                node.wait_healthy(60)
        except BaseException:
            stop_all(started)
            nats.stop()
            raise
        return cls(root, nats, origin, nodes)

    def close(self) -> None:
        stop_all(self.nodes.values())
        stop_all([self.origin])
        self.nats.stop()

    # -- processes -------------------------------------------------------------------
    def stop_node(self, name: str, *, hard: bool = False) -> int | None:
        return self.nodes[name].stop(hard=hard)

    def start_node(self, name: str, *, wait: bool = True) -> None:
        node = self.nodes[name]
        node.start()
        if wait:
            node.wait_healthy(60)

    def ensure_running(self) -> None:
        """Bring back whatever an earlier (perhaps failed) test left stopped."""
        if self.nats.proc is None or self.nats.proc.poll() is not None:
            self.nats.proc = None
            self.nats.start()
        for name, node in self.nodes.items():
            if not node.running:
                self.start_node(name)
        for name in NODE_NAMES:
            self.wait_synced(name)
        for name in EDGES:  # an edge that started before its shield probes it again soon
            self.wait_parent_up(name, "shield")

    def wait_parent_up(self, name: str, parent: str, within: float = 10.0) -> None:
        def up() -> bool:
            return bool(self.parents(name)[parent]["up"])

        wait_for(up, within, f"{name} sees its parent {parent} up")

    def wait_synced(self, name: str, within: float = 20.0) -> None:
        """Until ``name`` is connected to NATS and caught up on the stream."""

        def synced() -> bool:
            control = self.control(name)
            return bool(control["connected"] and control["caught_up"])

        wait_for(synced, within, f"{name} connected to NATS and caught up")

    def wait_connected(self, name: str, connected: bool, within: float = 15.0) -> None:
        def reached() -> bool:
            return bool(self.control(name)["connected"]) is connected

        wait_for(reached, within, f"{name} {'connected to' if connected else 'cut off from'} NATS")

    def wait_version(self, name: str, prefix: str, version: int, within: float = 10.0) -> None:
        def known() -> bool:
            return self.versions(name).get(prefix) == version

        wait_for(known, within, f"{name} has version {version} of {prefix}")

    # -- requests ------------------------------------------------------------------------
    def get(self, node: str, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return request(self.nodes[node].url + path, headers={"Host": SITE, **(headers or {})})

    def admin(self, node: str, path: str, *, method: str = "GET", body: Any = None) -> Reply:
        return admin_call(self.nodes[node].admin_url, path, TOKEN, method=method, body=body)

    def purge(self, node: str, **body: Any) -> dict[str, Any]:
        reply = self.admin(node, "/purge", method="POST", body=body)
        assert reply.status == 200, (reply.status, reply.body)
        answer: dict[str, Any] = reply.json()
        return answer

    def stats(self, node: str) -> dict[str, Any]:
        reply = self.admin(node, "/stats")
        assert reply.status == 200, (reply.status, reply.body)
        stats: dict[str, Any] = reply.json()
        return stats

    def control(self, node: str) -> dict[str, Any]:
        control: dict[str, Any] = self.stats(node)["cluster"]["control"]
        return control

    def parents(self, node: str) -> dict[str, Any]:
        parents: dict[str, Any] = self.stats(node)["cluster"]["parents"]
        return parents

    def versions(self, node: str) -> dict[str, int]:
        versions: dict[str, int] = self.admin(node, "/versions").json()["versions"]
        return versions

    def cached(self, node: str, path: str) -> bool:
        """Whether ``node`` holds an entry for ``path`` (its admin ``/entries``)."""
        reply = self.admin(node, f"/entries?prefix={quote(path, safe='/')}")
        assert reply.status == 200, (reply.status, reply.body)
        entries: list[dict[str, Any]] = reply.json()["entries"]
        return any(e["url"].endswith(path) and not e.get("invalidated") for e in entries)

    def origin_count(self, path: str) -> int:
        return origin_counts(self.origin.url).get(path, 0)

    def origin_headers(self, path: str) -> dict[str, str]:
        stats = request(f"{self.origin.url}/__origin/stats").json()
        headers: dict[str, str] = stats["last_headers"].get(path, {})
        return {k.lower(): v for k, v in headers.items()}
