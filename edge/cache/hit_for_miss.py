"""Hit-for-miss: keys whose last answer could not be shared, remembered for a while.

Requests for such a key neither wait for another's fill nor probe the disk tier
(a thread hop per request): each goes to the origin alone, as Varnish's
hit-for-miss objects make them (``cache.hit_for_miss`` seconds, on the monotonic clock).
"""

from __future__ import annotations

from edge.clock import Clock

_MAX_KEYS = 100_000


class HitForMiss:
    def __init__(self, clock: Clock, ttl: float) -> None:
        self._clock = clock
        self._ttl = ttl
        self._until: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self._until)

    def holds(self, key: str) -> bool:
        """Whether ``key``'s last answer could not be shared, within the ttl."""
        until = self._until.get(key)
        if until is None:
            return False
        if until > self._clock.monotonic():
            return True
        del self._until[key]
        return False

    def mark(self, key: str) -> None:
        now = self._clock.monotonic()
        if len(self._until) >= _MAX_KEYS:
            self._until = {k: t for k, t in self._until.items() if t > now}
            if len(self._until) >= _MAX_KEYS:
                self._until.clear()
        self._until[key] = now + self._ttl
