"""The control plane against a real nats-server with JetStream (see conftest.py).

Two or three ControlPlane instances stand for nodes; their sinks record what reached them.
Waits poll a condition with a deadline (``until``); nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from cluster_helpers import NatsServer, until

from edge.clock import FakeClock
from edge.cluster.control import ControlPlane
from edge.cluster.events import InvalidationEvent, durable_name, kv_key, purge_event
from edge.errors import ControlPlaneUnavailable

FAST = {"reconnect_wait": 0.1, "request_timeout": 2.0, "pull_wait": 0.2, "ack_wait": 2.0}


@dataclass
class Recorder:
    """A node's EventSink: records the purges, versions and drops that reach it."""

    events: list[InvalidationEvent] = field(default_factory=list)
    versions: list[tuple[str, int]] = field(default_factory=list)
    gaps: int = 0
    fail_once: set[str] = field(default_factory=set)

    async def apply_event(self, event: InvalidationEvent) -> None:
        if event.id in self.fail_once:
            self.fail_once.discard(event.id)
            raise RuntimeError("disk busy")
        if event.kind == "version" and event.prefix is not None:
            self.versions.append((event.prefix, event.version))
        else:
            self.events.append(event)

    async def apply_version(self, prefix: str, version: int) -> None:
        self.versions.append((prefix, version))

    async def drop_everything(self) -> None:
        self.gaps += 1

    def ids(self) -> list[str]:
        return [e.id for e in self.events]


Node = tuple[ControlPlane, Recorder]
MakeNode = Callable[..., Any]


@pytest.fixture
async def make_node(nats_server: NatsServer) -> AsyncIterator[MakeNode]:
    planes: list[ControlPlane] = []

    async def make(name: str, *, start: bool = True, **kw: Any) -> Node:
        rec = Recorder()
        cp = ControlPlane(
            [nats_server.url],
            name,
            sink=rec,
            clock=FakeClock(),
            **{**FAST, **kw},
        )
        planes.append(cp)
        if start:
            assert await cp.start(within=10)
        return cp, rec

    yield make
    for cp in planes:
        await cp.close()


def purge(node: str, *urls: str) -> InvalidationEvent:
    return purge_event(node, FakeClock(), urls=urls)


async def test_purge_reaches_the_other_node_in_order_exactly_once(make_node: MakeNode) -> None:
    (a, ra), (b, rb) = await make_node("a"), await make_node("b")
    events = [purge("a", f"/p/{i}") for i in range(5)]
    seqs = [await a.submit(e) for e in events]
    assert seqs == sorted(seqs) and None not in seqs
    await until(lambda: len(rb.events) >= 5, what="b applied 5 events")
    assert rb.ids() == [e.id for e in events]
    await until(lambda: a.status()["last_applied_seq"] == seqs[-1], what="a acked its own")
    await until(lambda: b.status()["last_applied_seq"] == seqs[-1], what="b acked")
    assert ra.ids() == []  # a applied its own before submitting: not again when they came back
    assert rb.ids() == [e.id for e in events]
    assert rb.events[0].urls == ("/p/0",) and rb.events[0].origin_node == "a"


async def test_publish_is_deduplicated_by_event_id(make_node: MakeNode) -> None:
    (a, _), (_, rb) = await make_node("a"), await make_node("b")
    event = purge("a", "/x")
    first = await a.publish(event)
    again = await a.publish(event)  # a retry after a lost PubAck: stored once
    assert first == again
    await until(lambda: len(rb.events) == 1)


async def test_a_node_that_was_away_catches_up_before_start_returns(
    make_node: MakeNode,
) -> None:
    (a, _), (b, rb) = await make_node("a"), await make_node("b")
    before = purge("a", "/before")
    seen = await a.submit(before)
    assert seen is not None
    await until(lambda: b.status()["last_applied_seq"] == seen, what="b acked /before")
    await b.close()

    missed = [purge("a", f"/missed/{i}") for i in range(3)]
    for e in missed:
        assert await a.publish(e) is not None

    b2, rb2 = await make_node("b", start=False)
    assert await b2.start(within=10)
    # Everything published while b was away, and only that, was applied before start returned.
    assert rb2.ids() == [e.id for e in missed]
    assert b2.caught_up and b2.status()["pending"] == 0
    assert rb.ids() == [before.id]  # the first b applied (and acknowledged) only that one


async def test_failed_apply_is_retried_in_order(make_node: MakeNode) -> None:
    (a, _), (b, rb) = await make_node("a"), await make_node("b")
    events = [purge("a", f"/r/{i}") for i in range(3)]
    rb.fail_once.add(events[1].id)
    for e in events:
        await a.publish(e)
    await until(lambda: len(rb.events) == 3, what="b applied all 3 after the retry")
    assert rb.ids() == [e.id for e in events]
    assert "disk busy" in str(b.status()["last_error"])


async def test_version_bumps_are_distinct_and_a_new_node_loads_the_table(
    make_node: MakeNode,
) -> None:
    (a, ra), (b, rb) = await make_node("a"), await make_node("b")
    bumps = await asyncio.gather(
        *(a.bump_version("/static/") for _ in range(5)),
        *(b.bump_version("/static/") for _ in range(5)),
    )
    assert sorted(x.version for x in bumps) == list(range(1, 11))
    await a.bump_version("/img/", at_least=41)
    assert a.versions()["/img/"] == 42

    c, rc = await make_node("c")
    # The table came from the KV bucket first; the older version events replayed after it
    # change nothing (versions only go up).
    assert sorted(rc.versions) == [("/img/", 42), ("/static/", 10)]
    assert c.versions() == {"/static/": 10, "/img/": 42}
    await until(lambda: rb.versions[-1:] == [("/img/", 42)], what="b got the /img/ bump")
    await until(lambda: a.versions().get("/static/") == 10, what="a knows the last bump")
    # a node's own bumps never come back to it (its caller applies them); of the other's,
    # those below what it has already are skipped
    mine, theirs = {x.version for x in bumps[:5]}, {x.version for x in bumps[5:]}
    assert {v for p, v in ra.versions if p == "/static/"} <= theirs
    assert {v for p, v in rb.versions if p == "/static/"} <= mine
    assert ra.events == rb.events == rc.events == []  # no purges: versions only


async def test_applied_by_reports_ack_floors(make_node: MakeNode) -> None:
    (a, _), (b, _) = await make_node("a"), await make_node("b.eu")
    (c, _) = await make_node("c")
    await c.close()  # c is away: it will not apply what comes next
    seq = await a.submit(purge("a", "/y"))
    assert seq is not None
    done = await a.wait_applied(seq, ["a", "b.eu"], within=10)
    assert done == {"a": True, "b.eu": True}
    floors = await b.applied_by()
    assert floors["a"] >= seq and floors["b.eu"] >= seq and floors["c"] < seq
    assert await a.wait_applied(seq, within=0.3) == {"a": True, "b.eu": True, "c": False}


async def test_losing_nats_keeps_local_purges_and_catches_up(
    make_node: MakeNode, nats_server: NatsServer
) -> None:
    (a, _), (b, rb) = await make_node("a"), await make_node("b")
    first = purge("a", "/1")
    await a.submit(first)
    await until(lambda: rb.ids() == [first.id])

    nats_server.stop(hard=True)
    await until(lambda: not a.status()["connected"], what="a notices NATS is gone")
    offline = purge("a", "/while-away")
    assert await a.submit(offline) is None  # queued for the stream
    status = a.status()
    assert status["outbox"] == 1 and status["last_error"]
    with pytest.raises(ControlPlaneUnavailable):
        await a.bump_version("/v/")

    nats_server.start()  # same port, same store: streams and durable consumers survive
    await until(lambda: a.status()["connected"] and b.status()["connected"], within=15)
    await until(lambda: offline.id in rb.ids(), within=15, what="the outbox reached b")
    after = purge("a", "/after")
    assert await a.submit(after) is not None
    await until(lambda: after.id in rb.ids(), within=10, what="b gets events after the outage")
    assert rb.ids() == [first.id, offline.id, after.id]
    assert a.status()["outbox"] == 0


def test_names_fit_nats() -> None:
    assert durable_name("edge-a.eu") == "edge-edge-a_eu"
    key = kv_key("https://example.com/static/ä?x=1")
    assert key.startswith("p_") and all(c.isalnum() or c in "-_" for c in key)
    assert kv_key("") == "p_"


async def test_a_node_that_missed_expired_events_drops_its_cache(
    make_node: MakeNode, nats_server: NatsServer, tmp_path: Any
) -> None:
    state = str(tmp_path / "b-state.json")
    (a, _), (b, _) = await make_node("a"), await make_node("b", state_path=state)
    first = await a.submit(purge("a", "/one"))
    assert first is not None
    await until(lambda: b.status()["last_applied_seq"] == first, what="b applied /one")
    await b.close()
    for i in range(3):
        assert await a.publish(purge("a", f"/lost/{i}")) is not None
    nc = await nats.connect(nats_server.url)
    try:  # the events b never applied leave the stream, as max_age would make them
        await nc.jetstream().purge_stream("EDGE_INVALIDATIONS")
    finally:
        await nc.close()
    b2, rb2 = await make_node("b", start=False, state_path=state)
    assert await b2.start(within=10)
    assert rb2.gaps == 1 and rb2.ids() == []


async def test_no_gap_when_nothing_was_lost(make_node: MakeNode, tmp_path: Any) -> None:
    state = str(tmp_path / "b-state.json")
    (a, _), (b, rb) = await make_node("a"), await make_node("b", state_path=state)
    seq = await a.submit(purge("a", "/x"))
    await until(lambda: b.status()["last_applied_seq"] == seq, what="b applied /x")
    await b.close()
    b2, rb2 = await make_node("b", start=False, state_path=state)
    assert await b2.start(within=10)
    assert rb.gaps == rb2.gaps == 0


async def test_a_node_that_joined_an_empty_stream_still_detects_a_gap(
    make_node: MakeNode, nats_server: NatsServer, tmp_path: Any
) -> None:
    state = str(tmp_path / "b-state.json")
    (a, _), (b, rb) = await make_node("a"), await make_node("b", state_path=state)
    assert rb.gaps == 0
    await b.close()  # joined and caught up with nothing to apply: it may have cached since
    for i in range(3):  # purged while b is away...
        assert await a.publish(purge("a", f"/lost/{i}")) is not None
    nc = await nats.connect(nats_server.url)
    try:  # ...and gone from the stream (as max_age would) before b comes back
        await nc.jetstream().purge_stream("EDGE_INVALIDATIONS")
    finally:
        await nc.close()
    b2, rb2 = await make_node("b", start=False, state_path=state)
    assert await b2.start(within=10)
    assert rb2.gaps == 1
