"""The http1 front: a listening socket of :class:`~edge.fronts.http1.Connection` s.

:class:`H1Front` holds what every connection shares (the engine, the hot
path, settings, timers, the access log) and answers one request through the
engine: ``serve`` turns engine errors into short plain answers (the one broad
catch on the proxy port, as in the aiohttp front), renders the response and
writes its access line.

Graceful shutdown (``stop``): stop accepting, close idle connections at once,
let busy ones finish their answer (sent with ``Connection: close``) within the
grace, then abort what is left.
"""

from __future__ import annotations

import asyncio
import logging

from multidict import CIMultiDict

from edge.cache.forwarding import Forwarding, trusted_networks
from edge.cache.hot import HotPath
from edge.errors import EdgeError
from edge.fronts.access import AccessLog
from edge.fronts.h1_request import ParsedRequest
from edge.fronts.h1_send import Framing, send
from edge.fronts.h1_settings import H1Settings, LoopTimers, Timers
from edge.fronts.h1_wire import DateCache
from edge.fronts.http1 import Connection
from edge.fronts.interim import for_version
from edge.fronts.plain import PlainAnswer, error_answer, internal_answer, log_failure
from edge.fronts.purge import purge_target
from edge.fronts.tls import ServerTls
from edge.models import BytesBody, ProxyResponse, StreamBody
from edge.runtime.node import Node

log = logging.getLogger("edge.proxy")


def _response_of(answer: PlainAnswer) -> ProxyResponse:
    resp = ProxyResponse(
        answer.status, CIMultiDict(answer.headers), BytesBody(answer.text.encode())
    )
    resp.cache_status = answer.headers.get("Cache-Status", "")
    return resp


class H1Front:
    def __init__(
        self,
        node: Node,
        settings: H1Settings | None = None,
        *,
        timers: Timers | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        cfg = node.cfg
        self.node = node
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"  # X-Forwarded-Proto, the cache key
        self.engine = node.engine
        self.settings = settings or H1Settings.from_config(cfg)
        self._timers = timers
        self.hot: HotPath | None = None
        if self.settings.hot_path:
            forwarding = Forwarding(
                name=cfg.name,
                via=cfg.proxy.via,
                strip_tags=cfg.cache.strip_tag_headers,
                targeted_field=cfg.cache.targeted_field,
                trusted=trusted_networks(cfg.proxy.trusted_proxies),
                strip_overrides=cfg.proxy.strip_override_headers,
            )
            self.hot = HotPath(
                node.engine,
                node.store,
                forwarding,
                node.clock,
                name=cfg.name,
                scheme=self.scheme,
                refresh_fraction=cfg.cache.refresh_ahead.fraction,
            )
        self.access = AccessLog()
        self.dates = DateCache()
        self.connections: set[Connection] = set()
        self.stopping = False
        self._server: asyncio.Server | None = None
        self._port = 0
        self._all_gone: asyncio.Event | None = None

    @property
    def timers(self) -> Timers:
        if self._timers is None:
            self._timers = LoopTimers(asyncio.get_running_loop())
        return self._timers

    # -- listening ----------------------------------------------------------------------
    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.timers  # noqa: B018 - bound to this loop before the first connection
        tls = self.tls
        self._server = await loop.create_server(
            lambda: Connection(self),
            host,
            port,
            reuse_port=reuse_port or None,
            backlog=1024,
            ssl=tls.context if tls is not None else None,
            ssl_handshake_timeout=self.settings.head_timeout if tls is not None else None,
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        """The port listened on (the one the kernel chose for port 0)."""
        return self._port

    async def stop(self, grace: float) -> None:
        """Stop accepting; idle connections close now, busy ones within ``grace``."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        self._all_gone = asyncio.Event()
        for conn in list(self.connections):
            conn.shutdown()
        if self.connections:
            try:
                await asyncio.wait_for(self._all_gone.wait(), grace)
            except TimeoutError:
                log.warning(
                    "shutdown: aborting %d connections after the grace", len(self.connections)
                )
        tasks = [c.active for c in self.connections if c.active is not None]
        for conn in list(self.connections):
            conn.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def connection_gone(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if self._all_gone is not None and not self.connections:
            self._all_gone.set()

    # -- one request ------------------------------------------------------------------------
    def date_line(self) -> bytes:
        return self.dates.line(self.node.clock.now())

    async def serve(self, conn: Connection, req: ParsedRequest) -> bool:
        """Answer ``req`` on ``conn``; whether the connection closes afterwards."""
        status, size, upstream, cache_status = 0, 0, None, ""
        close = True
        try:
            resp = await self._respond(conn, req)
            for attempt in (1, 2):
                status, upstream = resp.status, resp.upstream_status
                cache_status = resp.headers.get("Cache-Status", "")
                delimited = (
                    isinstance(resp.body, StreamBody)
                    and resp.body.length is None
                    and req.version == "1.0"
                    and req.method != "HEAD"
                )
                close = conn.must_close(req, status, delimited)
                how = Framing(
                    head_only=req.method == "HEAD",
                    chunked_ok=req.version == "1.1",
                    connection=conn.connection_line(req, close),
                    date=self.date_line(),
                )
                try:
                    size = await send(conn, resp, how)
                    break
                except (ConnectionResetError, asyncio.CancelledError):
                    raise
                except EdgeError as exc:  # before the head: an error answer instead
                    if attempt == 2:
                        raise
                    resp = self._error(req, exc)
                except Exception:
                    if attempt == 2:
                        raise
                    resp = self._internal(req)
        except ConnectionResetError:
            close = True
        finally:
            self.logged(conn, req, status, size, upstream, cache_status)
        return close

    async def _respond(self, conn: Connection, req: ParsedRequest) -> ProxyResponse:
        try:
            if req.method == "PURGE" and self.settings.purge:
                done = await purge_target(
                    self.node, self.scheme, req.host, req.target, req.header_view()
                )
                headers = CIMultiDict(done.headers)
                headers["Content-Type"] = "application/json"
                return ProxyResponse(done.status, headers, BytesBody(done.body))
            # the origin's 1xx go to the client before the final head (edge.fronts.interim)
            preq = req.proxy_request(self.scheme, conn.peer)
            interim = for_version(preq.http_version, conn.write)
            try:
                return await self.engine.handle(preq, req.body, interim)
            finally:
                if interim is not None:
                    interim.close()
        except EdgeError as exc:
            return self._error(req, exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            return self._internal(req)

    def _error(self, req: ParsedRequest, exc: EdgeError) -> ProxyResponse:
        rid = req.request_id
        log_failure(log, exc, req.method, req.raw_target, rid)
        return _response_of(error_answer(exc, self.settings.name, rid))

    def _internal(self, req: ParsedRequest) -> ProxyResponse:
        """A bug: the traceback goes to the log (with the request id), never to the client."""
        rid = req.request_id
        log.exception("internal error on %s %s (request %s)", req.method, req.raw_target, rid)
        return _response_of(internal_answer(self.settings.name, rid))

    def logged(
        self,
        conn: Connection,
        req: ParsedRequest,
        status: int,
        size: int,
        upstream: int | None,
        cache_status: str,
    ) -> None:
        access = self.access
        if access.enabled:
            seconds = self.timers.time() - req.started_at if req.started_at else 0.0
            access.line(
                conn.peer,
                req.method,
                req.raw_target,
                status,
                size,
                seconds,
                upstream,
                cache_status,
            )

    def log_internal(self, exc: BaseException) -> None:
        log.error("internal error while parsing a request", exc_info=exc)
