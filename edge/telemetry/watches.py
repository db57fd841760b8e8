"""Figures read at scrape time from parts that hold them anyway (no counting per event)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from edge.telemetry import catalogue as c
from edge.telemetry.catalogue import Spec
from edge.telemetry.core import Watch

Figure = tuple[Spec, tuple[str, ...], float]


class HasStatus(Protocol):
    def status(self) -> dict[str, object]: ...


def control_figures(coordinator: HasStatus) -> Watch:
    """The control plane's state, when this process holds the node's connection to it.

    Lag is the invalidation events the stream holds for this node's consumer and it
    has not applied yet (NATS's pending count).
    """

    def figures() -> Iterator[Figure]:
        status = coordinator.status()
        if status.get("mode") != "nats":
            return
        yield c.CONTROL_CONNECTED, (), float(bool(status.get("connected")))
        yield c.CONTROL_CAUGHT_UP, (), float(bool(status.get("caught_up")))
        yield c.CONTROL_LAST_SEQUENCE, (), _number(status.get("last_applied_seq"))
        yield c.CONTROL_LAG, (), _number(status.get("pending"))

    return figures


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
