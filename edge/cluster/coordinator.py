"""How this node's purges and version bumps reach the rest of the cluster.

Without a control plane everything is local. With one (``cluster.nats``), a
purge is applied here first (so the answer's count is this node's), then
published to JetStream; every other node applies it through its durable
consumer, and the answer reports which nodes have acknowledged it. Version
bumps are cluster-wide counters kept in a JetStream key-value bucket.
Applying an event twice is harmless: purges are idempotent and versions only
go up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from edge.clock import Clock
from edge.cluster.control import ControlPlane
from edge.cluster.events import InvalidationEvent, purge_event
from edge.index import VersionTable
from edge.invalidation import Invalidator

log = logging.getLogger("edge.cluster")


@dataclass(frozen=True, slots=True)
class PurgeOutcome:
    purged: int
    nodes: dict[str, bool]


class Coordinator:
    def __init__(
        self,
        *,
        name: str,
        invalidator: Invalidator,
        versions: VersionTable,
        clock: Clock,
        wait_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.invalidator = invalidator
        self.versions = versions
        self.clock = clock
        self.wait_timeout = wait_timeout
        self.control: ControlPlane | None = None

    # -- callbacks for the control plane: events made on other nodes ----------------
    async def apply_event(self, event: InvalidationEvent) -> None:
        if event.kind == "purge":
            count = await self.invalidator.purge(
                event.urls, event.prefixes, event.tags, event.all, event.soft
            )
            if event.origin_node != self.name:
                log.info("applied a purge from %s: %d entries", event.origin_node, count)
        elif event.kind == "version" and event.prefix is not None:
            await self.versions.apply(event.prefix, event.version)

    async def apply_version(self, prefix: str, version: int) -> None:
        await self.versions.apply(prefix, version)

    # -- what the admin API calls ----------------------------------------------------
    async def purge(
        self,
        *,
        urls: Sequence[str],
        prefixes: Sequence[str],
        tags: Sequence[str],
        everything: bool,
        soft: bool,
        local: bool = False,
        wait: bool = False,
    ) -> PurgeOutcome:
        """Purge here (this validates the input), then everywhere unless ``local``."""
        count = await self.invalidator.purge(urls, prefixes, tags, everything, soft)
        control = self.control
        if control is None or local:
            return PurgeOutcome(count, {self.name: True})
        event = purge_event(
            self.name,
            self.clock,
            urls=urls,
            prefixes=prefixes,
            tags=tags,
            all=everything,
            soft=soft,
        )
        seq = await control.submit(event)
        return PurgeOutcome(count, await self._nodes(seq, wait))

    async def bump(self, prefix: str, *, wait: bool = False) -> tuple[int, dict[str, bool]]:
        """The next version of ``prefix``: cluster-wide with a control plane, else local."""
        control = self.control
        if control is None:
            return await self.versions.bump(prefix), {self.name: True}
        bumped = await control.bump_version(prefix, at_least=self.versions.get(prefix))
        await self.versions.apply(prefix, bumped.version)
        return bumped.version, await self._nodes(bumped.seq, wait)

    async def _nodes(self, seq: int | None, wait: bool) -> dict[str, bool]:
        """Which nodes have applied stream sequence ``seq`` (this one always has)."""
        control = self.control
        if control is None or seq is None:  # not published yet: waits in the outbox
            return {self.name: True}
        if wait:
            nodes = await control.wait_applied(seq, within=self.wait_timeout)
        else:
            nodes = {name: floor >= seq for name, floor in (await control.applied_by()).items()}
        nodes[self.name] = True
        return nodes

    def status(self) -> dict[str, object]:
        if self.control is None:
            return {"mode": "standalone"}
        return {"mode": "nats", **self.control.status()}
