"""The request flow's states: frozen values, one per step (see :mod:`edge.cache.flow`).

msgspec Structs rather than dataclasses: a hit creates several of them, and a
frozen Struct costs a fraction of a frozen dataclass to build.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec

from edge.cache.deliver import Outcome, Source
from edge.cache.routes import Route
from edge.models import Entry, ProxyRequest, ProxyResponse
from edge.origin.client import InterimSink
from edge.policy.decide import LookupDecision
from edge.policy.request import RequestFacts


class Ask(msgspec.Struct, frozen=True):
    """One client request as every step sees it.

    ``interim``: where the origin's 1xx responses go (the front writes them to the client
    before the final head, RFC 9110 §15.2), for a pass and for the fill this request starts.
    """

    req: ProxyRequest
    facts: RequestFacts
    key: str
    route: Route  # where it goes and how it is cached (edge.cache.routes), chosen once
    body: AsyncIterator[bytes] | None
    interim: InterimSink | None = None


# -- the states ------------------------------------------------------------------
class Lookup(msgspec.Struct, frozen=True):
    ask: Ask


class Probe(msgspec.Struct, frozen=True):
    """Memory alone could not say: ask the whole store for the key's variants."""

    ask: Ask


class Serve(msgspec.Struct, frozen=True):
    """Answer from a stored entry (a hit, a stale serve, a freshened entry)."""

    ask: Ask
    entry: Entry
    outcome: Outcome
    decision: LookupDecision


class OpenBody(msgspec.Struct, frozen=True):
    """The answer needs the body of an entry that is not in memory."""

    ask: Ask
    entry: Entry
    outcome: Outcome
    decision: LookupDecision


class ServeStale(msgspec.Struct, frozen=True):
    """RFC 5861 §3: serve the stale entry while one background fill revalidates it."""

    ask: Ask
    entry: Entry
    decision: LookupDecision


class Fetch(msgspec.Struct, frozen=True):
    """A miss (``stale`` None) or a revalidation, through a fill."""

    ask: Ask
    decision: LookupDecision
    stale: Entry | None


class HeadRefresh(msgspec.Struct, frozen=True):
    """A HEAD that must validate ``entry``: sent upstream as HEAD (RFC 9111 §4.3.5)."""

    ask: Ask
    entry: Entry
    decision: LookupDecision


class AwaitFill(msgspec.Struct, frozen=True):
    """A fill's response arrived before this request, which may not reuse it as it is:
    wait until it is stored, then look it up again (and validate it, RFC 9111 §4.3)."""

    ask: Ask
    finished: asyncio.Event


class StaleOnError(msgspec.Struct, frozen=True):
    """RFC 5861 §4, RFC 9111 §4.2.4: the origin failed; the stale entry may answer."""

    ask: Ask
    entry: Entry
    decision: LookupDecision
    status: int | None


class ServePart(msgspec.Struct, frozen=True):
    """Answer a Range request from a stored 206 whose parts hold it (RFC 9111 §3.3):
    bytes ``first..last`` at body ``offset``; ``first`` None answers 416."""

    ask: Ask
    entry: Entry
    decision: LookupDecision
    first: int | None
    last: int
    offset: int


class FetchPart(msgspec.Struct, frozen=True):
    """A Range request the store cannot answer, sent upstream as a range request, or a
    full request that a stored beginning lets complete with ``Range: bytes=N-``
    (RFC 9111 §3.4); ``part`` is the stored 206, if any."""

    ask: Ask
    decision: LookupDecision
    part: Entry | None


class Pass(msgspec.Struct, frozen=True):
    ask: Ask
    fwd: str
    detail: str | None


class Forward(msgspec.Struct, frozen=True):
    """A method the cache does not answer; unsafe ones invalidate (RFC 9111 §4.4)."""

    ask: Ask


class Deliver(msgspec.Struct, frozen=True):
    ask: Ask
    source: Source
    outcome: Outcome


class Done(msgspec.Struct, frozen=True):
    response: ProxyResponse


Step = (
    Lookup
    | Probe
    | Serve
    | OpenBody
    | ServeStale
    | Fetch
    | AwaitFill
    | HeadRefresh
    | StaleOnError
    | ServePart
    | FetchPart
    | Pass
    | Forward
    | Deliver
    | Done
)
