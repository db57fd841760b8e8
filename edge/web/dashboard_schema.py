"""The answers of the dashboard's own endpoints (``/top``, ``/cluster``), as msgspec Structs
(they also give the OpenAPI document its schemas)."""

from __future__ import annotations

import msgspec


class KeyUse(msgspec.Struct, kw_only=True):
    url: str
    hits: int  # answers from the cache (halved each time the table was aged)
    bytes: int  # body bytes of those answers


class TopAnswer(msgspec.Struct, kw_only=True):
    by_hits: list[KeyUse]
    by_bytes: list[KeyUse]
    tracked: int  # URLs counted (bounded: the less-hit half is dropped when the table fills)
    workers: int = 1  # worker processes whose counts these are


class NodeState(msgspec.Struct, kw_only=True):
    name: str
    this: bool  # the node answering
    state: str  # standalone | caught up | catching up | disconnected | behind
    applied: int | None = None  # the last invalidation-stream sequence it applied
    lag: int | None = None  # events behind the most advanced node


class ParentState(msgspec.Struct, kw_only=True):
    name: str
    url: str
    up: bool
    down_for: float  # seconds it stays marked down
    failures: int
    last_error: str


class ClusterAnswer(msgspec.Struct, kw_only=True):
    name: str
    mode: str  # standalone | nats
    connected: bool | None = None  # to the control plane
    nodes: list[NodeState]
    parents: list[ParentState]
    error: str = ""  # why the other nodes could not be listed
