"""The memory tier: strict byte budget, variants, refusal of large objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from edge.models import BytesBody
from edge.store.base import SpooledBody
from edge.store.memory import OBJECT_OVERHEAD, MemoryTier, charge_of

from .helpers import make_entry


def held_charge(tier: MemoryTier) -> int:
    return sum(obj.charge for variants in tier._objects.values() for obj in variants.values())


class BudgetMachine(RuleBasedStateMachine):
    """Random puts, updates, lookups and removals never break the byte budget."""

    def __init__(self) -> None:
        super().__init__()
        self.tier = MemoryTier(max_bytes=8000, max_object_bytes=3000, policy="s3fifo")

    @rule(
        key=st.sampled_from("abcdef"),
        variant=st.sampled_from(["", "gzip", "br"]),
        size=st.integers(0, 3500),
        stamp=st.floats(0, 3),
    )
    def put(self, key: str, variant: str, size: int, stamp: float) -> None:
        body = b"x" * size
        taken = self.tier.put_sync(make_entry(key, variant, body, stored_at=stamp), body)
        assert taken == (size <= 3000)

    @rule(key=st.sampled_from("abcdef"), variant=st.sampled_from(["", "gzip"]))
    def update(self, key: str, variant: str) -> None:
        for entry in self.tier.get_sync(key):
            if entry.variant == variant:
                longer = (*entry.headers, ("x-long", "v" * 500))
                self.tier.update_sync(
                    make_entry(
                        key,
                        variant,
                        headers=longer,
                        body_size=entry.body_size,
                        stored_at=entry.stored_at,
                    )
                )

    @rule(key=st.sampled_from("abcdef"))
    def get(self, key: str) -> None:
        for entry in self.tier.get_sync(key):
            body = self.tier.body_sync(entry)
            assert body is not None and len(body) == entry.body_size

    @rule(key=st.sampled_from("abcdef"), variant=st.sampled_from([None, "", "gzip"]))
    def remove(self, key: str, variant: str | None) -> None:
        self.tier.remove_sync(key, variant)
        remaining = {e.variant for e in self.tier.get_sync(key)}
        assert not remaining if variant is None else variant not in remaining

    @invariant()
    def within_budget(self) -> None:
        assert self.tier.used_bytes <= self.tier.max_bytes
        assert self.tier.used_bytes == held_charge(self.tier)


BudgetMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)
TestBudget = BudgetMachine.TestCase


@pytest.mark.parametrize("policy", ["lru", "s3fifo", "wtinylfu"])
def test_budget_holds_under_a_random_sequence(policy: str) -> None:
    import random

    rng = random.Random(1)
    tier = MemoryTier(max_bytes=50_000, max_object_bytes=10_000, policy=policy)
    for _ in range(3000):
        key = f"k{rng.randrange(40)}"
        if rng.random() < 0.6:
            tier.get_sync(key)
        elif rng.random() < 0.9:
            body = b"y" * rng.randrange(12_000)
            tier.put_sync(make_entry(key, body=body), body)
        else:
            tier.remove_sync(key)
        assert tier.used_bytes == held_charge(tier) <= 50_000
    assert tier.evictions > 0


def test_charge_counts_body_metadata_and_overhead() -> None:
    entry = make_entry("key", body=b"12345")
    charge = charge_of(entry, 5)
    assert charge >= 5 + OBJECT_OVERHEAD + len("key") + len(entry.url) + len("content-type")


def test_objects_over_max_object_bytes_are_refused_and_the_old_copy_dropped() -> None:
    tier = MemoryTier(max_bytes=100_000, max_object_bytes=1000)
    small = b"s" * 10
    assert tier.put_sync(make_entry("a", body=small), small)
    big = b"b" * 1001
    assert not tier.put_sync(make_entry("a", body=big, stored_at=2.0), big)
    assert tier.get_sync("a") == []
    assert tier.used_bytes == 0
    assert tier.admits(1000) and not tier.admits(1001)


def test_object_charge_over_budget_is_refused() -> None:
    tier = MemoryTier(max_bytes=1000, max_object_bytes=1000)
    body = b"z" * 900  # fits max_object_bytes, not the budget once metadata is charged
    assert not tier.put_sync(make_entry("a", body=body), body)
    assert tier.used_bytes == 0


async def test_variants_live_under_one_primary_key() -> None:
    tier = MemoryTier(max_bytes=100_000, max_object_bytes=10_000)
    for variant, body in (("gzip", b"zipped"), ("br", b"brotli"), ("", b"plain")):
        assert await tier.put(make_entry("k", variant, body), SpooledBody(len(body), data=body))
    found = {e.variant: e for e in await tier.variants("k")}
    assert set(found) == {"gzip", "br", ""}
    assert await tier.open_body(found["br"]) == BytesBody(b"brotli")
    assert await tier.remove("k", "br") == 1
    assert {e.variant for e in await tier.variants("k")} == {"gzip", ""}
    assert await tier.remove("k") == 2
    assert await tier.variants("k") == []
    assert tier.used_bytes == 0


def test_variants_per_key_are_bounded() -> None:
    tier = MemoryTier(max_bytes=100_000, max_object_bytes=10_000, max_variants=2)
    for variant in ("a", "b", "c"):
        tier.put_sync(make_entry("k", variant, b"x"), b"x")
    assert {e.variant for e in tier.get_sync("k")} == {"b", "c"}


def test_a_replaced_body_is_not_served_for_the_old_entry() -> None:
    tier = MemoryTier(max_bytes=100_000, max_object_bytes=10_000)
    old = make_entry("k", body=b"old", stored_at=1.0)
    tier.put_sync(old, b"old")
    tier.put_sync(make_entry("k", body=b"new", stored_at=2.0), b"new")
    assert tier.body_sync(old) is None


def test_update_keeps_the_body_and_recharges() -> None:
    tier = MemoryTier(max_bytes=100_000, max_object_bytes=10_000)
    entry = make_entry("k", body=b"body")
    tier.put_sync(entry, b"body")
    before = tier.used_bytes
    fresher = make_entry("k", body=b"body", lifetime=600.0, headers=(("etag", '"abc"'),) * 3)
    assert tier.update_sync(fresher)
    assert tier.get_sync("k") == [fresher]
    assert tier.body_sync(fresher) == b"body"
    assert tier.used_bytes > before


async def test_put_from_a_spool_file_reads_it_and_deletes_it(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.write_bytes(b"spooled body")
    tier = MemoryTier(max_bytes=100_000, max_object_bytes=10_000)
    entry = make_entry("k", body=b"spooled body")
    assert await tier.put(entry, SpooledBody(12, path=str(spool)))
    assert not spool.exists()
    assert tier.body_sync(entry) == b"spooled body"
