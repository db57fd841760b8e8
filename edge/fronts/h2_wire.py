"""HTTP/2 requests and response fields (RFC 9113 §8): what the h2 front reads and writes.

A request's pseudo-header fields map onto what HTTP/1.1 carries in its request line and
Host field (RFC 9113 §8.3.1): ``:authority`` (else ``host``) is the Host, ``:path`` the
target, so an HTTP/2 request and an HTTP/1.1 request for one URL have one cache key.
A malformed request (RFC 9113 §8.1.1: connection-specific fields, ``te`` other than
trailers, uppercase names, misplaced or missing pseudo-fields) is a stream error; the
library's own checks (``h2.utilities.validate_headers``) are run here, per stream, so that
one bad request resets its stream instead of the whole connection.

Response fields are rendered once for the hot path's templates and for every other answer
by :func:`response_fields`: lower-case names, no connection-specific field (§8.2.2),
``content-length`` from the body's length.
"""

from __future__ import annotations

from collections.abc import Iterable

from h2.exceptions import ProtocolError
from h2.utilities import HeaderValidationFlags, validate_headers

from edge.fronts.h1_body import RequestBody
from edge.fronts.h1_request import BodyLimit, fields_view, target_of
from edge.fronts.plain import PlainAnswer, plain_answer
from edge.models import FrozenHeaders, Headers, ProxyRequest
from edge.policy.keys import valid_host
from edge.request_id import request_id_of

Field = tuple[bytes, bytes]

_REQUEST = HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=False, is_push_promise=False
)
_TRAILER = HeaderValidationFlags(
    is_client=False, is_trailer=True, is_response_header=False, is_push_promise=False
)

#: Never written on HTTP/2 (RFC 9113 §8.2.2), and framing the front does itself.
NOT_ON_H2 = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
) | {"content-length"}

_STATUS: dict[int, Field] = {}


class Malformed(Exception):
    """RFC 9113 §8.1.1: the request is malformed; its stream is reset with PROTOCOL_ERROR."""


class H2Request:
    """One request stream's head, as the front and the engine need it."""

    __slots__ = (
        "method",
        "raw_target",
        "target",
        "host",
        "fields",
        "plain",
        "length",
        "max_body",
        "started_at",
        "version",
        "body",
        "_headers",
        "_request_id",
    )

    def __init__(
        self, method: str, path: str, host: str, fields: list[Field], plain: bool, length: int
    ) -> None:
        self.method = method
        self.raw_target = path
        self.target = path
        self.host = host
        self.fields = fields  # regular fields, lower-case names, cookies joined
        self.plain = plain  # none of edge.cache.hot.PLAIN_BLOCKERS: the hot path may answer
        self.length = length  # content-length, -1 when not sent
        self.max_body = 0  # the body's limit, set by refusal_of when it may have one
        self.started_at = 0.0
        self.version = "2"  # for the access log's request line
        self.body: RequestBody | None = None
        self._headers: FrozenHeaders | None = None
        self._request_id = ""

    @property
    def request_id(self) -> str:
        rid = self._request_id
        if not rid:
            rid = self._request_id = request_id_of(self.header_view())
        return rid

    def header_view(self) -> FrozenHeaders:
        headers = self._headers
        if headers is None:
            headers = self._headers = fields_view(self.fields)
        return headers

    def proxy_request(self, scheme: str, client_ip: str) -> ProxyRequest:
        return ProxyRequest(
            method=self.method,
            target=self.target,
            scheme=scheme,
            host=self.host,
            headers=self.header_view(),
            client_ip=client_ip,
            http_version=(2, 0),
            has_body=self.body is not None,
            request_id=self.request_id,
        )


def parse_request(raw: Iterable[Field], blockers: frozenset[bytes]) -> H2Request:
    """The request in ``raw`` (as decoded by HPACK); :class:`Malformed` when it is not one."""
    try:
        checked = list(validate_headers(raw, _REQUEST))
    except ProtocolError as exc:
        raise Malformed(str(exc)) from None
    method = path = authority = host = b""
    fields: list[Field] = []
    plain = True
    length = -1
    for name, value in checked:
        if name[:1] == b":":
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b":authority":
                authority = value
            continue
        if name == b"host":
            host = value
        elif name == b"content-length":
            if not value.isdigit():
                raise Malformed("content-length is not a number")
            length = int(value)
        if plain and name in blockers:
            plain = False
        fields.append((name, value))
    return H2Request(
        method.decode("ascii", "replace"),
        path.decode("latin-1"),
        (authority or host).decode("latin-1").strip(),
        fields,
        plain,
        length,
    )


def check_trailers(raw: Iterable[Field]) -> None:
    """Trailers are read and dropped; a malformed trailer section is still a stream error."""
    try:
        for _ in validate_headers(raw, _TRAILER):
            pass
    except ProtocolError as exc:
        raise Malformed(str(exc)) from None


def refusal_of(
    req: H2Request, name: str, max_body: int, body_limit: BodyLimit | None
) -> PlainAnswer | None:
    """What the HTTP/1.1 front's head checks answer (400, 413), or None; sets the target.

    ``body_limit`` (None for a stream that has no body) gives the request its route's
    limit (``max_body``), of which ``max_body`` (``proxy.max_request_body``) is the default.
    """
    target = target_of(req.method, req.raw_target)  # CONNECT (no :path) is not proxied
    if target is None:
        return plain_answer(400, "invalid request target\n", name, "client-error")
    req.target = target
    if not valid_host(req.host):
        return plain_answer(400, "invalid Host\n", name, "client-error")
    if body_limit is None:
        return None
    limit = req.max_body = body_limit(req.host, req.target, max_body)
    if req.length > limit:
        text = f"request body of {req.length} bytes is over {limit}\n"
        return plain_answer(413, text, name, "request-too-large")
    return None


def status_field(status: int) -> Field:
    found = _STATUS.get(status)
    if found is None:
        found = (b":status", str(status).encode("ascii"))
        if len(_STATUS) < 256:
            _STATUS[status] = found
    return found


def response_fields(
    status: int, headers: Headers, *, length: int | None, date: bytes | None
) -> list[Field]:
    """``:status`` and the fields to send, lower-case; ``date`` added when there is none."""
    out = [status_field(status)]
    for name, value in headers.items():
        lower = name.lower()
        if lower in NOT_ON_H2 or not _token(lower):
            continue
        out.append((lower.encode("latin-1"), _clean(value).encode("latin-1", "replace")))
    if length is not None:
        out.append((b"content-length", str(length).encode("ascii")))
    if date is not None and "Date" not in headers:
        out.append((b"date", date))
    return out


def _clean(value: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        return value.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
    return value.strip(" \t")


_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


def _token(name: str) -> bool:
    """A lower-case field name (RFC 9110 §5.1); anything else is not sent."""
    return bool(name) and all(c in _TCHAR for c in name)
