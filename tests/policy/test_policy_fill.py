"""The rules around a fill (edge.policy.fill), table-tested without an event loop."""

from __future__ import annotations

import pytest
from policy_helpers import req

from edge.policy.decide import StoreDecision
from edge.policy.fill import (
    CLIENT_ONLY_FIELDS,
    FillDecision,
    client_only,
    decide_fill,
    group_invalidation_applies,
    head_miss_passes,
    joins_running_fill,
    range_applies,
    serves_stale_on,
    unsafe,
)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(500, True), (502, True), (503, True), (504, True), (501, False), (505, False),
     (404, False), (200, False), (599, False)],
)  # fmt: skip
def test_rfc5861_4_stale_if_error_statuses(status: int, expected: bool) -> None:
    assert serves_stale_on(status) is expected


@pytest.mark.parametrize(("method", "expected"), [("HEAD", True), ("GET", False), ("POST", False)])
def test_rfc9110_9_3_2_head_miss_passes(method: str, expected: bool) -> None:
    assert head_miss_passes(method) is expected


@pytest.mark.parametrize(
    ("status", "length", "expected"),
    [(200, 100, True), (200, 0, True), (200, None, False), (203, 100, False),
     (404, 100, False), (206, 100, False)],
)  # fmt: skip
def test_rfc9110_14_2_range_applies_to_full_200_of_known_length(
    status: int, length: int | None, expected: bool
) -> None:
    assert range_applies(status, length) is expected


@pytest.mark.parametrize(
    "name",
    ["If-None-Match", "if-modified-since", "IF-MATCH", "If-Unmodified-Since", "If-Range", "range"],
)
def test_rfc9110_13_2_1_client_only_fields_are_answered_by_the_cache(name: str) -> None:
    assert client_only(name)


@pytest.mark.parametrize("name", ["Accept", "Cache-Control", "Authorization", "Host"])
def test_other_fields_go_upstream(name: str) -> None:
    assert not client_only(name)
    assert name not in CLIENT_ONLY_FIELDS


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [("POST", 200, True), ("PUT", 302, True), ("DELETE", 399, True), ("POST", 400, False),
     ("POST", 500, False), ("POST", 199, False), ("GET", 200, False), ("HEAD", 200, False),
     ("OPTIONS", 200, False), ("PURGEX", 204, True)],
)  # fmt: skip
def test_rfc9875_3_group_invalidation_on_non_error_unsafe(
    method: str, status: int, expected: bool
) -> None:
    assert group_invalidation_applies(method, status) is expected
    assert unsafe(method) is (method not in ("GET", "HEAD", "OPTIONS", "TRACE"))


STORED = StoreDecision(True, "stored")


@pytest.mark.parametrize(
    ("decision", "status", "length", "no_store", "spool", "expected"),
    [
        # storable and fits memory, or too big with a disk to spool to: stored
        (STORED, 200, 10, False, False, FillDecision(True, "stored")),
        (STORED, 200, 10_000, False, True, FillDecision(True, "stored")),
        # too big for memory and no disk: not stored, and not worth collapsing on
        (STORED, 200, 10_000, False, False, FillDecision(False, "too-large", hit_for_miss=True)),
        # unknown length: spooled, it may fit
        (STORED, 200, None, False, False, FillDecision(True, "stored")),
        # uncacheable by nature: hit-for-miss
        (StoreDecision(False, "private"), 200, 10, False, True,
         FillDecision(False, "private", hit_for_miss=True)),
        # the request alone forbade storing: the next one may be cacheable
        (StoreDecision(False, "no-store"), 200, 10, True, True,
         FillDecision(False, "no-store", hit_for_miss=False)),
        # an origin in trouble: collapsing stays on
        (StoreDecision(False, "status"), 503, 10, False, True,
         FillDecision(False, "status", hit_for_miss=False)),
    ],
)  # fmt: skip
def test_decide_fill_too_large_and_hit_for_miss(
    decision: StoreDecision,
    status: int,
    length: int | None,
    no_store: bool,
    spool: bool,
    expected: FillDecision,
) -> None:
    got = decide_fill(
        decision,
        status=status,
        content_length=length,
        request_no_store=no_store,
        memory_limit=1000,
        spool_available=spool,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [({}, True), ({"Cache-Control": "max-age=5"}, True), ({"Cache-Control": "max-stale"}, True),
     ({"Cache-Control": "no-cache"}, False), ({"Cache-Control": "NO-CACHE"}, False),
     ({"Pragma": "no-cache"}, False), ({"Cache-Control": "max-age=0"}, False)],
)  # fmt: skip
def test_rfc9111_4_who_joins_a_running_fill(fields: dict[str, str], expected: bool) -> None:
    assert joins_running_fill(req("GET", *fields.items())) is expected
