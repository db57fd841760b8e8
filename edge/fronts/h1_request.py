"""One parsed request head on the http1 front, and the checks llhttp leaves to us."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from multidict import CIMultiDict, CIMultiDictProxy

from edge.errors import ClientRequestError
from edge.fronts.h1_body import RequestBody
from edge.fronts.plain import PlainAnswer, plain_answer
from edge.models import FrozenHeaders, ProxyRequest
from edge.policy.keys import valid_host
from edge.request_id import HEADER as REQUEST_ID
from edge.request_id import request_id_of

if TYPE_CHECKING:
    from edge.fronts.h1_settings import H1Settings


#: (host, target, proxy.max_request_body) -> the request's body limit: its route's
#: ``max_request_body`` or the global one (``Routing.body_limit``; every front asks it)
BodyLimit = Callable[[str, str, int], int]


class RequestTimeout(ClientRequestError):
    """The client stopped sending its request (RFC 9110 §15.5.9)."""

    status = 408


_EMPTY = CIMultiDictProxy(CIMultiDict[str]())


def fields_view(fields: Sequence[tuple[bytes, bytes]]) -> FrozenHeaders:
    """Raw (name, value) byte pairs as a frozen case-insensitive multidict (both fronts)."""
    if not fields:
        return _EMPTY
    md = CIMultiDict[str]((n.decode("latin-1"), v.decode("latin-1")) for n, v in fields)
    return CIMultiDictProxy(md)


def target_of(method: str, raw: str) -> str | None:
    """The target as the engine sees it (path and query), or None when invalid.

    RFC 9112 §3.2: origin-form as sent; absolute-form keeps its path and query
    (§3.2.2; the Host field stays the authority, as the aiohttp front has it);
    asterisk-form only for OPTIONS (§3.2.4). Authority-form (CONNECT) is not proxied.
    """
    if raw.startswith("/"):
        return raw
    if raw == "*":
        return raw if method == "OPTIONS" else None
    lower = raw[:8].lower()
    if lower.startswith(("http://", "https://")):
        rest = raw.split("://", 1)[1]
        slash = rest.find("/")
        query = rest.find("?")
        if slash == -1 or (query != -1 and query < slash):
            return "/" + rest[query:] if query != -1 else "/"
        return rest[slash:]
    return None


class ParsedRequest:
    """A request head as parsed, its body (if any) and where it is in its life."""

    __slots__ = (
        "method",
        "raw_target",
        "target",
        "version",
        "keep_alive",
        "raw_headers",
        "plain",
        "started_at",
        "host",
        "has_body",
        "max_body",
        "expect_continue",
        "body",
        "started",
        "refused",
        "_headers",
        "_request_id",
    )

    def __init__(
        self,
        *,
        method: str,
        raw_target: str,
        version: str,
        keep_alive: bool,
        raw_headers: list[tuple[bytes, bytes]],
        plain: bool,
        started_at: float,
    ) -> None:
        self.method = method
        self.raw_target = raw_target
        self.target = raw_target
        self.version = version
        self.keep_alive = keep_alive
        self.raw_headers = raw_headers
        self.plain = plain
        self.started_at = started_at
        self.host = ""
        self.has_body = False
        self.max_body = 0  # the body's limit, set by check() when it has one
        self.expect_continue = False
        self.body: RequestBody | None = None
        self.started = False  # handed to the engine
        self.refused: PlainAnswer | None = None  # a refusal to send in this request's turn
        self._headers: FrozenHeaders | None = None
        self._request_id = ""

    @property
    def request_id(self) -> str:
        """This request's id (:mod:`edge.request_id`), made when first asked for.

        The engine's requests ask for it; a hot-path hit never does unless the
        access log wants it, so a memory hit pays nothing for it.
        """
        rid = self._request_id
        if not rid:
            rid = self._request_id = request_id_of(self.header_view())
        return rid

    @classmethod
    def refusal(cls, answer: PlainAnswer, method: str = "-", target: str = "-") -> ParsedRequest:
        req = cls(
            method=method,
            raw_target=target,
            version="1.1",
            keep_alive=False,
            raw_headers=[],
            plain=False,
            started_at=0.0,
        )
        req.refused = answer
        req._request_id = answer.headers.get(REQUEST_ID, "")
        return req

    def header_view(self) -> FrozenHeaders:
        """The fields as a case-insensitive multidict (built once, when first asked for)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = fields_view(self.raw_headers)
        return headers

    def check(self, settings: H1Settings, local: str, body_limit: BodyLimit) -> PlainAnswer | None:
        """What llhttp does not check: version, target, Host, length limit, Expect.

        A request with a body gets its limit (``max_body``) from its route, through
        ``body_limit``, before any of the body is read.
        """
        name = settings.name
        if self.version not in ("1.1", "1.0"):
            return plain_answer(505, "HTTP version not supported\n", name, "client-error")
        target = target_of(self.method, self.raw_target)
        if target is None:
            return plain_answer(400, "invalid request target\n", name, "client-error")
        self.target = target
        hosts = [v for n, v in self.raw_headers if n.lower() == b"host"]
        if len(hosts) > 1 or (not hosts and self.version == "1.1"):
            # RFC 9112 §3.2: exactly one Host in HTTP/1.1
            return plain_answer(400, "a request needs exactly one Host\n", name, "client-error")
        self.host = hosts[0].decode("latin-1").strip() if hosts else local
        if not valid_host(self.host):
            return plain_answer(400, "invalid Host\n", name, "client-error")
        if self.plain:
            return None  # none of Content-Length, Transfer-Encoding, Expect
        length: int | None = None
        for n, v in self.raw_headers:
            lname = n.lower()
            if lname == b"content-length":
                length = int(v.strip())  # llhttp accepted exactly one, all digits
                self.has_body = self.has_body or length > 0
            elif lname == b"transfer-encoding":
                self.has_body = True  # llhttp accepts only a final chunked
            elif lname == b"expect":
                if v.strip().lower() != b"100-continue":
                    return plain_answer(
                        417, "only 100-continue is expected\n", name, "client-error"
                    )
                self.expect_continue = self.version == "1.1"
        if self.has_body:
            self.max_body = body_limit(self.host, target, settings.max_body)
        if length is not None and length > self.max_body:
            return plain_answer(
                413,
                f"request body of {length} bytes is over {self.max_body}\n",
                name,
                "request-too-large",
            )
        return None

    def proxy_request(self, scheme: str, client_ip: str) -> ProxyRequest:
        major, _, minor = self.version.partition(".")
        return ProxyRequest(
            method=self.method,
            target=self.target,
            scheme=scheme,
            host=self.host,
            headers=self.header_view(),
            client_ip=client_ip,
            http_version=(int(major), int(minor)),
            has_body=self.has_body,
            request_id=self.request_id,
        )
