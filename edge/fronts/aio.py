"""The aiohttp front: turns aiohttp requests into ``ProxyRequest`` and renders ``ProxyResponse``.

Thin by design: no caching logic lives here, so a faster front can replace it
and pass the same tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from multidict import CIMultiDict

from edge.cache.flow import RequestFlow
from edge.errors import EdgeError, RequestTooLarge
from edge.fronts.aio_send import BODY_BYTES, SendGuard, render
from edge.fronts.h1_settings import Timers
from edge.fronts.interim import for_version
from edge.fronts.plain import (
    CLOSING_STATUSES,
    PlainAnswer,
    error_answer,
    internal_answer,
    log_failure,
    plain_answer,
)
from edge.models import ProxyRequest, ProxyResponse
from edge.policy.keys import valid_host
from edge.request_id import request_id_of
from edge.runtime.access_log import AccessLog, AccessRecord
from edge.runtime.stats import Stats
from edge.telemetry.core import Meters
from edge.telemetry.outcomes import LOCAL, UPSTREAM_OUTCOMES

log = logging.getLogger("edge.proxy")

PurgeHandler = Callable[[web.BaseRequest], Awaitable[web.Response]]
RESPONSE = web.RequestKey("edge_response", ProxyResponse)  # for the access log
REQUEST_ID = web.RequestKey("edge_request_id", str)  # edge.request_id, for the access log
FIRST_BYTE = web.RequestKey("edge_first_byte", float)  # seconds until the engine answered


def to_proxy_request(request: web.BaseRequest) -> ProxyRequest:
    target = request.raw_path
    if not target.startswith("/"):
        # absolute-form (RFC 9112 §3.2.2) or asterisk-form: keep path and query only
        url = request.rel_url
        target = url.raw_path_qs if target != "*" else "*"
    peer = request.remote or ""
    version = request.version
    return ProxyRequest(
        method=request.method,
        target=target,
        scheme=request.scheme,
        host=request.host,
        headers=request.headers,
        client_ip=peer,
        http_version=(version.major, version.minor),
        has_body=request.body_exists,
        request_id=request_id_of(request.headers),
    )


def _refused(request: web.BaseRequest) -> str | None:
    """What the http1 front refuses in its head checks and aiohttp lets through, or None.

    CONNECT (edge is not a tunnel, nor a forward proxy), the asterisk form for anything
    but OPTIONS (RFC 9112 §3.2.4) and an invalid Host (RFC 9112 §3.2: 400).
    """
    if request.method == "CONNECT":
        return "CONNECT is not supported\n"
    if request.raw_path == "*" and request.method != "OPTIONS":
        return "invalid request target\n"
    hosts = request.headers.getall("Host", ())
    if len(hosts) > 1:
        return "a request needs exactly one Host\n"
    if hosts and not valid_host(hosts[0].strip()):
        return "invalid Host\n"
    return None


async def _request_body(request: web.BaseRequest, limit: int) -> AsyncIterator[bytes]:
    """The upload, chunk by chunk, refusing more than ``limit`` bytes."""
    seen = 0
    async for chunk in request.content.iter_any():
        seen += len(chunk)
        if seen > limit:
            raise RequestTooLarge(f"request body over {limit} bytes")
        yield chunk


class ProxyFront:
    """The proxy port's request handler, for aiohttp's low-level ``web.Server``.

    No router and no middleware chain: every request, whatever its method
    and target, goes to the engine, and edge errors become short plain-text
    answers here (the one broad catch on the proxy port).
    """

    __slots__ = ("engine", "name", "max_body", "send", "purge", "meters", "access")

    def __init__(
        self,
        engine: RequestFlow,
        *,
        name: str,
        max_request_body: int,
        meters: Meters,
        stats: Stats,
        send_timeout: float = 60.0,
        timers: Timers | None = None,
        purge: PurgeHandler | None = None,
        access: AccessLog | None = None,
    ) -> None:
        self.engine = engine
        self.name = name
        self.max_body = max_request_body
        # proxy.timeouts.send: a response write waiting that long aborts (edge.fronts.aio_send)
        self.send = SendGuard(send_timeout, stats, timers)
        self.purge = purge
        self.meters = meters
        self.access = access if access is not None else AccessLog()

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await self._handle(request, asyncio.get_running_loop().time())
        except EdgeError as exc:
            rid = _request_id(request)
            log_failure(log, exc, request.method, request.raw_path, rid)
            return _plain(error_answer(exc, self.name, rid))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            rid = _request_id(request)
            log.exception(
                "internal error on %s %s (request %s)", request.method, request.raw_path, rid
            )
            return _plain(internal_answer(self.name, rid))

    async def _handle(self, request: web.BaseRequest, started: float) -> web.StreamResponse:
        refusal = _refused(request)
        if refusal is not None:
            # the request's remaining bytes (a tunnel's, a body's) are not read: close after
            rid = _request_id(request)
            return _plain(plain_answer(400, refusal, self.name, "client-error", rid))
        if request.method == "PURGE" and self.purge is not None:
            return await self.purge(request)
        preq = to_proxy_request(request)
        request[REQUEST_ID] = preq.request_id
        body = None
        if request.body_exists:  # its route's limit (routes[].max_request_body), else the global
            limit = self.engine.routing.body_limit(preq.host, preq.target, self.max_body)
            length = request.content_length
            if length is not None and length > limit:
                raise RequestTooLarge(f"request body of {length} bytes is over {limit}")
            body = _request_body(request, limit)
        # the origin's 1xx go out on the transport before the final head (edge.fronts.interim)
        interim = for_version(preq.http_version, lambda data: _write_raw(request, data))
        try:
            resp = await self.engine.handle(preq, body, interim)
        finally:
            if interim is not None:
                interim.close()
        request[RESPONSE] = resp
        request[FIRST_BYTE] = asyncio.get_running_loop().time() - started
        return await render(request, resp, self.send)

    def answered(
        self, request: web.BaseRequest, response: web.StreamResponse, seconds: float
    ) -> None:
        """Count, time and log one finished request (called by aiohttp's access logger)."""
        proxied = request.get(RESPONSE)
        outcome = proxied.outcome if proxied is not None else LOCAL
        tier = proxied.tier if proxied is not None else LOCAL
        first_byte = request.get(FIRST_BYTE) if outcome in UPSTREAM_OUTCOMES else None
        size = request.get(BODY_BYTES)
        if size is None:  # an answer of edge's own: its whole body went out
            size = response.content_length or 0
        self.meters.answered(
            request.method, response.status, outcome, tier, size, seconds, first_byte
        )
        if not self.access.enabled:
            return
        version = request.version
        headers = request.headers
        self.access.write(
            AccessRecord(
                client=request.remote or "",
                method=request.method,
                target=request.raw_path,
                version=f"{version.major}.{version.minor}",
                status=response.status,
                bytes=size,
                duration=seconds,
                cache=outcome,
                tier=tier,
                upstream_status=proxied.upstream_status if proxied is not None else None,
                upstream_time=proxied.upstream_time if proxied is not None else None,
                request_id=_request_id(request),
                cache_status=response.headers.get("Cache-Status", ""),
                host=request.host,
                referer=headers.get("Referer", ""),
                user_agent=headers.get("User-Agent", ""),
            )
        )

    def access_logger(self) -> type[AbstractAccessLogger]:
        """aiohttp's access logger class, calling :meth:`answered` once a response is out."""
        front = self

        class Answered(AbstractAccessLogger):
            def log(
                self, request: web.BaseRequest, response: web.StreamResponse, time: float
            ) -> None:
                front.answered(request, response, time)

            @property
            def enabled(self) -> bool:
                return True

        return Answered


def _write_raw(request: web.BaseRequest, data: bytes) -> None:
    """Bytes straight on the client's transport, ahead of the response aiohttp will prepare."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.write(data)


def _request_id(request: web.BaseRequest) -> str:
    """The id the request was given, or one for a request refused before it had one."""
    rid = request.get(REQUEST_ID)
    if rid is None:
        rid = request[REQUEST_ID] = request_id_of(request.headers)
    return rid


def _plain(answer: PlainAnswer) -> web.Response:
    headers = CIMultiDict(answer.headers)
    headers.popall("Content-Type", None)  # web.Response(text=...) sets it
    response = web.Response(status=answer.status, text=answer.text, headers=headers)
    if answer.status in CLOSING_STATUSES:
        response.force_close()  # the rest of the request (an upload, a tunnel) is not read
    return response
