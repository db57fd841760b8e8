"""A route's cache rules as data: what an operator says beside what HTTP says.

Pure: no clock, no I/O. A route carries one :class:`CacheRules` (in its
:class:`~edge.policy.options.PolicyOptions`) and one :class:`QueryRule`; the policy
applies them where the RFC 9111 decision is made, so freshening, storing and the
hit path see the same numbers:

- lifetime (RFC 9111 §4.2.1, §4.2.2), :func:`ruled_lifetime`: ``ttl`` replaces the
  lifetime of a response a heuristic could cache (the statuses of RFC 9110 §15.1,
  or ``public``); ``default_ttl`` gives one to such a response without explicit
  freshness, instead of the Last-Modified heuristic; ``max_ttl`` caps every lifetime.
  No rule makes a ``no-store``, ``private`` or Set-Cookie response storable, nor
  lifts ``no-cache`` or ``must-revalidate``;
- RFC 5861 allowances: ``stale_while_revalidate`` / ``stale_if_error`` for responses
  that do not give their own;
- requests: ``ignore_client_no_cache`` drops a client's ``no-cache`` and ``max-age``
  (and ``Pragma: no-cache``, RFC 9111 §5.4), so a browser's reload is answered from the
  cache (§5.2.1 lets a cache ignore request directives; Varnish and nginx do);
- ``never_cache``: nothing is stored or looked up;
- the key: :class:`QueryRule` keeps, sorts or ignores query parameters; ``vary``
  adds request fields to the secondary key as if the origin's Vary named them (§4.1).

Each decision a rule made is named for ``Cache-Status`` (RFC 9211 ``detail``):
``rule-ttl``, ``rule-default-ttl``, ``rule-max-ttl``, ``rule-never-cache``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge.policy.cache_control import EMPTY, CacheControl

__all__ = [
    "CacheRules",
    "QueryRule",
    "RULE_DEFAULT_TTL",
    "RULE_MAX_TTL",
    "RULE_NEVER_CACHE",
    "RULE_TTL",
    "ignoring_client_no_cache",
    "ruled_lifetime",
    "with_extra_vary",
]

RULE_TTL = "rule-ttl"
RULE_DEFAULT_TTL = "rule-default-ttl"
RULE_MAX_TTL = "rule-max-ttl"
RULE_NEVER_CACHE = "rule-never-cache"


@dataclass(frozen=True, slots=True)
class CacheRules:
    """One route's rules; ``None`` leaves the matter to the response (RFC 9111)."""

    ttl: float | None = None
    default_ttl: float | None = None
    max_ttl: float | None = None
    stale_while_revalidate: float | None = None
    stale_if_error: float | None = None
    ignore_client_no_cache: bool = False
    never_cache: bool = False
    vary: tuple[str, ...] = ()  # lower-case request field names


def ruled_lifetime(
    lifetime: float, explicit: bool, eligible: bool, rules: CacheRules
) -> tuple[float, str] | None:
    """The lifetime the rules give, and the rule that decided; None when none did.

    ``lifetime`` and ``explicit`` are what RFC 9111 §4.2.1 gave (a heuristic lifetime
    is not explicit); ``eligible``: the response is of a status a heuristic could cache
    (RFC 9110 §15.1) or ``public`` (§4.2.2), the only ones a ttl rule lengthens.
    """
    decided: tuple[float, str] | None = None
    if eligible and rules.ttl is not None:
        decided = (rules.ttl, RULE_TTL)
    elif eligible and not explicit and rules.default_ttl is not None:
        decided = (rules.default_ttl, RULE_DEFAULT_TTL)
    cap = rules.max_ttl
    if cap is not None and (decided[0] if decided is not None else lifetime) > cap:
        decided = (cap, RULE_MAX_TTL)
    return decided


def ignoring_client_no_cache(cc: CacheControl) -> CacheControl:
    """Request directives without ``no-cache`` and ``max-age`` (and so without Pragma's
    no-cache, which :func:`edge.policy.request.analyze_request` reads as no-cache)."""
    if not cc.no_cache and cc.max_age is None:
        return cc
    out = replace(cc, no_cache=False, max_age=None)
    return EMPTY if out == EMPTY else out  # the hit path's shortcut tests ``is EMPTY``


def with_extra_vary(vary: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    """The response's Vary names (sorted, lower-case) and a route's extra ones."""
    if not extra or vary == ("*",):
        return vary
    return tuple(sorted({*vary, *extra}))


@dataclass(frozen=True, slots=True)
class QueryRule:
    """How a target's query enters the cache key (never what the origin is sent).

    ``mode``: ``keep`` (as sent), ``sort`` (parameters ordered by name; repeated names
    keep their order) or ``ignore`` (no query in the key). ``drop`` names parameters
    left out, ``keep`` (when not empty) the only ones kept; a pattern ending in ``*``
    matches a prefix (``utm_*``). Parameters are compared as sent, not decoded, and
    passed on byte for byte: only their selection and order change.
    """

    mode: str = "keep"
    drop: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()

    @property
    def identity(self) -> bool:
        """The key target is always the target as sent."""
        return self.mode == "keep" and not self.drop and not self.keep

    def key_target(self, target: str) -> str:
        """The target as the cache key holds it (``/a?b=1&utm_source=x`` -> ``/a?b=1``)."""
        path, sep, query = target.partition("?")
        if not sep or self.identity:
            return target
        if self.mode == "ignore":
            return path
        params = [p for p in query.split("&") if p and self._kept(p.partition("=")[0])]
        if self.mode == "sort":
            params.sort(key=lambda p: p.partition("=")[0])
        return f"{path}?{'&'.join(params)}" if params else path

    def _kept(self, name: str) -> bool:
        if self.keep and not _matches(name, self.keep):
            return False
        return not (self.drop and _matches(name, self.drop))


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if pattern.endswith("*"):
            if name.startswith(pattern[:-1]):
                return True
        elif name == pattern:
            return True
    return False
