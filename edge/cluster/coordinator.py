"""How this node's purges and version bumps reach its workers and the rest of the cluster.

Two parts, so that neither needs the other set on it after construction:

- :class:`Applier` applies a change on this node: here, then (on the leader worker) on every
  other worker. The control plane calls it for events made on other nodes
  (:class:`edge.cluster.control.EventSink`).
- :class:`Coordinator` is what the admin API calls: apply through the applier, then publish
  through the control plane, and report which nodes have applied it.

Without a control plane everything is local. With one (``cluster.nats``), a purge is applied
here first (so the answer's count is this node's), then published to JetStream; every other
node applies it through its durable consumer, and the answer reports which nodes have
acknowledged it. An event this node published is applied here once, by the Coordinator: when
it comes back through the stream the control plane knows it and skips it. Version bumps are
cluster-wide counters kept in a JetStream key-value bucket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from edge.clock import Clock
from edge.cluster.control import ControlPlane
from edge.cluster.events import InvalidationEvent, purge_event
from edge.errors import WorkerError, WorkerFanoutError
from edge.invalidation.purge import Invalidator
from edge.invalidation.versions import VersionTable
from edge.runtime.workers import VERSION_HEADER, WorkerLink
from edge.telemetry import catalogue as c
from edge.telemetry.core import Cell, Meters

log = logging.getLogger("edge.cluster")


@dataclass(frozen=True, slots=True)
class PurgeOutcome:
    purged: int
    nodes: dict[str, bool]


class Applier:
    """Applies purges and versions on this node: here and, from the leader, on every worker."""

    def __init__(
        self,
        *,
        name: str,
        invalidator: Invalidator,
        versions: VersionTable,
        link: WorkerLink | None = None,
        meters: Meters | None = None,
    ) -> None:
        self.name = name
        self.invalidator = invalidator
        self.versions = versions
        self.link = link  # with workers: the way to the other workers
        # edge_purges_total{kind}: each purge target (and version bump) applied on this
        # node, counted once here (the leader worker), not again by every worker
        meters = meters if meters is not None else Meters()
        self._purges: dict[str, Cell] = {
            kind: meters.cell(c.PURGES, kind)
            for kind in ("url", "prefix", "tag", "all", "soft_url", "soft_prefix")
            + ("soft_tag", "soft_all", "version")
        }
        self._purged = meters.cell(c.PURGED_OBJECTS)

    # -- the control plane's EventSink: events made on other nodes --------------------
    async def apply_event(self, event: InvalidationEvent) -> None:
        """Apply here and on every worker; raises if a worker did not (the event is retried)."""
        if event.kind == "purge":
            count, everywhere = await self.purge(
                event.urls, event.prefixes, event.tags, event.all, event.soft
            )
            if not everywhere:  # not acknowledged: the control plane retries it, in order
                raise WorkerFanoutError(f"a worker did not apply purge {event.id}")
            log.info("applied a purge from %s: %d entries", event.origin_node, count)
        elif event.kind == "version" and event.prefix is not None:
            if not await self.apply_version(event.prefix, event.version):
                raise WorkerFanoutError(f"a worker did not apply version event {event.id}")

    async def apply_version(self, prefix: str, version: int) -> bool:
        """Adopt ``version`` here and, on the leader worker, on every other worker."""
        await self.versions.apply(prefix, version)
        self._purges["version"].value += 1
        if self.link is None or not self.link.role.leader:
            return True
        headers = {VERSION_HEADER: str(version)}
        return await self.link.fan_out("/versions", {"prefix": prefix}, headers)

    async def drop_everything(self) -> None:
        """The control plane lost events this node never applied: purge all, on every worker."""
        await self.purge((), (), (), True, False)

    # -- purges ---------------------------------------------------------------------------
    async def purge(
        self,
        urls: Sequence[str],
        prefixes: Sequence[str],
        tags: Sequence[str],
        everything: bool,
        soft: bool,
    ) -> tuple[int, bool]:
        """Purge here (this validates the input), then on every other worker of this node.

        The count is this worker's; the flag says whether every other worker applied it.
        """
        count = await self.invalidator.purge(urls, prefixes, tags, everything, soft)
        self._count_purge(len(urls), len(prefixes), len(tags), everything, soft, count)
        return count, await self._fan_out_purge(urls, prefixes, tags, everything, soft)

    def _count_purge(
        self, urls: int, prefixes: int, tags: int, everything: bool, soft: bool, purged: int
    ) -> None:
        how = "soft_" if soft else ""
        self._purges[how + "url"].value += urls
        self._purges[how + "prefix"].value += prefixes
        self._purges[how + "tag"].value += tags
        self._purges[how + "all"].value += int(everything)
        self._purged.value += purged

    async def _fan_out_purge(
        self,
        urls: Sequence[str],
        prefixes: Sequence[str],
        tags: Sequence[str],
        everything: bool,
        soft: bool,
    ) -> bool:
        """The leader's purge, applied by every other worker of this node (True: all did)."""
        if self.link is None or not self.link.role.leader:
            return True
        body: dict[str, object] = {
            "urls": list(urls),
            "prefixes": list(prefixes),
            "tags": list(tags),
        }
        body |= {"all": everything, "soft": soft, "local": True}
        if await self.link.fan_out("/purge", body):
            return True
        # A worker missed it (down or restarting). What it wrote to the shared disk is not
        # all in this worker's index: index the whole disk, purge again here (so nothing
        # can come back when it restarts), and give the others one more try.
        await self.invalidator.store.rebuild()
        await self.invalidator.purge(urls, prefixes, tags, everything, soft)
        return await self.link.fan_out("/purge", body)


class Coordinator:
    """The admin API's way to purge and bump: through the leader worker, then the cluster."""

    def __init__(
        self,
        *,
        applier: Applier,
        clock: Clock,
        control: ControlPlane | None = None,
        wait_timeout: float = 5.0,
    ) -> None:
        """``control``: the node's control plane (built with ``applier`` as its sink)."""
        self.applier = applier
        self.name = applier.name
        self.invalidator = applier.invalidator
        self.versions = applier.versions
        self.link = applier.link
        self.control = control
        self.clock = clock
        self.wait_timeout = wait_timeout

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
        fanout: bool = False,
    ) -> PurgeOutcome:
        """Purge here (this validates the input), then everywhere unless ``local``.

        With workers, a purge goes through the leader worker, which applies it,
        has every other worker apply it (``fanout``: apply here only), then
        publishes it to the cluster.
        """
        if fanout:
            count = await self.invalidator.purge(urls, prefixes, tags, everything, soft)
            return PurgeOutcome(count, {self.name: True})
        link = self.link
        if link is not None and not link.role.leader:
            body: dict[str, object] = {
                "urls": list(urls),
                "prefixes": list(prefixes),
                "tags": list(tags),
            }
            body |= {"all": everything, "soft": soft, "local": local, "wait": wait}
            answer = await link.to_leader("/purge", body)
            return PurgeOutcome(int(answer["purged"]), dict(answer["nodes"]))
        count, here = await self.applier.purge(urls, prefixes, tags, everything, soft)
        control = self.control
        if control is None or local:
            return PurgeOutcome(count, {self.name: here})
        event = purge_event(
            self.name,
            self.clock,
            urls=urls,
            prefixes=prefixes,
            tags=tags,
            all=everything,
            soft=soft,
        )
        seq = await control.submit(event)  # applied above: not again when it comes back
        nodes = await self._nodes(seq, wait)
        nodes[self.name] = here
        return PurgeOutcome(count, nodes)

    async def bump(
        self, prefix: str, *, wait: bool = False, adopt: int | None = None
    ) -> tuple[int, dict[str, bool]]:
        """The next version of ``prefix``: cluster-wide with a control plane, else local.

        ``adopt``: a version the leader worker sends out; apply it here and stop.
        """
        if adopt is not None:
            return await self.versions.apply(prefix, adopt), {self.name: True}
        link = self.link
        if link is not None and not link.role.leader:
            answer = await link.to_leader("/versions", {"prefix": prefix, "wait": wait})
            return int(answer["version"]), dict(answer["nodes"])
        control = self.control
        if control is None:
            version = await self.versions.bump(prefix)
            return version, {self.name: await self.applier.apply_version(prefix, version)}
        # the control plane publishes the new version; it is applied here (and on the
        # workers) once, now, not again when its event comes back through the stream
        bumped = await control.bump_version(prefix, at_least=self.versions.get(prefix))
        here = await self.applier.apply_version(prefix, bumped.version)
        nodes = await self._nodes(bumped.seq, wait)
        nodes[self.name] = here
        return bumped.version, nodes

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

    # -- a worker beside the leader ------------------------------------------------------
    async def sync_from_leader(self) -> bool:
        """A non-leader worker: adopt the leader's versions; True if the leader answered."""
        assert self.link is not None
        try:
            answer = await self.link.call(self.link.role.sockets[0], "GET", "/versions")
        except WorkerError:
            return False
        for prefix, version in answer.get("versions", {}).items():
            await self.versions.apply(prefix, int(version))
        return True

    async def follow_leader(self, ready: asyncio.Event | None, every: float = 1.0) -> None:
        """A non-leader worker, for as long as it runs: keep the leader's versions and, in a
        cluster (``ready``), serve from cache only while the leader is caught up on purges.
        """
        assert self.link is not None
        leader = self.link.role.sockets[0]
        while True:
            synced = await self.sync_from_leader()
            if ready is not None:
                caught_up = False
                if synced:
                    try:
                        stats = await self.link.call(leader, "GET", "/stats")
                        control = stats.get("cluster", {}).get("control", {})
                        caught_up = bool(control.get("caught_up"))
                    except WorkerError:
                        pass
                if caught_up:
                    ready.set()
                else:
                    ready.clear()
            await asyncio.sleep(every)
