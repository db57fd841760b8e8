"""What travels on the control plane: invalidation events, and their names on NATS."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec

from edge.clock import Clock

DURABLE_PREFIX = "edge-"


class InvalidationEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One purge or version bump, as JSON on the stream."""

    id: str  # uuid4; also the Nats-Msg-Id, so a retried publish is stored once
    origin_node: str
    kind: Literal["purge", "version"]
    urls: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    all: bool = False
    soft: bool = False
    prefix: str | None = None  # kind == "version"
    version: int = 0  # kind == "version"
    at: float = 0.0  # wall clock at the origin node


def purge_event(
    node: str,
    clock: Clock,
    *,
    urls: Sequence[str] = (),
    prefixes: Sequence[str] = (),
    tags: Sequence[str] = (),
    all: bool = False,
    soft: bool = False,
) -> InvalidationEvent:
    return InvalidationEvent(
        id=str(uuid.uuid4()),
        origin_node=node,
        kind="purge",
        urls=tuple(urls),
        prefixes=tuple(prefixes),
        tags=tuple(tags),
        all=all,
        soft=soft,
        at=clock.now(),
    )


def version_event(node: str, clock: Clock, prefix: str, version: int) -> InvalidationEvent:
    return InvalidationEvent(
        id=str(uuid.uuid4()),
        origin_node=node,
        kind="version",
        prefix=prefix,
        version=version,
        at=clock.now(),
    )


class _VersionRecord(msgspec.Struct, frozen=True):
    prefix: str
    version: int


@dataclass(frozen=True, slots=True)
class VersionBump:
    prefix: str
    version: int
    seq: int | None  # stream sequence of the version event; None: queued in the outbox


def kv_key(prefix: str) -> str:
    """KV keys allow ``[-/_=.A-Za-z0-9]`` only: a URL prefix goes in base64url."""
    return "p_" + base64.urlsafe_b64encode(prefix.encode()).decode().rstrip("=")


def durable_name(node: str) -> str:
    """Consumer names may not contain '.', which node names may."""
    return DURABLE_PREFIX + node.replace(".", "_")
