"""Range requests (RFC 9110 §14) and If-Range (§13.1.5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import T0, date

from edge.policy import RangeDecision, evaluate_range
from edge.policy.ranges import MAX_RANGES

LM = date(T0 - 100)
DATE = date(T0)


def ev(header: str | None, if_range: str | None = None, size: int = 1000) -> RangeDecision:
    return evaluate_range(header, if_range, size=size, etag='"e"', last_modified=LM, date=DATE)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, RangeDecision("full")),
        ("bytes=0-99", RangeDecision("partial", ((0, 99),))),
        ("bytes=900-", RangeDecision("partial", ((900, 999),))),
        ("bytes=-100", RangeDecision("partial", ((900, 999),))),
        ("bytes=-5000", RangeDecision("partial", ((0, 999),))),
        ("bytes=990-5000", RangeDecision("partial", ((990, 999),))),
        ("bytes=0-0, -1", RangeDecision("partial", ((0, 0), (999, 999)))),
        ("BYTES = 0-1", RangeDecision("full")),  # whitespace around "=" is invalid
        ("bytes=5-1", RangeDecision("full")),  # last < first: invalid, ignored
        ("bytes=a-b", RangeDecision("full")),
        ("items=0-1", RangeDecision("full")),  # unknown unit
        ("bytes=", RangeDecision("full")),
        ("bytes=1000-", RangeDecision("unsatisfiable")),
        ("bytes=-0", RangeDecision("unsatisfiable")),
        ("bytes=2000-3000, 1000-", RangeDecision("unsatisfiable")),
        ("bytes=0-10, 5-20", RangeDecision("partial", ((0, 20),))),  # overlap coalesced
        ("bytes=500-600, 0-10, 2000-", RangeDecision("partial", ((500, 600), (0, 10)))),
    ],
)
def test_rfc9110_14_range_table(header: str | None, expected: RangeDecision) -> None:
    assert ev(header) == expected


def test_rfc9110_14_2_many_ranges_coalesced_or_ignored() -> None:
    adjacent = ", ".join(f"{i}-{i}" for i in range(MAX_RANGES + 4))
    assert ev("bytes=" + adjacent) == RangeDecision("partial", ((0, MAX_RANGES + 3),))
    sparse = ", ".join(f"{i * 10}-{i * 10}" for i in range(MAX_RANGES + 4))
    assert ev("bytes=" + sparse) == RangeDecision("full")


@pytest.mark.parametrize(
    ("if_range", "kind", "etag", "last_modified"),
    [
        ('"e"', "partial", '"e"', LM),
        ('"x"', "full", '"e"', LM),
        ('W/"e"', "full", '"e"', LM),  # weak never matches
        ('"e"', "full", 'W/"e"', LM),
        (LM, "partial", '"e"', LM),
        (date(T0 - 50), "full", '"e"', LM),
        (DATE, "full", '"e"', DATE),  # Last-Modified == Date: weak (§8.8.2.2)
        ("garbage", "full", '"e"', LM),
    ],
)
def test_rfc9110_13_1_5_if_range(if_range: str, kind: str, etag: str, last_modified: str) -> None:
    d = evaluate_range(
        "bytes=0-1", if_range, size=10, etag=etag, last_modified=last_modified, date=DATE
    )
    assert d.kind == kind


def reference(header: str, size: int) -> RangeDecision:
    """Straightforward model of §14.1.2 for well-formed byte ranges."""
    specs = [s.strip() for s in header.removeprefix("bytes=").split(",") if s.strip()]
    out: list[tuple[int, int]] = []
    for s in specs:
        a, b = s.split("-")
        if a == "":
            n = int(b)
            if n > 0:
                out.append((max(0, size - n), size - 1))
        elif int(a) < size:
            out.append((int(a), min(int(b), size - 1) if b else size - 1))
    if size == 0:
        return RangeDecision("full")
    if not out:
        return RangeDecision("unsatisfiable")
    ordered = sorted(out)
    overlap = any(y[0] <= x[1] for x, y in zip(ordered, ordered[1:], strict=False))
    if overlap or len(out) > MAX_RANGES:
        merged: list[tuple[int, int]] = []
        for a2, b2 in ordered:
            if merged and a2 <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b2))
            else:
                merged.append((a2, b2))
        if len(merged) > MAX_RANGES:
            return RangeDecision("full")
        return RangeDecision("partial", tuple(merged))
    return RangeDecision("partial", tuple(out))


@st.composite
def byte_range(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "open", "suffix"]))
    a = draw(st.integers(min_value=0, max_value=300))
    if kind == "suffix":
        return f"-{a}"
    if kind == "open":
        return f"{a}-"
    return f"{a}-{a + draw(st.integers(min_value=0, max_value=300))}"


@given(st.lists(byte_range(), min_size=1, max_size=24), st.integers(min_value=0, max_value=400))
def test_rfc9110_14_1_2_matches_reference(specs: list[str], size: int) -> None:
    header = "bytes=" + ", ".join(specs)
    got = evaluate_range(header, None, size=size, etag=None, last_modified=None, date=None)
    assert got == reference(header, size)
    for first, last in got.ranges:
        assert 0 <= first <= last < size


@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=40)))
def test_rfc9110_14_parser_never_raises(header: str, if_range: str | None) -> None:
    d = evaluate_range(header, if_range, size=100, etag='"e"', last_modified=LM, date=DATE)
    assert d.kind in ("full", "partial", "unsatisfiable")
