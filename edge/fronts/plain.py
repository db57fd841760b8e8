"""Short plain-text answers the proxy port makes itself, shared by both fronts.

An edge error before any response header (the origin refused, a loop, a body
over the limit) becomes a few lines of text with this node's ``Cache-Status``
member and ``Via``, and never names a backend address (the message says what
went wrong in words). The http1 front also answers framing errors (RFC 9112
§2.2, §6.3: 400), limits (413/414/431) and timeouts (408) this way.
"""

from __future__ import annotations

from dataclasses import dataclass

from multidict import CIMultiDict

from edge.errors import EdgeError
from edge.models import Headers
from edge.policy.cache_status import cache_status

INTERNAL_TEXT = "internal error in edge; see its log\n"
INTERNAL_DETAIL = "internal-error"


@dataclass(frozen=True, slots=True)
class PlainAnswer:
    """A complete small answer: status, header fields, text body."""

    status: int
    headers: Headers
    text: str

    @property
    def closes(self) -> bool:
        """Whether the connection closes after it (the request may not have been read whole)."""
        return self.status in CLOSING_STATUSES


#: Answers after which the request's remaining bytes cannot be trusted or skipped.
CLOSING_STATUSES = frozenset({400, 408, 413, 414, 431, 505})


def plain_answer(status: int, text: str, name: str, detail: str) -> PlainAnswer:
    headers = CIMultiDict[str]()
    headers["Cache-Status"] = cache_status(name, hit=False, fwd="uri-miss", detail=detail)
    headers["Via"] = f"1.1 {name}"
    headers["Content-Type"] = "text/plain; charset=utf-8"
    return PlainAnswer(status, headers, text)


def error_answer(exc: EdgeError, name: str) -> PlainAnswer:
    return plain_answer(exc.status, f"{exc.message}\n", name, exc.detail)


def internal_answer(name: str) -> PlainAnswer:
    return plain_answer(500, INTERNAL_TEXT, name, INTERNAL_DETAIL)
