"""W-TinyLFU (edge.store.tinylfu), the memory tier's default policy, on plain keys and sizes."""

from __future__ import annotations

import itertools
import random

from edge.store.eviction import LRU, EvictionPolicy, make_policy
from edge.store.memory import MemoryTier
from edge.store.tinylfu import MAX_COUNT, FrequencySketch, WTinyLFU
from tests.store.helpers import make_entry


def request(policy: EvictionPolicy[str], key: str, size: int = 1) -> bool:
    hit = policy.access(key)
    if not hit:
        policy.insert(key, size)
    return hit


def zipf_keys(rng: random.Random, objects: int, alpha: float, count: int) -> list[str]:
    weights = list(itertools.accumulate(1.0 / rank**alpha for rank in range(1, objects + 1)))
    return [f"k{i}" for i in rng.choices(range(objects), cum_weights=weights, k=count)]


# -- the sketch ----------------------------------------------------------------------
def test_sketch_doorkeeper_absorbs_the_first_sighting() -> None:
    sketch = FrequencySketch()
    assert sketch.estimate("a") == 0
    sketch.increment("a")  # doorkeeper only
    assert sketch.estimate("a") == 1
    sketch.increment("a")
    sketch.increment("a")
    assert sketch.estimate("a") == 3
    assert sketch.estimate("b") == 0


def test_sketch_counters_saturate_and_halve_when_aged() -> None:
    sketch = FrequencySketch()
    for _ in range(40):
        sketch.increment("hot")
    assert sketch.estimate("hot") == MAX_COUNT + 1  # 15 in the counters, 1 in the doorkeeper
    sketch.age()
    assert sketch.estimate("hot") == MAX_COUNT // 2  # halved, doorkeeper cleared


def test_sketch_raise_to_keeps_a_leaving_residents_record() -> None:
    sketch = FrequencySketch()
    sketch.raise_to("a", 6)
    assert sketch.estimate("a") == 6
    sketch.raise_to("a", 2)  # never lowers
    assert sketch.estimate("a") == 6


# -- the policy ----------------------------------------------------------------------
def test_byte_budget_holds_and_callbacks_match_residency() -> None:
    rng = random.Random(3)
    resident: dict[str, int] = {}
    inserting: list[str] = []

    def evicted(key: str) -> None:
        assert key not in inserting  # never the key being inserted
        del resident[key]

    policy: WTinyLFU[str] = WTinyLFU(50_000, evicted)
    for key in zipf_keys(rng, 400, 0.9, 6000):
        size = 200 + hash(key) % 3000
        if policy.access(key):
            assert key in resident
            continue
        inserting.append(key)
        if policy.insert(key, size):
            resident[key] = size
        inserting.pop()
        assert policy.used == sum(resident.values()) <= policy.capacity
    assert policy.evictions > 0
    assert len(policy) == len(resident)
    assert all(key in policy for key in resident)


def test_remove_does_not_call_back_and_resize_is_charged() -> None:
    evicted: list[str] = []
    policy: WTinyLFU[str] = WTinyLFU(1000, evicted.append)
    assert policy.insert("a", 100) and policy.insert("b", 100)
    assert policy.insert("a", 300)  # a new size, same key
    assert policy.used == 400
    assert policy.remove("a") and not policy.remove("a")
    assert policy.used == 100 and evicted == []
    assert not policy.insert("huge", 1001)
    assert policy.used == 100


def test_a_new_object_hits_in_the_window() -> None:
    policy: WTinyLFU[str] = WTinyLFU(100_000)  # window: 1000 bytes
    for i in range(200):
        request(policy, f"old{i}", 600)  # fill up main, which then refuses one-hit objects
    assert policy.insert("new", 500)
    assert policy.access("new")  # the window holds it although main would not yet


def test_a_warm_cache_refuses_a_one_hit_object_and_admits_it_when_it_comes_back() -> None:
    policy: WTinyLFU[str] = WTinyLFU(10_000)
    for _ in range(3):
        for i in range(25):  # more than fit: main fills up
            request(policy, f"hot{i}", 450)
    assert not policy.insert("once", 450)  # larger than the window: straight to admission
    assert "once" not in policy
    for _ in range(4):
        request(policy, "again", 450)
    assert policy.access("again")


def test_a_one_hit_scan_does_not_flush_the_hot_set() -> None:
    policy: WTinyLFU[str] = WTinyLFU(100)
    hot = [f"hot{i}" for i in range(50)]
    for _ in range(3):
        for key in hot:
            request(policy, key)
    for i in range(1000):
        request(policy, f"scan{i}")
    assert sum(policy.access(key) for key in hot) >= 45


def test_scan_resistance_on_a_zipf_trace() -> None:
    """Hit ratio on the regular requests after a scan, against the same trace without it."""
    rng = random.Random(5)
    before, after = zipf_keys(rng, 2000, 0.9, 6000), zipf_keys(rng, 2000, 0.9, 4000)
    scan = [f"scan{i}" for i in range(3000)]

    def hits_after(with_scan: bool) -> int:
        policy: WTinyLFU[str] = WTinyLFU(20_000)  # 200 of the 2000 objects of 100 bytes
        for key in before + (scan if with_scan else []):
            request(policy, key, 100)
        return sum(request(policy, key, 100) for key in after)

    plain, scanned = hits_after(False), hits_after(True)
    assert scanned >= plain * 0.97
    lru: LRU[str] = LRU(20_000)
    for key in before + scan:
        request(lru, key, 100)
    assert sum(request(lru, key, 100) for key in after) < scanned * 0.9  # LRU was flushed


def test_beats_lru_on_a_small_zipf_trace() -> None:
    rng = random.Random(11)
    sizes = {f"k{i}": 500 + rng.randrange(8000) for i in range(3000)}
    trace = zipf_keys(rng, 3000, 0.8, 20_000)
    capacity = sum(sizes.values()) // 20  # 5 % of the working set
    ratios = {}
    for name in ("lru", "s3fifo", "wtinylfu"):
        policy: EvictionPolicy[str] = make_policy(name, capacity)
        ratios[name] = sum(request(policy, key, sizes[key]) for key in trace) / len(trace)
    assert ratios["wtinylfu"] > ratios["s3fifo"] > ratios["lru"]
    assert ratios["wtinylfu"] > ratios["lru"] * 1.3


def test_the_same_seed_gives_the_same_run() -> None:
    trace = zipf_keys(random.Random(2), 500, 0.9, 3000)

    def run() -> list[str]:
        evicted: list[str] = []
        policy: WTinyLFU[str] = WTinyLFU(5000, evicted.append)
        for key in trace:
            request(policy, key, 50 + int(key[1:]) % 200)
        return evicted

    assert run() == run()


# -- in the memory tier ---------------------------------------------------------------
def test_the_memory_tier_defaults_to_wtinylfu_and_drops_a_refused_object() -> None:
    tier = MemoryTier(max_bytes=20_000, max_object_bytes=5000)
    assert isinstance(tier._policy, WTinyLFU)
    hot = [make_entry(f"hot{i}", body=b"h" * 1000) for i in range(14)]
    for _ in range(3):
        for entry in hot:
            if not tier.get_sync(entry.key):
                tier.put_sync(entry, b"h" * 1000)
    cold = make_entry("cold", body=b"c" * 1000)
    refused = tier.refused
    assert not tier.put_sync(cold, b"c" * 1000)  # refused: a one-hit object in a warm tier
    assert tier.refused == refused + 1  # counted (/stats memory_refused, /metrics)
    assert not tier.holds_key("cold") and tier.get_sync("cold") == []
    assert tier.body_sync(cold) is None
    assert tier.used_bytes <= 20_000
