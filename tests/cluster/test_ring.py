"""The consistent-hash ring: stable owners, ~1/N key movement, only to or from the changed node."""

from __future__ import annotations

from collections import Counter

import pytest

from edge.cluster.ring import HashRing, ring_hash

KEYS = [f"v0|http://example.com/asset/{i}.js" for i in range(10_000)]
NODES = ["shield-1", "shield-2", "shield-3", "shield-4", "shield-5"]


def owners(ring: HashRing) -> dict[str, str]:
    return {key: ring.owner(key) for key in KEYS}


def test_hash_is_stable_across_processes() -> None:
    # Pinned values: every edge must agree on positions without talking (unlike hash(),
    # which is salted per process). Changing the hash reshuffles every shield's cache.
    assert ring_hash("a") == 0x40F89E395B66422F
    assert ring_hash("shield-1#0") == 0xC6E954287F69A69F


def test_owner_is_deterministic_and_order_independent() -> None:
    a, b = HashRing(NODES), HashRing(list(reversed(NODES)))
    assert owners(a) == owners(b)


def test_preference_lists_every_node_once_owner_first() -> None:
    ring = HashRing(NODES)
    for key in KEYS[:500]:
        pref = ring.preference(key)
        assert pref[0] == ring.owner(key)
        assert sorted(pref) == sorted(NODES)


def test_balance_within_reason() -> None:
    counts = Counter(owners(HashRing(NODES)).values())
    fair = len(KEYS) / len(NODES)
    assert set(counts) == set(NODES)
    assert all(0.7 * fair <= n <= 1.3 * fair for n in counts.values()), counts


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_adding_a_node_moves_about_one_nth_only_to_it(n: int) -> None:
    nodes = [f"shield-{i}" for i in range(n)]
    before = owners(HashRing(nodes))
    after = owners(HashRing([*nodes, "shield-new"]))
    moved = [k for k in KEYS if before[k] != after[k]]
    share = len(moved) / len(KEYS)
    assert 0.5 / (n + 1) <= share <= 1.6 / (n + 1), share
    assert all(after[k] == "shield-new" for k in moved)


@pytest.mark.parametrize("n", [3, 5, 8])
def test_removing_a_node_moves_only_its_keys(n: int) -> None:
    nodes = [f"shield-{i}" for i in range(n)]
    gone = nodes[1]
    before = owners(HashRing(nodes))
    after = owners(HashRing([x for x in nodes if x != gone]))
    moved = [k for k in KEYS if before[k] != after[k]]
    assert 0.5 / n <= len(moved) / len(KEYS) <= 1.6 / n
    assert {before[k] for k in moved} == {gone}


def test_failover_order_is_the_ring_without_the_dead_node() -> None:
    # Removing the owner hands its keys to the next node in its preference list: the node the
    # ParentSet fails over to is the one that will own the key if the parent never returns.
    ring = HashRing(NODES)
    for key in KEYS[:500]:
        pref = ring.preference(key)
        assert HashRing([x for x in NODES if x != pref[0]]).owner(key) == pref[1]


def test_empty_ring_and_bad_input() -> None:
    empty = HashRing([])
    assert empty.preference("k") == []
    with pytest.raises(LookupError):
        empty.owner("k")
    with pytest.raises(ValueError, match="distinct"):
        HashRing(["a", "a"])
    with pytest.raises(ValueError, match="vnodes"):
        HashRing(["a"], vnodes=0)
