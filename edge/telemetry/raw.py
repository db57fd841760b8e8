"""A worker's figures as plain data, and the leader's merge of every worker's.

With ``--workers N`` the leader worker asks each other worker for its
:class:`RawFigures` (over their private sockets) and adds them up label by
label: counters and summed gauges value by value, histograms bucket by bucket
with their sums. Families only the leader knows (the control plane's state)
are its own, not a sum. ``/stats`` and ``/metrics`` both answer from the merge.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from edge.telemetry.catalogue import BY_NAME


class Sample(msgspec.Struct, array_like=True):
    labels: list[str]
    value: float = 0.0
    counts: list[int] | None = None  # a histogram's buckets (the last is +Inf)
    sum: float = 0.0


class RawFigures(msgspec.Struct, kw_only=True):
    stats: dict[str, int]  # edge.runtime.stats.Stats fields
    counters: dict[str, list[Sample]]
    gauges: dict[str, list[Sample]]
    histograms: dict[str, list[Sample]]
    bounds: list[float]  # the histograms' upper bounds, without +Inf
    workers: int = 1


def encode(figures: RawFigures) -> bytes:
    return msgspec.json.encode(figures)


def decode(data: bytes) -> RawFigures:
    return msgspec.json.decode(data, type=RawFigures)


def merge(first: RawFigures, others: Iterable[RawFigures]) -> RawFigures:
    """``first`` (the leader's) plus ``others``, label by label."""
    stats = dict(first.stats)
    counters = _copy(first.counters)
    gauges = _copy(first.gauges)
    histograms = _copy(first.histograms)
    workers = first.workers
    for other in others:
        workers += other.workers
        for name, value in other.stats.items():
            stats[name] = stats.get(name, 0) + value
        _add(counters, other.counters)
        _add(gauges, {n: s for n, s in other.gauges.items() if _summed(n)})
        if other.bounds == first.bounds:
            _add(histograms, other.histograms)
    return RawFigures(
        stats=stats,
        counters=counters,
        gauges=gauges,
        histograms=histograms,
        bounds=list(first.bounds),
        workers=workers,
    )


def _summed(name: str) -> bool:
    spec = BY_NAME.get(name)
    return spec is None or spec.summed


def _copy(families: dict[str, list[Sample]]) -> dict[str, list[Sample]]:
    return {
        name: [
            Sample(list(s.labels), s.value, list(s.counts) if s.counts else None, s.sum)
            for s in samples
        ]
        for name, samples in families.items()
    }


def _add(into: dict[str, list[Sample]], more: dict[str, list[Sample]]) -> None:
    for name, samples in more.items():
        family = into.setdefault(name, [])
        index = {tuple(s.labels): s for s in family}
        for s in samples:
            mine = index.get(tuple(s.labels))
            if mine is None:
                copy = Sample(list(s.labels), s.value, list(s.counts) if s.counts else None, s.sum)
                family.append(copy)
                index[tuple(s.labels)] = copy
                continue
            mine.value += s.value
            mine.sum += s.sum
            if mine.counts is not None and s.counts is not None:
                mine.counts = [a + b for a, b in zip(mine.counts, s.counts, strict=True)]
