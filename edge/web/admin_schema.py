"""The admin API's request and answer bodies (msgspec Structs).

The same Structs decode requests (unknown fields are errors), encode answers
and generate the OpenAPI document, so the three cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

MAX_BODY = 1 << 20
MAX_ITEMS = 10_000
MAX_LIMIT = 1000
REALM = 'Bearer realm="edge-admin"'

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
Items = Annotated[list[Text], msgspec.Meta(max_length=MAX_ITEMS)]


# -- request and answer bodies ------------------------------------------------------
class PurgeBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    urls: Items = []
    prefixes: Items = []
    tags: Items = []
    all: bool = False
    soft: bool = False
    local: bool = False  # this node only: not sent to the cluster
    wait: bool = False  # answer once every known node applied it (bounded wait)


class PurgeAnswer(msgspec.Struct, kw_only=True):
    purged: int
    soft: bool
    nodes: dict[str, bool]


class VersionBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    prefix: Annotated[str, msgspec.Meta(min_length=1, max_length=2048, pattern="^/[^?#]*$")]
    wait: bool = False  # answer once every known node applied it (bounded wait)


class VersionAnswer(msgspec.Struct, kw_only=True):
    prefix: str
    version: int
    nodes: dict[str, bool]


class VersionsAnswer(msgspec.Struct, kw_only=True):
    versions: dict[str, int]


class TierUse(msgspec.Struct, kw_only=True):
    objects: int = 0
    bytes: int = 0


class Latency(msgspec.Struct, kw_only=True):
    """One latency histogram: bucket counts (``latency_buckets`` bounds, then +Inf)."""

    count: int
    sum: float  # seconds
    counts: list[int]
    p50: float | None = None  # seconds, interpolated in the buckets
    p90: float | None = None
    p99: float | None = None


class StatsAnswer(msgspec.Struct, kw_only=True):
    name: str
    requests: int = 0
    hits: int = 0
    misses: int = 0
    stale: int = 0
    revalidated: int = 0
    collapsed: int = 0
    passes: int = 0
    stored: int = 0
    origin_requests: int = 0
    origin_errors: int = 0
    relayed: int = 0
    invalidations: int = 0
    bytes_from_cache: int = 0
    refresh_ahead: int = 0
    refresh_ahead_freshened: int = 0
    refresh_ahead_replaced: int = 0
    refresh_ahead_failed: int = 0
    connections_open: int = 0  # client connections on the proxy port now
    connections_refused: int = 0  # over proxy.max_connections
    send_timeouts: int = 0  # clients that took no bytes for proxy.timeouts.send
    head_timeouts: int = 0  # request heads not in within proxy.timeouts.head
    tasks: int = 0  # asyncio tasks alive now, every worker added up (a leak grows it)
    hit_ratio: float
    tiers: dict[str, TierUse]
    store: dict[str, int | float | bool | str]
    cluster: dict[str, Any] = {}
    workers: int = 1  # worker processes whose figures these are
    # origin pools (each server's health and counts, as this worker sees them) and routes
    routing: dict[str, Any] = {}
    # requests answered on the proxy port by cache outcome (edge_requests_total's cache label)
    outcomes: dict[str, int] = {}
    # request duration by cache outcome, and "all"; bounds in seconds, without +Inf
    latency_buckets: list[float] = []
    latency: dict[str, Latency] = {}
    upstream_errors: dict[str, int] = {}  # by kind, every upstream added up


class EntryInfo(msgspec.Struct, kw_only=True):
    url: str
    key: str
    variant: str
    status: int
    age: float
    ttl: float
    size: int
    tier: str | None
    tags: list[str]
    invalidated: bool


class EntriesAnswer(msgspec.Struct, kw_only=True):
    entries: list[EntryInfo]
    truncated: bool


class Health(msgspec.Struct, kw_only=True):
    status: str
    name: str


class ErrorAnswer(msgspec.Struct, kw_only=True):
    error: str


# -- cache warming (edge.runtime.warm) ----------------------------------------------
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
HeaderName = Annotated[str, msgspec.Meta(pattern="^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")]
HeaderValue = Annotated[str, msgspec.Meta(max_length=1024, pattern="^[\\t\\x20-\\x7e]*$")]


class WarmBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    urls: Annotated[list[Url], msgspec.Meta(min_length=1, max_length=MAX_ITEMS)]
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=64)] = 8
    # the Host the requests carry (default: the absolute URLs' own, else the proxy address)
    host: Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9.:\\[\\]-]{1,255}$")] | None = None
    # extra request fields, e.g. Accept-Encoding to warm that variant
    headers: Annotated[dict[HeaderName, HeaderValue], msgspec.Meta(max_length=32)] = {}


class WarmStarted(msgspec.Struct, kw_only=True):
    job: str
    total: int
    host: str


class WarmFailure(msgspec.Struct, kw_only=True):
    url: str
    error: str


class WarmProgress(msgspec.Struct, kw_only=True):
    job: str
    state: str  # running | done | cancelled
    host: str
    total: int
    done: int
    stored: int
    already_cached: int
    uncacheable: int
    failed: int
    concurrency: int
    started_at: float
    finished_at: float | None
    errors: list[WarmFailure]  # the first failures, with their reason
