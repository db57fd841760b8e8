"""The counting core: plain integers and lists, pre-bound where the request path adds to them.

A :class:`Meters` belongs to one node (one worker). Parts get the children they
add to once, when they are built (``meters.cell(SPEC, "label")``,
``meters.histogram(SPEC, "label")``), and then only do ``cell.value += n`` or
``counts[bisect_left(bounds, seconds)] += 1`` per event. Figures that exist
anyway (objects in a tier, open connections, the control plane's state) are not
counted at all: :meth:`Meters.watch` registers a function read at scrape time.

The answered-request figures have one shortcut: the fronts' fresh-memory-hit
path records into :attr:`Meters.hot` (a histogram child with a byte count beside
it) and nothing else; :meth:`Meters.raw` folds it into the request count, the
``hit`` latency, the memory tier's bytes and the ``Stats`` hits.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Callable, Iterable

from edge.runtime.stats import Stats
from edge.telemetry import catalogue as c
from edge.telemetry.catalogue import LATENCY_BOUNDS, Spec
from edge.telemetry.outcomes import DISK, HIT, MEMORY, OUTCOMES, TIERS
from edge.telemetry.raw import RawFigures, Sample

#: Methods counted by name; anything else a client sends is ``other`` (bounded labels).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"})
_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")

#: A scrape-time source: (family, label values, value) for each figure it knows now.
Watch = Callable[[], Iterable[tuple[Spec, tuple[str, ...], float]]]


def status_class(status: int) -> str:
    index = status // 100
    return _CLASSES[index] if 0 <= index < len(_CLASSES) else "0xx"


class Cell:
    """One labelled counter value."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Histogram:
    """One labelled histogram: a count per bucket (the last is +Inf) and the sum.

    ``counts[bisect_left(bounds, v)] += 1`` puts ``v`` in the first bucket whose
    upper bound is >= v, the ``le`` semantics of a Prometheus histogram.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BOUNDS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)


class HotMeter(Histogram):
    """The hot path's figures: its latencies and the body bytes it sent per tier."""

    __slots__ = ("bytes", "disk_bytes")

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0  # from memory
        self.disk_bytes = 0  # disk-tier hits sent as a file


class Meters:
    """Every figure one node (one worker) counts, and the sources read at scrape time."""

    __slots__ = ("stats", "hot", "_cells", "_histograms", "_watches", "_answers")

    def __init__(self, stats: Stats | None = None) -> None:
        self.stats = stats if stats is not None else Stats()
        self.hot = HotMeter()
        self._cells: dict[str, dict[tuple[str, ...], Cell]] = {}
        self._histograms: dict[str, dict[tuple[str, ...], Histogram]] = {}
        self._watches: list[Watch] = []
        self._answers = _Answers(self)

    # -- pre-bound children ----------------------------------------------------------
    def cell(self, spec: Spec, *labels: str) -> Cell:
        """The counter child of ``spec`` for ``labels``, made on first use."""
        _check(spec, labels, "counter")
        children = self._cells.setdefault(spec.name, {})
        found = children.get(labels)
        if found is None:
            found = children[labels] = Cell()
        return found

    def histogram(self, spec: Spec, *labels: str) -> Histogram:
        _check(spec, labels, "histogram")
        children = self._histograms.setdefault(spec.name, {})
        found = children.get(labels)
        if found is None:
            found = children[labels] = Histogram()
        return found

    def add(self, spec: Spec, *labels: str, n: int = 1) -> None:
        """Add to a counter child found by its labels (for paths that are not hot)."""
        self.cell(spec, *labels).value += n

    def watch(self, source: Watch) -> None:
        """Read ``source`` at every scrape (gauges, and counters a part keeps itself)."""
        self._watches.append(source)

    def unwatch(self, source: Watch) -> None:
        if source in self._watches:
            self._watches.remove(source)

    # -- answered requests -------------------------------------------------------------
    def answered(
        self,
        method: str,
        status: int,
        cache: str,
        tier: str,
        size: int,
        seconds: float,
        first_byte: float | None = None,
    ) -> None:
        """One request answered on the proxy port (not through the hot path)."""
        self._answers.record(method, status, cache, tier, size, seconds, first_byte)

    # -- the figures, raw ---------------------------------------------------------------
    def raw(self) -> RawFigures:
        """This worker's figures as plain data (what the leader merges, what a scrape shows)."""
        hot = self.hot
        hot_count = hot.count
        stats = self.stats.as_dict()
        stats["requests"] += hot_count
        stats["hits"] += hot_count
        stats["bytes_from_cache"] += hot.bytes + hot.disk_bytes
        stats["tasks"] = _tasks_now()
        counters: dict[str, dict[tuple[str, ...], float]] = {
            name: {labels: float(cell.value) for labels, cell in children.items()}
            for name, children in self._cells.items()
        }
        histograms: dict[str, dict[tuple[str, ...], tuple[list[int], float]]] = {
            name: {labels: (list(h.counts), h.sum) for labels, h in children.items()}
            for name, children in self._histograms.items()
        }
        if hot_count:
            requests = counters.setdefault(c.REQUESTS.name, {})
            key = ("GET", "2xx", HIT)
            requests[key] = requests.get(key, 0.0) + hot_count
            served = counters.setdefault(c.SERVED_BYTES.name, {})
            served[(MEMORY,)] = served.get((MEMORY,), 0.0) + hot.bytes
            served[(DISK,)] = served.get((DISK,), 0.0) + hot.disk_bytes
            durations = histograms.setdefault(c.REQUEST_SECONDS.name, {})
            counts, total = durations.get((HIT,), ([0] * len(hot.counts), 0.0))
            durations[(HIT,)] = (
                [a + b for a, b in zip(counts, hot.counts, strict=True)],
                total + hot.sum,
            )
        gauges: dict[str, dict[tuple[str, ...], float]] = {}
        for source in self._watches:
            for spec, labels, value in source():
                into = counters if spec.kind == "counter" else gauges
                family = into.setdefault(spec.name, {})
                family[labels] = family.get(labels, 0.0) + value
        return RawFigures(
            stats=stats,
            counters=_samples(counters),
            gauges=_samples(gauges),
            histograms={
                name: [Sample(list(k), 0.0, counts, total) for k, (counts, total) in fam.items()]
                for name, fam in histograms.items()
            },
            bounds=list(LATENCY_BOUNDS),
        )


def _tasks_now() -> int:
    """The asyncio tasks alive in this process (0 outside a loop): a leak shows in /stats."""
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:
        return 0


class _Answers:
    """The answered-request children, bound per outcome and tier when the node starts."""

    __slots__ = ("_requests", "_durations", "_first_byte", "_served", "_meters")

    def __init__(self, meters: Meters) -> None:
        self._meters = meters
        self._requests: dict[tuple[str, str, str], Cell] = {}
        self._durations = {o: meters.histogram(c.REQUEST_SECONDS, o) for o in OUTCOMES}
        self._first_byte: dict[str, Histogram] = {}
        self._served = {t: meters.cell(c.SERVED_BYTES, t) for t in TIERS}

    def record(
        self,
        method: str,
        status: int,
        cache: str,
        tier: str,
        size: int,
        seconds: float,
        first_byte: float | None,
    ) -> None:
        key = (method if method in METHODS else "other", status_class(status), cache)
        cell = self._requests.get(key)
        if cell is None:
            cell = self._requests[key] = self._meters.cell(c.REQUESTS, *key)
        cell.value += 1
        duration = self._durations.get(cache)
        if duration is not None:
            duration.observe(seconds)
        if first_byte is not None:
            fb = self._first_byte.get(cache)
            if fb is None:
                fb = self._first_byte[cache] = self._meters.histogram(c.FIRST_BYTE_SECONDS, cache)
            fb.observe(first_byte)
        if size:
            served = self._served.get(tier)
            if served is not None:
                served.value += size


def _check(spec: Spec, labels: tuple[str, ...], kind: str) -> None:
    if spec.kind != kind:
        raise TypeError(f"{spec.name} is a {spec.kind}, not a {kind}")
    if len(labels) != len(spec.labels):
        raise ValueError(f"{spec.name} takes labels {spec.labels}, got {labels}")


def _samples(families: dict[str, dict[tuple[str, ...], float]]) -> dict[str, list[Sample]]:
    return {
        name: [Sample(list(labels), value) for labels, value in fam.items()]
        for name, fam in families.items()
    }
