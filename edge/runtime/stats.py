"""Counters the engine keeps; the admin app turns them into /stats and /metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class Stats:
    requests: int = 0
    hits: int = 0
    misses: int = 0
    stale: int = 0  # served stale (while revalidating, or on error)
    revalidated: int = 0  # 304 from the origin freshened a stored entry
    collapsed: int = 0  # requests that joined another request's origin fetch
    passes: int = 0
    stored: int = 0
    origin_requests: int = 0
    origin_errors: int = 0
    # fills another worker (the key's owner) answered: it counted their origin requests
    relayed: int = 0
    invalidations: int = 0
    bytes_from_cache: int = 0
    # edge compression: bodies coded, bytes into and out of the codecs, and body bytes
    # not sent because a client got a coded variant (each fill once, then every hit)
    compressed: int = 0
    compression_in_bytes: int = 0
    compression_out_bytes: int = 0
    compression_saved_bytes: int = 0
    # preload prefetch: links fetched, failed, dropped over cache.prefetch.max_in_flight
    prefetched: int = 0
    prefetch_failed: int = 0
    prefetch_dropped: int = 0
    # refresh-ahead (edge.cache.refresh): background refreshes started, and how they ended
    refresh_ahead: int = 0
    refresh_ahead_freshened: int = 0  # a 304 freshened the entry
    refresh_ahead_replaced: int = 0  # a new response replaced it
    refresh_ahead_failed: int = 0  # the origin failed or answered something not storable
    # cache warming (edge.runtime.warm): URLs warmed, by how each ended
    warmed_stored: int = 0
    warmed_cached: int = 0  # already cached (a hit, or revalidated)
    warmed_uncacheable: int = 0
    warmed_failed: int = 0
    # client connections on the proxy port (edge.fronts.limits): open now (a gauge), refused
    # over proxy.max_connections, closed by proxy.timeouts.send and by proxy.timeouts.head
    connections_open: int = 0
    connections_refused: int = 0
    send_timeouts: int = 0
    head_timeouts: int = 0

    def count_warmed(self, outcome: str) -> None:
        match outcome:
            case "stored":
                self.warmed_stored += 1
            case "cached":
                self.warmed_cached += 1
            case "uncacheable":
                self.warmed_uncacheable += 1
            case _:
                self.warmed_failed += 1

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def hit_ratio(self) -> float:
        return hit_ratio(self.hits, self.misses, self.stale)


def hit_ratio(hits: int, misses: int, stale: int) -> float:
    """(hits + stale) / (hits + stale + misses); 0 before the first lookup."""
    looked = hits + misses + stale
    return (hits + stale) / looked if looked else 0.0
