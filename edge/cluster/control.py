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

Applying is idempotent: event ids are remembered in a bounded LRU, and versions only go up.
Losing NATS never stops the node: nats-py reconnects forever, local purges still apply,
events submitted meanwhile wait in a bounded outbox, and :meth:`ControlPlane.status` reports
the condition for ``/stats``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType
from nats.js.kv import KeyValue

from edge.clock import Clock, SystemClock
from edge.cluster.events import (
    DURABLE_PREFIX,
    ControlPlaneUnavailable,
    InvalidationEvent,
    VersionBump,
    _VersionRecord,
    durable_name,
    kv_key,
    version_event,
)

log = logging.getLogger("edge.cluster.control")

SUBJECT = "edge.invalidations"
_NATS_ERRORS = (nats.errors.Error, OSError, TimeoutError)  # TimeoutError: asyncio's too


Apply = Callable[[InvalidationEvent], Awaitable[None]]
OnVersion = Callable[[str, int], Awaitable[object]]


class ControlPlane:
    """One node's link to the cluster. ``start`` once, ``close`` once."""

    def __init__(
        self,
        servers: Sequence[str],
        node_name: str,
        *,
        apply: Apply,
        on_version: OnVersion | None = None,
        on_gap: Callable[[], Awaitable[object]] | None = None,
        state_path: str | None = None,
        stream: str = "EDGE_INVALIDATIONS",
        kv_bucket: str = "edge_versions",
        max_age: float = 7 * 86400.0,
        clock: Clock | None = None,
        reconnect_wait: float = 1.0,
        request_timeout: float = 5.0,
        pull_wait: float = 1.0,
        ack_wait: float = 2.0,
        batch: int = 64,
        remember: int = 10_000,
        outbox_limit: int = 10_000,
    ) -> None:
        self.node_name = node_name
        self.durable = durable_name(node_name)
        self._servers = list(servers)
        self._apply = apply
        self._on_version = on_version
        self._on_gap = on_gap
        self._state_path = state_path  # where the last applied sequence is kept
        self._stream_created = ""
        self._stream = stream
        self._bucket = kv_bucket
        self._max_age = max_age
        self._clock = clock or SystemClock()
        self._reconnect_wait = reconnect_wait
        self._request_timeout = request_timeout
        self._pull_wait = pull_wait
        self._ack_wait = ack_wait
        self._batch = batch
        self._remember = remember
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._resync = True
        self._closing = False
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._versions: dict[str, int] = {}
        self._outbox: collections.deque[InvalidationEvent] = collections.deque(maxlen=outbox_limit)
        self._last_seq = 0
        self._pending = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None

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
        self._closing = True
        if self._task is not None:
            # Let the event in hand be applied *and* acknowledged (the loop stops on
            # _closing after it); cancelling in between would leave it applied but
            # pending, and the next start would wait for its redelivery.
            await asyncio.wait([self._task], timeout=self._pull_wait + self._request_timeout)
            # nats-py sometimes turns a cancelled fetch into a timeout; asyncio.wait never
            # raises the task's error, only our own cancel.
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc = self._js = self._kv = self._sub = None

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._note_error(f"control plane task died: {task.exception()!r}")

    # -- publishing ----------------------------------------------------------------
    async def publish(self, event: InvalidationEvent) -> int:
        """Store ``event`` on the stream; its sequence. ``ControlPlaneUnavailable`` if not."""
        js = self._connected_js()
        try:
            ack = await js.publish(
                SUBJECT,
                msgspec.json.encode(event),
                timeout=self._request_timeout,
                stream=self._stream,
                headers={"Nats-Msg-Id": event.id},
            )
        except _NATS_ERRORS as exc:
            raise ControlPlaneUnavailable(f"NATS did not store the event: {exc!r}") from exc
        return ack.seq

    async def submit(self, event: InvalidationEvent) -> int | None:
        """Apply ``event`` here, then publish it; None: NATS is away, it waits in the outbox."""
        await self._apply_event(event)
        try:
            return await self.publish(event)
        except ControlPlaneUnavailable as exc:
            self._outbox.append(event)
            self._note_error(f"{exc.message}; {len(self._outbox)} event(s) wait in the outbox")
            return None

    async def bump_version(self, prefix: str, at_least: int = 0) -> VersionBump:
        """Next version of ``prefix`` (above ``at_least``), by compare-and-set on the KV bucket.

        Needs NATS: a version is a cluster-wide counter. Raises ``ControlPlaneUnavailable``.
        """
        self._connected_js()
        kv = self._kv
        if kv is None:
            raise ControlPlaneUnavailable("the versions bucket is not open yet")
        key = kv_key(prefix)
        try:
            for _ in range(64):  # bounded: each lost race means another node's bump went in
                try:
                    entry = await kv.get(key)
                except nats.js.errors.NotFoundError:
                    current, revision = 0, None
                else:
                    current = msgspec.json.decode(entry.value or b"", type=_VersionRecord).version
                    revision = entry.revision
                version = max(current, at_least) + 1
                value = msgspec.json.encode(_VersionRecord(prefix, version))
                try:
                    if revision is None:
                        await kv.create(key, value)
                    else:
                        await kv.update(key, value, last=revision)
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue
                seq = await self.submit(version_event(self.node_name, self._clock, prefix, version))
                return VersionBump(prefix, version, seq)
        except (*_NATS_ERRORS, msgspec.DecodeError) as exc:
            raise ControlPlaneUnavailable(f"cannot bump version of {prefix!r}: {exc!r}") from exc
        raise ControlPlaneUnavailable(f"version of {prefix!r}: too many concurrent bumps, retry")

    def versions(self) -> dict[str, int]:
        """Every prefix's version known here (KV table plus the stream)."""
        return dict(self._versions)

    # -- who has applied what --------------------------------------------------------
    async def applied_by(self) -> dict[str, int]:
        """Each node's acknowledged stream sequence: it has applied every event up to it."""
        js = self._connected_js()
        try:
            infos = await js.consumers_info(self._stream)
        except _NATS_ERRORS as exc:
            raise ControlPlaneUnavailable(f"cannot list consumers: {exc!r}") from exc
        floors: dict[str, int] = {}
        for info in infos:
            if not info.name.startswith(DURABLE_PREFIX):
                continue
            node = info.config.description or info.name.removeprefix(DURABLE_PREFIX)
            floors[node] = info.ack_floor.stream_seq if info.ack_floor else 0
        return floors

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
        nc = self._nc
        return {
            "connected": bool(nc is not None and nc.is_connected),
            "caught_up": self.caught_up,
            "durable": self.durable,
            "last_applied_seq": self._last_seq,
            "pending": self._pending,
            "outbox": len(self._outbox),
            "last_error": self._last_error,
            "last_error_at": self._last_error_at,
        }

    # -- the background task ------------------------------------------------------------
    async def _run(self) -> None:
        self._nc = await self._connect()
        failures = 0
        while not self._closing:
            try:
                if self._resync:
                    await self._setup()
                await self._flush_outbox()
                await self._pull()
                failures = 0
            except (*_NATS_ERRORS, ControlPlaneUnavailable) as exc:
                # NATS away (the outbox flush raises ControlPlaneUnavailable): keep trying
                failures += 1
                self._note_error(f"control plane: {exc!r}")
                await asyncio.sleep(min(0.05 * 2**failures, 5.0))

    async def _connect(self) -> NATS:
        failures = 0
        while True:
            nc = NATS()
            # nats-py annotates these as int but takes float seconds.
            options: dict[str, Any] = {
                "connect_timeout": max(1.0, self._request_timeout / 2),
                "reconnect_time_wait": self._reconnect_wait,
            }
            try:
                await nc.connect(
                    servers=self._servers,
                    name=f"edge {self.node_name}",
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                    **options,
                )
            except (*_NATS_ERRORS, nats.errors.NoServersError) as exc:
                failures += 1
                self._note_error(f"cannot connect to NATS at {self._servers}: {exc!r}")
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            log.info("connected to NATS at %s", nc.connected_url)
            return nc

    async def _on_disconnected(self) -> None:
        if self._closing:
            return
        self._note_error("disconnected from NATS; serving on, local purges only")

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS; resuming from the durable position")
        self._resync = True

    async def _on_error(self, exc: Exception) -> None:
        self._note_error(f"NATS: {exc!r}")

    async def _setup(self) -> None:
        """Stream, bucket, version table, durable consumer: each made if missing."""
        assert self._nc is not None
        js = self._nc.jetstream(timeout=self._request_timeout)
        try:
            await js.stream_info(self._stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                name=self._stream,
                subjects=[SUBJECT],
                storage=StorageType.FILE,
                max_age=self._max_age,
                duplicate_window=120.0,
            )
        try:
            kv = await js.key_value(self._bucket)
        except nats.js.errors.BucketNotFoundError:
            kv = await js.create_key_value(bucket=self._bucket, history=1, storage=StorageType.FILE)
        self._js, self._kv = js, kv
        await self._load_versions(kv)
        try:
            await js.consumer_info(self._stream, self.durable)
        except nats.js.errors.NotFoundError:
            if self._sub is not None:  # the server lost its state: bind afresh
                await self._sub.unsubscribe()
                self._sub = None
        if self._sub is None:
            self._sub = await js.pull_subscribe(
                SUBJECT,
                durable=self.durable,
                stream=self._stream,
                config=ConsumerConfig(
                    description=self.node_name,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=self._ack_wait,
                    # One unacknowledged event at a time: a message lost with a closed
                    # connection's last pull request is redelivered before any later one,
                    # so events always apply in stream order.
                    max_ack_pending=1,
                ),
            )
        await self._check_gap(js)
        self._resync = False
        await self._check_caught_up()

    async def _load_versions(self, kv: KeyValue) -> None:
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return
        for key in keys:
            try:
                entry = await kv.get(key)
                record = msgspec.json.decode(entry.value or b"", type=_VersionRecord)
            except nats.js.errors.NotFoundError:
                continue  # deleted meanwhile
            except msgspec.DecodeError as exc:
                self._note_error(f"versions bucket key {key}: not a version record: {exc}")
                continue
            await self._note_version(record.prefix, record.version)

    async def _flush_outbox(self) -> None:
        while self._outbox:
            await self.publish(self._outbox[0])  # raises while NATS is away: retried later
            self._outbox.popleft()

    async def _pull(self) -> None:
        assert self._sub is not None
        try:
            msgs = await self._sub.fetch(batch=self._batch, timeout=self._pull_wait)
        except TimeoutError:
            msgs = []
        for msg in msgs:
            await self._handle(msg)
        if not msgs:
            self._pending = 0
        if not self.caught_up:
            await self._check_caught_up()

    async def _check_gap(self, js: JetStreamContext) -> None:
        """Events this node never applied that the stream no longer holds (older than its
        ``max_age``), or a stream that was recreated: what was purged is unknown, so the
        node drops its cache (``on_gap``).

        The node's own record (``state_path``: the stream's creation time and the last
        sequence applied) is what counts: the server moves a consumer's position forward
        when messages go. No record: this node never joined, and there is nothing to lose.
        An unreadable record counts as a gap (fail closed).
        """
        if self._on_gap is None or self._state_path is None:
            return
        record = await asyncio.to_thread(_read_state, self._state_path)
        stream = await js.stream_info(self._stream)
        created = str(stream.created)
        first = stream.state.first_seq
        if record is None:  # never joined: nothing to lose; records start with this stream
            self._stream_created = created
            return
        applied = max(self._last_seq, record.applied) if record.stream == created else 0
        lost = record.unreadable or record.stream != created or first > applied + 1
        if lost:
            log.error(
                "control plane: events this node never applied are gone (stream sequences "
                "%d..%d%s); dropping the cache so nothing they purged is served",
                applied + 1,
                first - 1,
                ", stream recreated" if record.stream != created else "",
            )
            await self._on_gap()
            self._last_seq = first - 1  # handled: the next check starts from here
        await self._record(stream.state.last_seq if lost else applied, created)

    async def _record(self, seq: int, created: str | None = None) -> None:
        """Remember the last stream sequence applied (and which stream it belongs to)."""
        self._last_seq = max(self._last_seq, seq)
        self._stream_created = created or self._stream_created
        if self._state_path is None:
            return
        state = _State(self._last_seq, self._stream_created)
        await asyncio.to_thread(_write_state, self._state_path, state)

    async def _check_caught_up(self) -> None:
        if self.caught_up or self._js is None:
            return
        info = await self._js.consumer_info(self._stream, self.durable)
        if not info.num_pending and not info.num_ack_pending:
            log.info("control plane caught up at stream sequence %d", self._last_seq)
            # nothing pending: every event up to here is applied (or was never ours to
            # apply, for a node that just joined): the gap check starts from here
            await self._record(info.delivered.stream_seq if info.delivered else 0)
            self._caught_up.set()

    async def _handle(self, msg: Msg) -> None:
        """Apply, then acknowledge, one message."""
        meta = msg.metadata
        try:
            event = msgspec.json.decode(msg.data, type=InvalidationEvent)
        except msgspec.DecodeError as exc:
            self._note_error(f"stream sequence {meta.sequence.stream}: not an event: {exc}")
            await msg.term()  # never redelivered: it would block the stream forever
            await self._record(meta.sequence.stream)  # handled: not a gap later
            return
        failures = 0
        while True:  # in place, so later events never overtake this one
            try:
                await self._apply_with_heartbeat(msg, event)
                break
            except Exception as exc:  # the node's own apply failed: retry, never skip it
                failures += 1
                self._note_error(f"applying event {event.id} failed, retrying: {exc!r}")
            if self._closing:
                return  # not acknowledged: NATS redelivers it to the next start
            with contextlib.suppress(*_NATS_ERRORS):
                await msg.in_progress()  # keep NATS from redelivering it meanwhile
            await asyncio.sleep(min(0.05 * 2**failures, 5.0))
        await msg.ack_sync(timeout=self._request_timeout)
        await self._record(meta.sequence.stream)
        self._pending = meta.num_pending

    async def _apply_with_heartbeat(self, msg: Msg, event: InvalidationEvent) -> None:
        """Apply, telling NATS "in progress" every half ack-wait so a long apply is not redelivered.

        A short ack-wait matters at restart: messages a closed connection's last pull
        request received are redelivered after it, and catching up waits for them.
        """

        async def beat() -> None:
            while True:
                await asyncio.sleep(self._ack_wait / 2)
                with contextlib.suppress(*_NATS_ERRORS):
                    await msg.in_progress()

        heart = asyncio.create_task(beat())
        try:
            await self._apply_event(event)
        finally:
            heart.cancel()
            await asyncio.gather(heart, return_exceptions=True)

    async def _apply_event(self, event: InvalidationEvent) -> None:
        if event.id in self._seen:
            self._seen.move_to_end(event.id)
            return
        if event.kind == "version" and self._on_version is not None:
            if event.prefix is not None:
                await self._note_version(event.prefix, event.version)
        else:
            await self._apply(event)
        self._seen[event.id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)

    async def _note_version(self, prefix: str, version: int) -> None:
        if version <= self._versions.get(prefix, 0):
            return  # versions only go up: an old or repeated bump changes nothing
        self._versions[prefix] = version
        if self._on_version is not None:
            await self._on_version(prefix, version)

    def _connected_js(self) -> JetStreamContext:
        if self._nc is None or not self._nc.is_connected or self._js is None:
            raise ControlPlaneUnavailable(
                f"not connected to NATS at {self._servers} (last error: {self._last_error})"
            )
        return self._js

    def _note_error(self, message: str) -> None:
        if message != self._last_error:
            log.warning("%s", message)
        self._last_error = message
        self._last_error_at = self._clock.now()


class _State(msgspec.Struct, frozen=True):
    applied: int
    stream: str  # the stream's creation time: a recreated stream is a different history
    unreadable: bool = False


def _read_state(path: str) -> _State | None:
    """This node's record; None when it has none (it never joined the control plane)."""
    try:
        with open(path, "rb") as f:
            return msgspec.json.decode(f.read(), type=_State)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError):
        return _State(0, "", unreadable=True)


def _write_state(path: str, state: _State) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode(state))
    os.replace(tmp, path)  # no fsync: a lost update only makes a later gap check stricter
