"""The cache outcome and the tier of one answer: the label values of the request figures.

Outcomes (the ``cache`` label): ``hit`` (fresh from the cache), ``stale`` (stale while
revalidating, on error, or allowed by max-stale), ``revalidated`` (a 304 from upstream
freshened the stored entry), ``miss`` (fetched, whether stored or not), ``collapsed``
(joined another request's fetch), ``pass`` (sent upstream without caching: request
directives, other methods, uncacheable requests), and ``local`` (answered by edge
itself: refusals, errors, PURGE, ``OPTIONS *``).

Tiers (the ``tier`` label of served bytes): ``memory``, ``disk``, ``spool`` (a hit read
from a fill as it arrives), ``origin`` (upstream's bytes passed on), ``local``.
"""

from __future__ import annotations

from typing import Protocol

HIT, STALE, REVALIDATED, MISS, COLLAPSED, PASS, LOCAL = (
    "hit",
    "stale",
    "revalidated",
    "miss",
    "collapsed",
    "pass",
    "local",
)
OUTCOMES = (HIT, STALE, REVALIDATED, MISS, COLLAPSED, PASS, LOCAL)

MEMORY, DISK, SPOOL, ORIGIN = "memory", "disk", "spool", "origin"
TIERS = (MEMORY, DISK, SPOOL, ORIGIN, LOCAL)

#: Outcomes whose answer came from upstream this time: their time to first byte is kept.
UPSTREAM_OUTCOMES = frozenset({MISS, COLLAPSED, REVALIDATED, PASS})

_STALE_DETAILS = frozenset({"stale-while-revalidate", "max-stale", "stale-if-error"})
_MISS_FWD = frozenset({"uri-miss", "vary-miss", "partial"})


class CacheOutcome(Protocol):
    """The fields of ``edge.cache.deliver.Outcome`` (what Cache-Status says)."""

    @property
    def hit(self) -> bool: ...
    @property
    def fwd(self) -> str | None: ...
    @property
    def fwd_status(self) -> int | None: ...
    @property
    def stored(self) -> bool: ...
    @property
    def collapsed(self) -> bool: ...
    @property
    def detail(self) -> str | None: ...


def outcome_of(out: CacheOutcome) -> str:
    """The ``cache`` label of an answer with this Cache-Status outcome."""
    if out.hit:
        return STALE if out.detail in _STALE_DETAILS else HIT
    if out.detail == "stale-if-error":
        return STALE
    if out.collapsed:
        return COLLAPSED
    if out.fwd_status == 304 and out.fwd is not None:
        return REVALIDATED
    if out.stored or out.fwd in _MISS_FWD:
        return MISS
    return PASS
