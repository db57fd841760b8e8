"""What a fill ends in, and the fill itself as its waiters see it (see :mod:`edge.cache.fills`).

- :class:`Stored`: a storable response; its body streams into a
  :class:`~edge.cache.spool.Spool` that every waiting client reads;
- :class:`Freshened`: a 304 that freshened the stored entry (RFC 9111 §4.3.4);
- :class:`Uncacheable`: a response the cache must not share (followers go to the
  origin themselves); the client that started the fill gets it as :class:`PassThrough`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from multidict import CIMultiDict

from edge.cache.spool import Spool
from edge.errors import EdgeError
from edge.models import Entry
from edge.origin.client import OriginResponse


@dataclass(frozen=True, slots=True)
class Stored:
    entry: Entry  # body_size is the announced length; the commit sets the real one
    status: int
    reason: str
    headers: CIMultiDict[str]
    spool: Spool
    detail: str
    upstream_time: float | None = None  # seconds to the origin's head (the access log)


@dataclass(frozen=True, slots=True)
class Freshened:
    entry: Entry


@dataclass(frozen=True, slots=True)
class Uncacheable:
    status: int
    detail: str


@dataclass(frozen=True, slots=True)
class PassThrough:
    """The uncacheable response itself, for the one client that started the fill."""

    response: OriginResponse
    detail: str


Shared = Stored | Freshened | Uncacheable
Own = Stored | Freshened | PassThrough


@dataclass(frozen=True, slots=True)
class Fill:
    key: str  # the primary cache key the response is stored under
    slot: str  # what concurrent requests collapse on: the key, or key + one Vary variant
    shared: asyncio.Future[Shared]  # what followers see
    own: asyncio.Future[Own]  # what the client that started it sees
    background: bool
    finished: asyncio.Event  # set once the fill has ended (stored, freshened, failed)

    @property
    def pending(self) -> bool:
        """Its response has not arrived yet: a request joining now is as if sent with it."""
        return not self.shared.done()


def stored_of(fill: Fill) -> Stored | None:
    """The fill's shared outcome when it is a response still being stored, else None."""
    if fill.pending or fill.shared.cancelled() or fill.shared.exception() is not None:
        return None
    result = fill.shared.result()
    if not isinstance(result, Stored) or result.spool.error is not None:
        return None
    return result


def fail(fill: Fill, exc: EdgeError) -> None:
    """Resolve both futures with ``exc``, marked retrieved (a fill may have no reader)."""
    for future in (fill.shared, fill.own):
        if not future.done():
            future.set_exception(exc)
            future.exception()


async def outcome_of(fill: Fill, collapsed: bool) -> Shared | Own:
    """Wait for the fill's outcome; a client that leaves never breaks the fill.

    The starter's :class:`PassThrough` holds an open origin response: if the
    starter goes away before taking it, it is closed here.
    """
    future: asyncio.Future[Shared] | asyncio.Future[Own] = fill.shared if collapsed else fill.own
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if not collapsed:
            fill.own.add_done_callback(close_unclaimed)
        raise


def close_unclaimed(future: asyncio.Future[Own]) -> None:
    if not future.cancelled() and future.exception() is None:
        result = future.result()
        if isinstance(result, PassThrough):
            result.response.close()
