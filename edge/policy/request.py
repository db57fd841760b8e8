"""What the policy needs to know about a client request, computed once."""

from __future__ import annotations

from dataclasses import dataclass

from edge.policy.cache_control import EMPTY, CacheControl, parse_cache_control
from edge.policy.headers import AnyHeaders, combined, split_list


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The cache-relevant facts of a request (RFC 9111 §5.2.1, RFC 9110 §13)."""

    method: str
    cc: CacheControl
    authorization: bool
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_match: str | None = None
    if_unmodified_since: str | None = None
    range: str | None = None
    if_range: str | None = None

    def answered_upstream(self) -> RequestFacts:
        """These facts once the origin has evaluated the preconditions and Range itself.

        A response relayed from a forwarded request must not be judged against
        them a second time (RFC 9110 §13.2.1: the server evaluates them).
        """
        return RequestFacts(self.method, self.cc, self.authorization)

    @property
    def conditional(self) -> bool:
        return (
            self.if_none_match is not None
            or self.if_modified_since is not None
            or self.if_match is not None
            or self.if_unmodified_since is not None
        )


_RELEVANT = (
    "cache-control",
    "pragma",
    "authorization",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "range",
    "if-range",
)


def analyze_request(method: str, headers: AnyHeaders) -> RequestFacts:
    """Extract the request's directives and preconditions.

    RFC 9111 §5.4: without a Cache-Control field, ``Pragma: no-cache`` has
    the effect of ``Cache-Control: no-cache``. Cheap when the request carries
    none of the fields: a handful of dictionary probes.
    """
    if not any(name in headers for name in _RELEVANT):
        plain = _PLAIN.get(method)
        if plain is not None:
            return plain
    cc_lines = headers.getall("cache-control", None)
    if cc_lines:
        cc = parse_cache_control(cc_lines)
    else:
        pragma = headers.getall("pragma", None)
        cc = EMPTY
        if pragma and any(
            m.strip().lower() == "no-cache" for line in pragma for m in split_list(line)
        ):
            cc = CacheControl(no_cache=True)
    return RequestFacts(
        method=method.upper(),
        cc=cc,
        authorization="authorization" in headers,
        if_none_match=combined(headers, "if-none-match"),
        if_modified_since=headers.get("if-modified-since"),
        if_match=combined(headers, "if-match"),
        if_unmodified_since=headers.get("if-unmodified-since"),
        range=headers.get("range"),
        if_range=headers.get("if-range"),
    )


#: Facts of requests that carry none of the fields above: shared, they never change.
_PLAIN = {m: RequestFacts(method=m, cc=EMPTY, authorization=False) for m in ("GET", "HEAD")}
