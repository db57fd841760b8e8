"""Plain values passed between the front, the engine, the policy and the stores.

The engine never sees aiohttp's ``Request``/``Response``: a front turns its
request into a :class:`ProxyRequest` and renders a :class:`ProxyResponse`.
Headers are ``multidict.CIMultiDict`` (case-insensitive, repeated fields kept).
Stored responses are :class:`Entry` msgspec Structs: frozen, compact on disk
(msgpack), changed with ``msgspec.structs.replace``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

Headers = CIMultiDict[str]
FrozenHeaders = CIMultiDictProxy[str]
HeaderPairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """A client request as the engine sees it."""

    method: str
    target: str  # path and query, exactly as the client sent them ("/a/b?x=1")
    scheme: str  # "http" or "https" as seen by the client
    host: str  # the Host the client asked for ("example.com:8080")
    headers: FrozenHeaders
    client_ip: str
    http_version: tuple[int, int] = (1, 1)
    has_body: bool = False
    # edge.request_id: the client's valid X-Request-Id or a generated one ("" for requests
    # edge makes itself); sent to the origin, returned on errors and on answers from it
    request_id: str = ""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.target}"


class Entry(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """A stored response: metadata only; the body lives in a store tier.

    The cache-control facts the lookup needs are computed once, at store time
    and on every freshening (``edge.policy``), so a hit reads numbers instead
    of parsing headers again.
    """

    key: str  # primary cache key (includes the prefix version)
    variant: str  # secondary key from Vary ("" when the response has no Vary)
    url: str  # absolute URL, for listing and purge by prefix
    method: str  # GET (HEAD responses are not stored as bodies)
    status: int
    reason: str
    headers: HeaderPairs  # stored header fields, hop-by-hop removed
    vary: tuple[str, ...]  # lower-cased field names the response varies on ("*" never matches)
    request_time: float  # wall clock when the request that produced it was sent
    response_time: float  # wall clock when its header arrived
    initial_age: float  # corrected_initial_age, RFC 9111 §4.2.3
    lifetime: float  # freshness lifetime in seconds, RFC 9111 §4.2.1
    heuristic: bool = False  # lifetime came from §4.2.2 heuristics
    stale_while_revalidate: float = 0.0  # RFC 5861 §3
    stale_if_error: float = 0.0  # RFC 5861 §4
    must_revalidate: bool = False  # must-revalidate, proxy-revalidate or s-maxage: no stale use
    no_cache: bool = False  # unqualified no-cache: revalidate before every use
    immutable: bool = False  # RFC 8246
    etag: str | None = None
    last_modified: str | None = None
    body_size: int = 0
    tags: tuple[str, ...] = ()
    invalidated: bool = False  # soft purge: never fresh again, may still serve stale
    stored_at: float = 0.0
    # raw value of this node's RFC 9213 targeted field (not kept in headers),
    # so that a 304 without it recomputes the same lifetime (edge.policy)
    targeted: str | None = None
    # edge compression (edge.policy.coding): the codings offered when the edge negotiated
    # this response's Accept-Encoding (empty: it did not; then Vary works as the origin
    # said), the coding of this body ("" identity), and for a coded body the origin's
    # ETag (revalidation asks with it) and the identity size (bytes saved, /metrics)
    codings: tuple[str, ...] = ()
    coding: str = ""
    source_etag: str | None = None
    source_size: int = 0
    # a stored 206 (RFC 9111 §3.3, edge.policy.partial): the inclusive byte ranges of the
    # representation its body holds, in order, and the representation's whole length
    parts: tuple[tuple[int, int], ...] = ()
    complete_length: int = 0


class BodySource:
    """Where a response body comes from; a front renders each kind its own way."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class BytesBody(BodySource):
    data: bytes


@dataclass(slots=True)
class StreamBody(BodySource):
    """Chunks as they arrive. ``length`` is the exact size when known.

    The iterator raises :class:`edge.errors.UpstreamBodyError` if the body
    breaks off; the front must then abort the client connection rather than
    end the response cleanly.
    """

    chunks: AsyncIterator[bytes]
    length: int | None = None


class ClosingChunks:
    """Chunks that run ``on_close`` exactly once, when exhausted or ``aclose()``d.

    Unlike a generator's ``finally``, this also runs when iteration never began
    (the client went away before the body started).
    """

    __slots__ = ("_gen", "_on_close")

    def __init__(self, gen: AsyncGenerator[bytes, None], on_close: Callable[[], None]) -> None:
        self._gen = gen
        self._on_close: Callable[[], None] | None = on_close

    def __aiter__(self) -> ClosingChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._gen.__anext__()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        await self._gen.aclose()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()


@dataclass(slots=True)
class FileBody(BodySource):
    """A region of an open file (served with sendfile where possible).

    The file is already open, so a concurrent eviction that unlinks it does
    not disturb this read. The front closes it when done.
    """

    file: BinaryIO
    offset: int
    length: int


@dataclass(slots=True)
class ProxyResponse:
    """A response as the engine returns it."""

    status: int
    headers: Headers
    body: BodySource = field(default_factory=lambda: BytesBody(b""))
    reason: str = ""
    # filled in by deliver, for the access log and the request figures (edge.telemetry)
    upstream_status: int | None = None
    cache_status: str = ""
    outcome: str = "local"  # the cache outcome (edge.telemetry.outcomes); local: made by edge
    tier: str = "local"  # where the body came from: memory, disk, spool, origin, local
    upstream_time: float | None = None  # seconds to the upstream's response head, if asked
