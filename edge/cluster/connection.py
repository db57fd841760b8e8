"""The control plane's connection to NATS JetStream: the one place that calls nats-py.

It connects (retrying forever), makes the stream, the versions bucket and the node's durable
consumer when they are missing, and does the calls the control plane needs. A NATS failure
leaves it as :class:`edge.errors.ControlPlaneUnavailable` from the public calls; the setup
and the background loop let nats' own errors through to :class:`ControlPlane`'s loop, which
retries (``NATS_ERRORS``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType
from nats.js.kv import KeyValue

from edge.clock import Clock
from edge.cluster.events import (
    DURABLE_PREFIX,
    InvalidationEvent,
    _VersionRecord,
    durable_name,
    kv_key,
)
from edge.errors import ControlPlaneUnavailable

log = logging.getLogger("edge.cluster.control")

SUBJECT = "edge.invalidations"
NATS_ERRORS = (nats.errors.Error, OSError, TimeoutError)  # TimeoutError: asyncio's too


class ErrorNote:
    """The last problem the control plane met, for the log and ``/stats``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    def __call__(self, message: str) -> None:
        if message != self.last_error:
            log.warning("%s", message)
        self.last_error = message
        self.last_error_at = self._clock.now()


@dataclass(frozen=True, slots=True)
class StreamState:
    created: str  # the stream's creation time: a recreated stream is a different history
    first_seq: int
    last_seq: int


class Connection:
    """One node's NATS connection, its JetStream context, versions bucket and consumer."""

    def __init__(
        self,
        servers: Sequence[str],
        node_name: str,
        note: ErrorNote,
        *,
        stream: str,
        kv_bucket: str,
        max_age: float,
        reconnect_wait: float,
        request_timeout: float,
        ack_wait: float,
    ) -> None:
        self.servers = list(servers)
        self.node_name = node_name
        self.durable = durable_name(node_name)
        self.stream = stream
        self._note = note
        self._bucket = kv_bucket
        self._max_age = max_age
        self._reconnect_wait = reconnect_wait
        self.request_timeout = request_timeout
        self._ack_wait = ack_wait
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self.sub: JetStreamContext.PullSubscription | None = None
        self.resync = True  # set up (again) before pulling: at start and after a reconnect
        self.closing = False

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def ready(self) -> bool:
        """Connected and set up: the calls below can be made."""
        return self.connected and self._js is not None

    # -- connecting ----------------------------------------------------------------------
    async def connect(self) -> None:
        """Until connected (nats-py then reconnects on its own, forever)."""
        failures = 0
        while True:
            nc = NATS()
            # nats-py annotates these as int but takes float seconds.
            options: dict[str, Any] = {
                "connect_timeout": max(1.0, self.request_timeout / 2),
                "reconnect_time_wait": self._reconnect_wait,
            }
            try:
                await nc.connect(
                    servers=self.servers,
                    name=f"edge {self.node_name}",
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                    **options,
                )
            except (*NATS_ERRORS, nats.errors.NoServersError) as exc:
                failures += 1
                self._note(f"cannot connect to NATS at {self.servers}: {exc!r}")
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            log.info("connected to NATS at %s", nc.connected_url)
            self._nc = nc
            return

    async def _on_disconnected(self) -> None:
        if self.closing:
            return
        self._note("disconnected from NATS; serving on, local purges only")

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS; resuming from the durable position")
        self.resync = True

    async def _on_error(self, exc: Exception) -> None:
        self._note(f"NATS: {exc!r}")

    async def setup(self) -> None:
        """Stream, bucket and durable consumer: each made if missing. Raises NATS errors."""
        assert self._nc is not None
        js = self._nc.jetstream(timeout=self.request_timeout)
        try:
            await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                name=self.stream,
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
        try:
            await js.consumer_info(self.stream, self.durable)
        except nats.js.errors.NotFoundError:
            if self.sub is not None:  # the server lost its state: bind afresh
                await self.sub.unsubscribe()
                self.sub = None
        if self.sub is None:
            self.sub = await js.pull_subscribe(
                SUBJECT,
                durable=self.durable,
                stream=self.stream,
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

    async def close(self) -> None:
        self.closing = True
        nc, self._nc = self._nc, None
        self._js = self._kv = self.sub = None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except NATS_ERRORS as exc:  # closing anyway: nothing to retry
                log.warning("closing the NATS connection: %r", exc)

    # -- what the control plane asks (after setup) ------------------------------------
    async def publish(self, event: InvalidationEvent) -> int:
        """Store ``event`` on the stream; its sequence. ``ControlPlaneUnavailable`` if not."""
        js = self._ready_js()
        try:
            ack = await js.publish(
                SUBJECT,
                msgspec.json.encode(event),
                timeout=self.request_timeout,
                stream=self.stream,
                headers={"Nats-Msg-Id": event.id},
            )
        except NATS_ERRORS as exc:
            raise ControlPlaneUnavailable(f"NATS did not store the event: {exc!r}") from exc
        return ack.seq

    async def next_version(self, prefix: str, at_least: int) -> int:
        """Store the next version of ``prefix`` (above ``at_least``) by compare-and-set."""
        self._ready_js()
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
                return version
        except (*NATS_ERRORS, msgspec.DecodeError) as exc:
            raise ControlPlaneUnavailable(f"cannot bump version of {prefix!r}: {exc!r}") from exc
        raise ControlPlaneUnavailable(f"version of {prefix!r}: too many concurrent bumps, retry")

    async def ack_floors(self) -> dict[str, int]:
        """Each node's acknowledged stream sequence: it has applied every event up to it."""
        js = self._ready_js()
        try:
            infos = await js.consumers_info(self.stream)
        except NATS_ERRORS as exc:
            raise ControlPlaneUnavailable(f"cannot list consumers: {exc!r}") from exc
        floors: dict[str, int] = {}
        for info in infos:
            if not info.name.startswith(DURABLE_PREFIX):
                continue
            node = info.config.description or info.name.removeprefix(DURABLE_PREFIX)
            floors[node] = info.ack_floor.stream_seq if info.ack_floor else 0
        return floors

    # -- for the background loop: these raise NATS errors -------------------------------
    async def version_records(self) -> list[_VersionRecord]:
        """The whole versions bucket (records that do not decode are noted and skipped)."""
        assert self._kv is not None
        try:
            keys = await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        records: list[_VersionRecord] = []
        for key in keys:
            try:
                entry = await self._kv.get(key)
                records.append(msgspec.json.decode(entry.value or b"", type=_VersionRecord))
            except nats.js.errors.NotFoundError:
                continue  # deleted meanwhile
            except msgspec.DecodeError as exc:
                self._note(f"versions bucket key {key}: not a version record: {exc}")
        return records

    async def stream_state(self) -> StreamState:
        assert self._js is not None
        info = await self._js.stream_info(self.stream)
        return StreamState(str(info.created), info.state.first_seq, info.state.last_seq)

    async def delivered_if_idle(self) -> int | None:
        """The last stream sequence delivered to this node's consumer if nothing is pending
        or unacknowledged; None while something is."""
        assert self._js is not None
        info = await self._js.consumer_info(self.stream, self.durable)
        if info.num_pending or info.num_ack_pending:
            return None
        return info.delivered.stream_seq if info.delivered else 0

    def _ready_js(self) -> JetStreamContext:
        if not self.connected or self._js is None:
            raise ControlPlaneUnavailable(
                f"not connected to NATS at {self.servers} (last error: {self._note.last_error})"
            )
        return self._js
