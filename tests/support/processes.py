"""Real processes for the tests (nats-server, the origin stub, edge nodes), by PID.

:class:`LocalProcess` (from ``edge.runtime.processes``, shared with ``make cluster``) is one
child process we started, stopped by its PID. :func:`node_config` writes the config of a
node in a small CDN (parents, NATS), listen addresses come from flags. Everything listens
on 127.0.0.1, on free ports.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The process helpers `make cluster` uses are the tests' too (one copy, in the product).
from edge.runtime.processes import (
    HOST,
    LocalProcess,
    node_process,
    origin_process,
    stop_all,
)

__all__ = [
    "HOST",
    "LocalProcess",
    "Parent",
    "free_port",
    "node_config",
    "node_process",
    "origin_process",
    "stop_all",
    "write_config",
]


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Parent:
    name: str
    url: str
    admin_url: str | None = None


def node_config(
    name: str,
    origin_url: str,
    *,
    parents: Sequence[Parent] = (),
    nats_url: str | None = None,
    parent_down_for: str = "10s",
    parent_probe_interval: str = "5s",
    catch_up_timeout: str = "30s",
    wait_timeout: str | None = None,
    memory: str = "64MiB",
    disk: str = "256MiB",
) -> dict[str, Any]:
    """A node's config as a mapping (dump it as YAML); listen addresses come from flags."""
    cluster: dict[str, Any] = {
        "parents": [
            {"name": p.name, "url": p.url, **({"admin_url": p.admin_url} if p.admin_url else {})}
            for p in parents
        ],
        "parent_down_for": parent_down_for,
        "parent_probe_interval": parent_probe_interval,
    }
    if nats_url is not None:
        nats: dict[str, Any] = {
            "servers": [nats_url],
            "stream": "EDGE_INVALIDATIONS",
            "kv_bucket": "edge_versions",
            "catch_up_timeout": catch_up_timeout,
        }
        if wait_timeout is not None:
            nats["wait_timeout"] = wait_timeout
        cluster["nats"] = nats
    return {
        "name": name,
        "origin": {"url": origin_url},
        "cache": {"memory": {"max_bytes": memory}, "disk": {"max_bytes": disk}},
        "cluster": cluster,
    }


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path
