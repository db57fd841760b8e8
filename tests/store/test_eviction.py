"""The eviction policies on plain keys and sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.store.eviction import LRU, S3FIFO, EvictionPolicy, make_policy


def request(policy: EvictionPolicy[str], key: str, size: int = 1) -> bool:
    hit = policy.access(key)
    if not hit:
        policy.insert(key, size)
    return hit


def test_lru_evicts_least_recently_used() -> None:
    evicted: list[str] = []
    lru: LRU[str] = LRU(30, evicted.append)
    for key in "abc":
        lru.insert(key, 10)
    assert lru.access("a")
    lru.insert("d", 10)
    assert evicted == ["b"]
    lru.insert("e", 20)  # byte-aware: one big object pushes out two small ones
    assert evicted == ["b", "c", "a"]
    assert lru.used == 30


def test_lru_refuses_objects_larger_than_capacity() -> None:
    lru: LRU[str] = LRU(10)
    lru.insert("a", 5)
    assert not lru.insert("a", 11)
    assert not lru.access("a")
    assert lru.used == 0


def test_s3fifo_one_hit_scan_does_not_flush_the_hot_set() -> None:
    s3: S3FIFO[str] = S3FIFO(100)
    hot = [f"hot{i}" for i in range(50)]
    for _ in range(3):
        for key in hot:
            request(s3, key)
    for i in range(1000):
        request(s3, f"scan{i}")
    assert all(s3.access(key) for key in hot)


def test_lru_is_flushed_by_the_same_scan() -> None:
    lru: LRU[str] = LRU(100)
    hot = [f"hot{i}" for i in range(50)]
    for _ in range(3):
        for key in hot:
            request(lru, key)
    for i in range(1000):
        request(lru, f"scan{i}")
    assert not any(lru.access(key) for key in hot)


def test_s3fifo_small_queue_evicts_in_fifo_order_and_remembers_ghosts() -> None:
    evicted: list[str] = []
    s3: S3FIFO[str] = S3FIFO(10, evicted.append)
    for key in "abcdefghij":
        request(s3, key)
    request(s3, "k")  # cache full: the oldest one-hit object goes first
    assert evicted == ["a"]
    request(s3, "a")  # back from the ghost: straight into main
    assert evicted == ["a", "b"]
    for i in range(20):
        request(s3, f"scan{i}")
    assert "a" not in evicted[1:]  # one-hit scan objects leave through the small queue
    assert s3.access("a")


def test_s3fifo_main_reinserts_accessed_objects() -> None:
    evicted: list[str] = []
    s3: S3FIFO[str] = S3FIFO(10, evicted.append, small_ratio=0.1)
    for key in "abcde":
        request(s3, key)
        request(s3, key)  # accessed twice: will be promoted to main
    for i in range(30):
        request(s3, f"x{i}")
    assert set("abcde").isdisjoint(evicted)


def test_s3fifo_admits_an_object_larger_than_the_small_queue() -> None:
    s3: S3FIFO[str] = S3FIFO(100)
    s3.insert("big", 90)
    assert s3.access("big")


def test_make_policy_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown eviction policy"):
        make_policy("clock", 10)


ops = st.lists(
    st.tuples(st.sampled_from(["req", "insert", "remove"]), st.integers(0, 30), st.integers(1, 60)),
    max_size=300,
)


@given(st.sampled_from(["lru", "s3fifo", "wtinylfu"]), ops)
def test_accounting_matches_resident_sizes(
    name: str, operations: list[tuple[str, int, int]]
) -> None:
    sizes: dict[int, int] = {}

    def evicted(key: int) -> None:
        del sizes[key]

    policy: EvictionPolicy[int] = make_policy(name, 100, evicted)
    for op, key, size in operations:
        if op == "req":
            if not policy.access(key) and policy.insert(key, size):
                sizes[key] = size
        elif op == "insert":
            if policy.insert(key, size):
                sizes[key] = size
            else:
                sizes.pop(key, None)
        else:
            assert policy.remove(key) == (sizes.pop(key, None) is not None)
        assert policy.used == sum(sizes.values()) <= policy.capacity
        assert all(policy.access(k) for k in list(sizes)[:3])
