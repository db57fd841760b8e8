"""Quantiles from histogram buckets, interpolated inside a bucket as Prometheus's
``histogram_quantile`` does (the dashboard's JavaScript does the same)."""

from __future__ import annotations

from collections.abc import Sequence


def quantile(counts: Sequence[int], bounds: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram; None when it is empty.

    ``counts`` has one more slot than ``bounds`` (the +Inf bucket); a rank in
    that bucket answers the last finite bound, as Prometheus does.
    """
    total = sum(counts)
    if not total or not bounds:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i >= len(bounds):
                return bounds[-1]
            lower = bounds[i - 1] if i else 0.0
            return lower + (bounds[i] - lower) * ((rank - seen) / n)
        seen += n
    return bounds[-1]
