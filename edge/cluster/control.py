"""The control plane: purges and version bumps travel between nodes over NATS JetStream.

We write no replication of our own. Every invalidation is one message on the stream
``EDGE_INVALIDATIONS`` (subject ``edge.invalidations``, file storage, kept ``max_age``); every
node reads the stream in order through its own *durable* pull consumer ``edge-<node>`` and
acknowledges each event after applying it, so:

- a node that was away resumes at its acknowledged position, and :meth:`ControlPlane.start`
  returns only after it has applied everything it missed (it never serves what was purged
  while it was away);
- a consumer's ack floor says how far that node has applied: :meth:`ControlPlane.applied_by`.

Versions also live in the key-value bucket ``edge_versions`` (one key per prefix, value
``{"prefix", "version"}``), bumped with compare-and-set so two nodes bumping at once get two
distinct versions; a new node loads the whole table before it catches up on the stream.

An event is applied once per node: a node applies what it publishes itself before it
publishes it, and skips it when it comes back (see :mod:`edge.cluster.consumer`). Losing
NATS never stops the node: nats-py reconnects forever, local purges still apply, events
submitted meanwhile wait in a bounded outbox, and :meth:`ControlPlane.status` reports the
condition for ``/stats``.

The parts: :mod:`edge.cluster.connection` (NATS itself), :mod:`edge.cluster.consumer`
(applying the stream), :mod:`edge.cluster.gaps` (the record that detects lost events).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Sequence

from edge.clock import Clock
from edge.cluster.connection import NATS_ERRORS, Connection, ErrorNote
from edge.cluster.consumer import Consumer, EventSink
from edge.cluster.events import InvalidationEvent, VersionBump, version_event
from edge.cluster.gaps import GapRecord
from edge.errors import ControlPlaneUnavailable

log = logging.getLogger("edge.cluster.control")

__all__ = ["ControlPlane", "EventSink"]


class ControlPlane:
    """One node's link to the cluster. ``start`` once, ``close`` once.

    ``sink`` applies the events other nodes publish; ``state_path`` keeps the record of the
    last event applied (None: no gap detection).
    """

    def __init__(
        self,
        servers: Sequence[str],
        node_name: str,
        *,
        sink: EventSink,
        clock: Clock,
        state_path: str | None = None,
        stream: str = "EDGE_INVALIDATIONS",
        kv_bucket: str = "edge_versions",
        max_age: float = 7 * 86400.0,
        reconnect_wait: float = 1.0,
        request_timeout: float = 5.0,
        pull_wait: float = 1.0,
        ack_wait: float = 2.0,
        batch: int = 64,
        remember: int = 10_000,
        outbox_limit: int = 10_000,
    ) -> None:
        self.node_name = node_name
        self._clock = clock
        self._sink = sink
        self._note = ErrorNote(clock)
        self._conn = Connection(
            servers,
            node_name,
            self._note,
            stream=stream,
            kv_bucket=kv_bucket,
            max_age=max_age,
            reconnect_wait=reconnect_wait,
            request_timeout=request_timeout,
            ack_wait=ack_wait,
        )
        self.durable = self._conn.durable
        self._gaps = GapRecord(state_path)
        self._consumer = Consumer(
            sink,
            self._gaps,
            self._note,
            ack_wait=ack_wait,
            request_timeout=request_timeout,
            pull_wait=pull_wait,
            batch=batch,
            remember=remember,
        )
        self._pull_wait = pull_wait
        self._request_timeout = request_timeout
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._outbox: collections.deque[InvalidationEvent] = collections.deque(maxlen=outbox_limit)

    # -- life cycle ----------------------------------------------------------------
    async def start(self, within: float | None = 30.0) -> bool:
        """Connect, load versions, catch up on the stream; then keep applying in the background.

        True once every event published before now has been applied. False if that did not
        happen ``within`` seconds (NATS unreachable): the background task keeps trying, and
        the node should not serve cached content until :attr:`caught_up` (or
        :meth:`wait_caught_up`) says so.
        """
        if self._task is not None:
            raise RuntimeError("ControlPlane.start() was already called")
        self._task = asyncio.create_task(self._run(), name=f"control-plane-{self.node_name}")
        self._task.add_done_callback(self._task_done)
        return await self.wait_caught_up(within)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def wait_caught_up(self, within: float | None) -> bool:
        try:
            async with asyncio.timeout(within):
                await self._caught_up.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop the background task and the connection; the durable consumer stays."""
        self._conn.closing = True
        self._consumer.stop()
        if self._task is not None:
            # Let the event in hand be applied *and* acknowledged (the loop stops on
            # closing after it); cancelling in between would leave it applied but
            # pending, and the next start would wait for its redelivery.
            await asyncio.wait([self._task], timeout=self._pull_wait + self._request_timeout)
            # nats-py sometimes turns a cancelled fetch into a timeout; asyncio.wait never
            # raises the task's error, only our own cancel.
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        await self._conn.close()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._note(f"control plane task died: {task.exception()!r}")

    # -- publishing ----------------------------------------------------------------
    async def publish(self, event: InvalidationEvent) -> int:
        """Store ``event`` on the stream; its sequence. ``ControlPlaneUnavailable`` if not."""
        return await self._conn.publish(event)

    async def submit(self, event: InvalidationEvent) -> int | None:
        """Publish ``event``, which the caller has applied on this node already (it is not
        applied here again when it comes back). Its stream sequence; None: NATS is away, it
        waits in the outbox.
        """
        self._consumer.applied_here(event)
        try:
            return await self.publish(event)
        except ControlPlaneUnavailable as exc:
            self._outbox.append(event)
            self._note(f"{exc.message}; {len(self._outbox)} event(s) wait in the outbox")
            return None

    async def bump_version(self, prefix: str, at_least: int = 0) -> VersionBump:
        """Next version of ``prefix`` (above ``at_least``), by compare-and-set on the KV bucket,
        published to the other nodes. The caller applies it on this node.

        Needs NATS: a version is a cluster-wide counter. Raises ``ControlPlaneUnavailable``.
        """
        version = await self._conn.next_version(prefix, at_least)
        seq = await self.submit(version_event(self.node_name, self._clock, prefix, version))
        return VersionBump(prefix, version, seq)

    def versions(self) -> dict[str, int]:
        """Every prefix's version known here (KV table plus the stream)."""
        return self._consumer.versions()

    # -- who has applied what --------------------------------------------------------
    async def applied_by(self) -> dict[str, int]:
        """Each node's acknowledged stream sequence: it has applied every event up to it."""
        return await self._conn.ack_floors()

    async def wait_applied(
        self, seq: int, nodes: Sequence[str] | None = None, within: float = 5.0
    ) -> dict[str, bool]:
        """Whether each node (default: every node with a consumer) applied ``seq`` ``within`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        delay = 0.02
        while True:
            floors = await self.applied_by()
            names = list(floors) if nodes is None else list(nodes)
            done = {name: floors.get(name, 0) >= seq for name in names}
            if all(done.values()) or loop.time() >= deadline:
                return done
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, 0.25)

    def status(self) -> dict[str, object]:
        """For ``/stats``."""
        return {
            "connected": self._conn.connected,
            "caught_up": self.caught_up,
            "durable": self.durable,
            "last_applied_seq": self._gaps.last_seq,
            "pending": self._consumer.pending,
            "outbox": len(self._outbox),
            "last_error": self._note.last_error,
            "last_error_at": self._note.last_error_at,
        }

    # -- the background task ------------------------------------------------------------
    async def _run(self) -> None:
        conn = self._conn
        await conn.connect()
        failures = 0
        while not conn.closing:
            try:
                if conn.resync:
                    await self._setup()
                await self._flush_outbox()
                assert conn.sub is not None
                await self._consumer.pull(conn.sub)
                if not self.caught_up:
                    await self._check_caught_up()
                failures = 0
            except (*NATS_ERRORS, ControlPlaneUnavailable) as exc:
                # NATS away (the outbox flush raises ControlPlaneUnavailable): keep trying
                failures += 1
                self._note(f"control plane: {exc!r}")
                await asyncio.sleep(min(0.05 * 2**failures, 5.0))

    async def _setup(self) -> None:
        """Stream, bucket, version table, durable consumer; then the gap check."""
        conn = self._conn
        await conn.setup()
        for record in await conn.version_records():
            await self._consumer.adopt_version(record.prefix, record.version)
        if self._gaps.path is not None:
            stream = await conn.stream_state()
            await self._gaps.check(
                stream.created, stream.first_seq, stream.last_seq, self._sink.drop_everything
            )
        conn.resync = False
        await self._check_caught_up()

    async def _flush_outbox(self) -> None:
        while self._outbox:
            await self.publish(self._outbox[0])  # raises while NATS is away: retried later
            self._outbox.popleft()

    async def _check_caught_up(self) -> None:
        if self.caught_up or not self._conn.ready:
            return
        delivered = await self._conn.delivered_if_idle()
        if delivered is not None:
            log.info("control plane caught up at stream sequence %d", self._gaps.last_seq)
            # nothing pending: every event up to here is applied (or was never ours to
            # apply, for a node that just joined): the gap check starts from here
            await self._gaps.record(delivered)
            self._caught_up.set()
