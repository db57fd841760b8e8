"""The http1 front: a listening socket of :class:`~edge.fronts.h1_connection.Connection` s.

:class:`H1Front` holds what every connection shares (the engine, the hot
path, settings, timers, the access log) and answers one request through the
engine: ``respond`` turns engine errors into short plain answers (the one broad
catch on the proxy port, as in the aiohttp front), ``serve`` frames the response
for HTTP/1.1 and sends it through ``edge.fronts.answer`` (an error answer if it
fails before its head; its access line either way).

HTTP/2 shares all of it: a connection that negotiated ALPN ``h2``, or whose first
bytes are the HTTP/2 preface on plaintext (``sniff``), is handed over to an
:class:`~edge.fronts.h2.H2Conn` (``hand_over``), whose streams go through ``respond``.

Graceful shutdown (``stop``): stop accepting, close idle connections at once,
let busy ones finish their answer (sent with ``Connection: close``) within the
grace, then abort what is left.

Exhaustion: at most ``max_connections`` client connections are open (edge.fronts.limits);
the node's Stats count open, refused and timed-out connections for /stats and /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left

from multidict import CIMultiDict

from edge.cache.forwarding import Forwarding, trusted_networks
from edge.cache.hot import HotPath
from edge.errors import EdgeError
from edge.fronts.answer import FrontConnection, FrontRequest, Interim, answer
from edge.fronts.h1_connection import Connection
from edge.fronts.h1_dispatch import Dispatching
from edge.fronts.h1_request import ParsedRequest
from edge.fronts.h1_send import Framing, send
from edge.fronts.h1_settings import H1Settings, LoopTimers, Timers
from edge.fronts.h1_wire import DateCache
from edge.fronts.h2 import H2Conn
from edge.fronts.h2_limits import PREFACE, H2Settings
from edge.fronts.interim import InterimWriter
from edge.fronts.limits import connection_limit, refusal
from edge.fronts.plain import as_response, error_answer, internal_answer, log_failure
from edge.fronts.purge import purge_target
from edge.fronts.tls import ServerTls
from edge.models import BytesBody, ProxyResponse, StreamBody
from edge.origin.exchange import InterimSink
from edge.runtime.access_log import AccessLog, AccessRecord
from edge.runtime.node import Node
from edge.telemetry import catalogue as c
from edge.telemetry.outcomes import DISK, HIT, LOCAL, MEMORY, UPSTREAM_OUTCOMES

log = logging.getLogger("edge.proxy")


class H1Front:
    def __init__(
        self,
        node: Node,
        settings: H1Settings | None = None,
        *,
        timers: Timers | None = None,
        tls: ServerTls | None = None,
        access: AccessLog | None = None,
    ) -> None:
        cfg = node.cfg
        self.node = node
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"  # X-Forwarded-Proto, the cache key
        self.engine = node.engine
        self.settings = settings or H1Settings.from_config(cfg)
        self.h2_settings = H2Settings.from_config(cfg)
        # h2c by prior knowledge on plaintext; on TLS, ALPN says (edge.runtime.server)
        self.sniffs = tls is None and self.h2_settings.enabled
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
        # the node's access log (edge serve's, reloaded with it); none: a front in a test
        self.access = access if access is not None else AccessLog()
        self.meters = node.meters
        self._hot_meter = node.meters.hot  # hot-path hits: their latency and bytes
        self.accepted = node.meters.cell(c.CONNECTIONS_ACCEPTED)
        self.dates = DateCache()
        self.connections: set[FrontConnection] = set()
        self.max_connections = connection_limit(cfg)
        self._refusal = refusal(cfg.name)
        self.stats = node.stats
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
        self.meters.watch(self._open_connections)

    def _open_connections(self) -> tuple[tuple[c.Spec, tuple[str, ...], float], ...]:
        return ((c.CONNECTIONS, (), float(len(self.connections))),)

    @property
    def port(self) -> int:
        """The port listened on (the one the kernel chose for port 0)."""
        return self._port

    async def stop(self, grace: float) -> None:
        """Stop accepting; idle connections close now, busy ones within ``grace``."""
        self.stopping = True
        self.meters.unwatch(self._open_connections)
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
        tasks = [t for c in self.connections for t in c.tasks()]
        for conn in list(self.connections):
            conn.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def connection_opened(self, conn: FrontConnection) -> None:
        self.connections.add(conn)
        self.stats.connections_open = len(self.connections)

    def connection_gone(self, conn: FrontConnection) -> None:
        self.connections.discard(conn)
        self.stats.connections_open = len(self.connections)
        if self._all_gone is not None and not self.connections:
            self._all_gone.set()

    def refuse(self, conn: Connection) -> None:
        """Over ``proxy.max_connections``: a 503 with Retry-After, then closed, unread."""
        conn.broken = True
        self.stats.connections_refused += 1
        if conn.transport is not None:
            conn.transport.write(self._refusal)
            conn.transport.close()

    def send_timed_out(self, conn: FrontConnection) -> None:
        self.stats.send_timeouts += 1
        log.info(
            "client %s took no response bytes for %gs (proxy.timeouts.send): disconnected",
            conn.peer,
            self.settings.send,
        )

    # -- HTTP/2 ---------------------------------------------------------------------------
    def negotiated_h2(self, transport: asyncio.BaseTransport) -> bool:
        """Whether TLS agreed on ALPN ``h2`` (RFC 9113 §3.2)."""
        sslobj = transport.get_extra_info("ssl_object") if self.tls is not None else None
        return sslobj is not None and sslobj.selected_alpn_protocol() == "h2"

    def sniff(self, conn: Connection, data: bytes) -> bytes:
        """The bytes for the HTTP/1.1 parser, or b"" while they may still be the HTTP/2
        preface (RFC 9113 §3.3: prior knowledge) or once they were and it took over."""
        early = conn.early + data
        if len(early) < len(PREFACE):
            if PREFACE.startswith(early):
                conn.early = early
                return b""
        elif early.startswith(PREFACE):
            self.hand_over(conn, early)
            return b""
        conn.sniffing = False
        conn.early = b""
        return early

    def hand_over(self, conn: Connection, data: bytes) -> None:
        """The connection speaks HTTP/2 from now on: a new protocol takes its socket."""
        transport = conn.transport
        conn.sniffing = False
        conn.cancel_timer()
        self.connections.discard(conn)
        if transport is None:
            return
        h2 = H2Conn(self, conn.peer, conn.local)
        transport.set_protocol(h2)
        h2.start(transport, data)

    # -- one request ------------------------------------------------------------------------
    def date_line(self) -> bytes:
        return self.dates.line(self.node.clock.now())

    def date_value(self) -> bytes:
        return self.dates.value(self.node.clock.now())

    async def serve(self, conn: Dispatching, req: ParsedRequest) -> bool:
        """Answer ``req`` on ``conn``; whether the connection closes afterwards."""
        close = True

        async def framed(resp: ProxyResponse) -> int:
            nonlocal close
            delimited = (
                isinstance(resp.body, StreamBody)
                and resp.body.length is None
                and req.version == "1.0"
                and req.method != "HEAD"
            )
            close = conn.must_close(req, resp.status, delimited)
            how = Framing(
                head_only=req.method == "HEAD",
                chunked_ok=req.version == "1.1",
                connection=conn.connection_line(req, close),
                date=self.date_line(),
            )
            return await send(conn, resp, how)

        interim = InterimWriter(conn.write) if req.version == "1.1" else None
        if not await answer(self, conn, req, None, interim, framed):
            return True  # the client left
        return close

    async def respond(self, req: FrontRequest, peer: str, interim: Interim | None) -> ProxyResponse:
        """The engine's answer to ``req`` (PURGE here), or an error answer; ``interim``
        gets the origin's 1xx before it and is closed once the answer is made."""
        try:
            if req.method == "PURGE" and self.settings.purge:
                done = await purge_target(
                    self.node, self.scheme, req.host, req.target, req.header_view()
                )
                headers = CIMultiDict(done.headers)
                headers["Content-Type"] = "application/json"
                return ProxyResponse(done.status, headers, BytesBody(done.body))
            preq = req.proxy_request(self.scheme, peer)
            sink: InterimSink | None = interim
            try:
                return await self.engine.handle(preq, req.body, sink)
            finally:
                if interim is not None:
                    interim.close()
        except EdgeError as exc:
            return self.error_response(req, exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            return self.internal_response(req)

    def error_response(self, req: FrontRequest, exc: EdgeError) -> ProxyResponse:
        rid = req.request_id
        log_failure(log, exc, req.method, req.raw_target, rid)
        return as_response(error_answer(exc, self.settings.name, rid))

    def internal_response(self, req: FrontRequest) -> ProxyResponse:
        """A bug: the traceback goes to the log (with the request id), never to the client."""
        rid = req.request_id
        log.exception("internal error on %s %s (request %s)", req.method, req.raw_target, rid)
        return as_response(internal_answer(self.settings.name, rid))

    # -- counted and logged ------------------------------------------------------------------
    def hot_answered(
        self, conn: FrontConnection, req: FrontRequest, size: int, status: str, disk: bool = False
    ) -> None:
        """A hit from the hot path: one clock read, a bucket, a sum and a byte count."""
        seconds = self.timers.time() - req.started_at
        hot = self._hot_meter
        hot.counts[bisect_left(hot.bounds, seconds)] += 1
        hot.sum += seconds
        if disk:
            hot.disk_bytes += size
        else:
            hot.bytes += size
        if self.access.enabled:
            tier = DISK if disk else MEMORY
            self._log(conn, req, 200, size, seconds, HIT, tier, None, None, status)

    def finished(
        self,
        conn: FrontConnection,
        req: FrontRequest,
        status: int,
        size: int,
        cache_status: str,
        resp: ProxyResponse | None = None,
        first_byte: float | None = None,
    ) -> None:
        """Any other answer (or none: status 0, the client left): counted, timed, logged."""
        seconds = self.timers.time() - req.started_at if req.started_at else 0.0
        outcome = resp.outcome if resp is not None else LOCAL
        tier = resp.tier if resp is not None else LOCAL
        upstream = first_byte if outcome in UPSTREAM_OUTCOMES else None
        self.meters.answered(req.method, status, outcome, tier, size, seconds, upstream)
        if self.access.enabled:
            up_status = resp.upstream_status if resp is not None else None
            up_time = resp.upstream_time if resp is not None else None
            self._log(
                conn, req, status, size, seconds, outcome, tier, up_status, up_time, cache_status
            )

    def _log(
        self,
        conn: FrontConnection,
        req: FrontRequest,
        status: int,
        size: int,
        seconds: float,
        outcome: str,
        tier: str,
        upstream_status: int | None,
        upstream_time: float | None,
        cache_status: str,
    ) -> None:
        fields = req.header_view()
        self.access.write(
            AccessRecord(
                client=conn.peer,
                method=req.method,
                target=req.raw_target,
                version=req.version,
                status=status,
                bytes=size,
                duration=seconds,
                cache=outcome,
                tier=tier,
                upstream_status=upstream_status,
                upstream_time=upstream_time,
                request_id=req.request_id,
                cache_status=cache_status,
                host=req.host,
                referer=fields.get("Referer", ""),
                user_agent=fields.get("User-Agent", ""),
            )
        )

    def log_internal(self, exc: BaseException) -> None:
        log.error("internal error while parsing a request", exc_info=exc)
