"""An edge node and the origin stub as real processes, for tests that need a whole server
(the browser tests): ``edge serve`` on free 127.0.0.1 ports in front of ``origin_stub``.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import (
    LocalProcess,
    free_port,
    node_config,
    node_process,
    origin_process,
    stop_all,
    write_config,
)

TOKEN = "dashboard-test-token-0123456789"


@dataclass
class LiveEdge:
    origin: LocalProcess
    node: LocalProcess
    token: str = TOKEN

    @property
    def proxy_url(self) -> str:
        return self.node.url

    @property
    def admin_url(self) -> str:
        return self.node.admin_url

    def get(self, path: str) -> tuple[int, str]:
        """GET ``path`` through the proxy: (status, Cache-Status)."""
        with urllib.request.urlopen(self.proxy_url + path, timeout=10) as r:
            r.read()
            return r.status, r.headers.get("Cache-Status", "")


@contextmanager
def live_edge(
    root: Path, name: str = "edge-live", *, proxy: Mapping[str, Any] | None = None
) -> Iterator[LiveEdge]:
    """Start the origin stub and one node (admin token ``TOKEN``); stop both by PID.

    ``proxy``: keys for the node's ``proxy`` section (``tls``, ``http2``)."""
    origin = origin_process(free_port(), root / "origin.log")
    started: list[LocalProcess] = []
    try:
        settings = node_config(name, origin.url)
        if proxy:
            settings["proxy"] = dict(proxy)
        config = write_config(root / f"{name}.yaml", settings)
        env = {"EDGE_ADMIN_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
        node = node_process(
            name, config, free_port(), free_port(), root / "cache", root / f"{name}.log", env
        )
        for proc in (origin, node):  # both start at once; the node needs the origin later
            proc.start()
            started.append(proc)
        origin.wait_http(f"{origin.url}/__origin/stats")
        node.wait_healthy(60)
        yield LiveEdge(origin, node)
    finally:
        stop_all(reversed(started))
