"""Applying the stream: one event at a time, in order, each acknowledged after it is applied.

The node's :class:`EventSink` does the applying. An event is applied once here: event ids
are remembered in a bounded LRU, so a redelivered event, or one this node published itself
(applied before it was published, :meth:`Consumer.applied_here`), is only acknowledged;
versions only go up, so an old or repeated bump changes nothing. An apply that fails is
retried in place, never skipped, so later events never overtake it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Protocol

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from edge.cluster.connection import NATS_ERRORS, ErrorNote
from edge.cluster.events import InvalidationEvent
from edge.cluster.gaps import GapRecord


class EventSink(Protocol):
    """What a node does with the events of other nodes (edge.cluster.coordinator.Applier)."""

    async def apply_event(self, event: InvalidationEvent) -> None:
        """Apply a purge or a version event; raise to have it retried."""

    async def apply_version(self, prefix: str, version: int) -> object:
        """Adopt a version found in the versions bucket."""

    async def drop_everything(self) -> None:
        """Events this node never applied are lost: purge everything."""


class Consumer:
    """Pulls from the node's durable consumer and applies what it gets."""

    def __init__(
        self,
        sink: EventSink,
        record: GapRecord,
        note: ErrorNote,
        *,
        ack_wait: float,
        request_timeout: float,
        pull_wait: float,
        batch: int,
        remember: int,
    ) -> None:
        self._sink = sink
        self._record = record
        self._note = note
        self._ack_wait = ack_wait
        self._request_timeout = request_timeout
        self._pull_wait = pull_wait
        self._batch = batch
        self._remember = remember
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._versions: dict[str, int] = {}
        self.pending = 0  # events on the stream this node has not applied yet
        self._stopping = False

    def stop(self) -> None:
        """Apply no more: an event in hand is left unacknowledged (redelivered next start)."""
        self._stopping = True

    # -- what this node did itself -------------------------------------------------------
    def applied_here(self, event: InvalidationEvent) -> None:
        """This node applied ``event`` itself (and publishes it): skip it when it comes back."""
        self._remember_id(event.id)
        if event.kind == "version" and event.prefix is not None:
            self.version_applied(event.prefix, event.version)

    def version_applied(self, prefix: str, version: int) -> None:
        self._versions[prefix] = max(version, self._versions.get(prefix, 0))

    def versions(self) -> dict[str, int]:
        return dict(self._versions)

    async def adopt_version(self, prefix: str, version: int) -> None:
        """A version from the bucket: applied unless this node already has it (or a later)."""
        if version <= self._versions.get(prefix, 0):
            return
        await self._sink.apply_version(prefix, version)
        self._versions[prefix] = version

    # -- the stream ---------------------------------------------------------------------
    async def pull(self, sub: JetStreamContext.PullSubscription) -> None:
        try:
            msgs = await sub.fetch(batch=self._batch, timeout=self._pull_wait)
        except TimeoutError:
            msgs = []
        for msg in msgs:
            await self._handle(msg)
        if not msgs:
            self.pending = 0

    async def _handle(self, msg: Msg) -> None:
        """Apply, then acknowledge, one message."""
        meta = msg.metadata
        try:
            event = msgspec.json.decode(msg.data, type=InvalidationEvent)
        except msgspec.DecodeError as exc:
            self._note(f"stream sequence {meta.sequence.stream}: not an event: {exc}")
            await msg.term()  # never redelivered: it would block the stream forever
            await self._record.record(meta.sequence.stream)  # handled: not a gap later
            return
        failures = 0
        while True:  # in place, so later events never overtake this one
            try:
                await self._apply_with_heartbeat(msg, event)
                break
            except Exception as exc:  # the node's own apply failed: retry, never skip it
                failures += 1
                self._note(f"applying event {event.id} failed, retrying: {exc!r}")
            if self._stopping:
                return  # not acknowledged: NATS redelivers it to the next start
            with contextlib.suppress(*NATS_ERRORS):
                await msg.in_progress()  # keep NATS from redelivering it meanwhile
            await asyncio.sleep(min(0.05 * 2**failures, 5.0))
        await msg.ack_sync(timeout=self._request_timeout)
        await self._record.record(meta.sequence.stream)
        self.pending = meta.num_pending

    async def _apply_with_heartbeat(self, msg: Msg, event: InvalidationEvent) -> None:
        """Apply, telling NATS "in progress" every half ack-wait so a long apply is not redelivered.

        A short ack-wait matters at restart: messages a closed connection's last pull
        request received are redelivered after it, and catching up waits for them.
        """

        async def beat() -> None:
            while True:
                await asyncio.sleep(self._ack_wait / 2)
                with contextlib.suppress(*NATS_ERRORS):
                    await msg.in_progress()

        heart = asyncio.create_task(beat())
        try:
            await self._apply(event)
        finally:
            heart.cancel()
            await asyncio.gather(heart, return_exceptions=True)

    async def _apply(self, event: InvalidationEvent) -> None:
        if event.id in self._seen:  # redelivered, or this node's own: applied already
            self._seen.move_to_end(event.id)
            return
        if event.kind == "version":
            if event.prefix is None or event.version <= self._versions.get(event.prefix, 0):
                self._remember_id(event.id)  # versions only go up: this changes nothing
                return
            await self._sink.apply_event(event)
            self._versions[event.prefix] = event.version
        else:
            await self._sink.apply_event(event)
        self._remember_id(event.id)

    def _remember_id(self, event_id: str) -> None:
        self._seen[event_id] = None
        self._seen.move_to_end(event_id)
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
