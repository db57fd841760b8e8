"""Short plain-text answers the proxy port makes itself, shared by both fronts.

An edge error before any response header (the origin refused, a loop, a body
over the limit) becomes a few lines of text with this node's ``Cache-Status``
member, ``Via`` and the request's ``X-Request-Id``. What a client reads never
describes a backend: an error on edge's side of the request (the origin, a
worker, the control plane, a bug) is only its status line and the request id,
and the details go to edge's log, once, under the same id
(:func:`log_failure`). A refusal of the client's own request (400, 413, 508,
only-if-cached) says what was wrong with it, since that is about the client's
bytes. The http1 front also answers framing errors (RFC 9112 §2.2, §6.3: 400),
limits (413/414/431) and timeouts (408) this way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus

from multidict import CIMultiDict

from edge.errors import ClientRequestError, EdgeError, OnlyIfCachedMiss, UpstreamError
from edge.models import BytesBody, Headers, ProxyResponse
from edge.policy.cache_status import cache_status
from edge.request_id import HEADER as REQUEST_ID
from edge.request_id import new_request_id

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


def status_line(status: int) -> str:
    """``502 Bad Gateway``: the status and its standard phrase (RFC 9110 §15)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def plain_answer(
    status: int, text: str, name: str, detail: str, request_id: str | None = None
) -> PlainAnswer:
    """``text`` (ending in a newline) and the request id line; the id is made if not given."""
    rid = request_id or new_request_id()
    headers = CIMultiDict[str]()
    headers["Cache-Status"] = cache_status(name, hit=False, fwd="uri-miss", detail=detail)
    headers["Via"] = f"1.1 {name}"
    headers["Content-Type"] = "text/plain; charset=utf-8"
    headers[REQUEST_ID] = rid
    return PlainAnswer(status, headers, f"{text}request id: {rid}\n")


def as_response(answer: PlainAnswer) -> ProxyResponse:
    """The answer as the engine's response type, for a front to render."""
    resp = ProxyResponse(
        answer.status, CIMultiDict(answer.headers), BytesBody(answer.text.encode())
    )
    resp.cache_status = answer.headers.get("Cache-Status", "")
    return resp


def tells_client(exc: EdgeError) -> bool:
    """Whether the error's message is about the client's request (so the client may read it)."""
    return isinstance(exc, ClientRequestError | OnlyIfCachedMiss)


def error_answer(exc: EdgeError, name: str, request_id: str | None = None) -> PlainAnswer:
    text = f"{exc.message}\n" if tells_client(exc) else f"{status_line(exc.status)}\n"
    return plain_answer(exc.status, text, name, exc.detail, request_id)


def internal_answer(name: str, request_id: str | None = None) -> PlainAnswer:
    return plain_answer(500, f"{status_line(500)}\n", name, INTERNAL_DETAIL, request_id)


def log_failure(
    log: logging.Logger, exc: EdgeError, method: str, target: str, request_id: str
) -> None:
    """The one log line for an expected error answered to a client (no traceback).

    The origin's failures are warnings (edge answered as it should); other errors
    on edge's side (a worker, the control plane, the version table) are errors.
    A refused client request is not logged here: its access log line says enough.
    """
    if tells_client(exc):
        return
    level = logging.WARNING if isinstance(exc, UpstreamError) else logging.ERROR
    log.log(
        level,
        "%d %s %s (request %s): %s",
        exc.status,
        method,
        target,
        request_id,
        exc.message,
        extra={"request_id": request_id},
    )
